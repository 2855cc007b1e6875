// WebSocket faults against cell-control-plane from a raw-socket peer: each bad frame, bad
// fragment, oversized message or stalled handshake ends only that connection, with the right
// close code and within a bounded time, while other routers keep being served.

#include <gtest/gtest.h>

#include <signal.h>

#include <functional>
#include <ostream>

#include "cell/controlplane/protocol.hpp"
#include "harness.hpp"
#include "raw_websocket.hpp"
#include "ws_client.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint16_t protocol_error = 1002;
constexpr std::uint16_t invalid_payload = 1007;
constexpr std::uint16_t too_big = 1009;

// Short, so that the bounded waits are measurable; every bound checked below allows for a
// loaded machine.
constexpr auto handshake_timeout = 600ms;

// A config the control plane accepts; its endpoints are never contacted.
Json routing_config(const std::string& version) {
    return Json{{"version", version},
                {"routingTable", {{"acme", "tier1"}}},
                {"cellEndpoints", {{"tier1", "http://127.0.0.1:9001"}}},
                {"defaultPlacement", "tier1"}};
}

// cell-control-plane on an ephemeral loopback port, with a short handshake timeout.
class ControlPlane {
public:
    explicit ControlPlane(const Json& config = routing_config("1.0.0")) {
        write_config(config);
        const std::vector<std::string> argv{CELL_CONTROL_PLANE_BINARY, "--config", config_path().string(),
                                            "--port", "0", "--listen", "127.0.0.1", "--poll-interval", "100ms",
                                            "--handshake-timeout", "600ms"};
        process_ = std::make_unique<Process>(argv, dir_.path(), "control-plane");
        port_ = control_plane_port_of(*process_);
    }
    ~ControlPlane() {
        EXPECT_TRUE(process_->running()) << "control plane died: " << process_->stderr_text();
        process_->send_signal(SIGTERM);
        EXPECT_EQ(process_->wait_exit(10s), 0);
    }

    unsigned short port() const { return port_; }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/connect"; }
    Process& process() { return *process_; }
    void write_config(const Json& config) const { write_file_atomically(config_path(), config.dump()); }
    Json status() const { return request(port_, "GET", "/status").json(); }

private:
    std::filesystem::path config_path() const { return dir_.file("routing.json"); }

    TempDir dir_;
    std::unique_ptr<Process> process_;
    unsigned short port_ = 0;
};

// A raw router connection that completed the upgrade and took the snapshot sent on connect.
std::unique_ptr<RawWebSocket> connect_raw(unsigned short port) {
    auto socket = std::make_unique<RawWebSocket>(port);
    EXPECT_EQ(socket->handshake(), 101) << socket->response_head();
    const auto snapshot = socket->read_frame(5s);
    EXPECT_TRUE(snapshot.has_value());
    if (snapshot) {
        EXPECT_EQ(snapshot->opcode, ws_opcode::text);
        EXPECT_FALSE(snapshot->masked) << "a server must not mask its frames";
    }
    return socket;
}

FrameHeader frame(std::uint8_t opcode, bool fin = true) { return FrameHeader{.fin = fin, .opcode = opcode}; }

struct Fault {
    std::string name;
    std::function<void(RawFrameSocket&)> inject;
    std::uint16_t expected_code;
};

// gtest names a failing case by this rather than by the object's bytes.
void PrintTo(const Fault& fault, std::ostream* out) { *out << fault.name; }

const std::string hello = R"({"type":"hello","node_id":"raw","version":"1.0.0"})";

std::vector<Fault> faults() {
    using controlplane::max_router_message_bytes;
    return {
        {"MessageOverLimit",
         [](RawFrameSocket& s) {
             // Announced only: the limit must hold before the payload is buffered.
             auto header = frame(ws_opcode::text);
             header.announced_length = max_router_message_bytes + 1;
             s.send_frame(header, std::string(1000, 'x'));
         },
         too_big},
        {"FragmentedMessageOverLimit",
         [](RawFrameSocket& s) {
             const std::string half(max_router_message_bytes / 2 + 1024, 'x');
             s.send_frame(frame(ws_opcode::text, false), half);
             s.send_frame(frame(ws_opcode::continuation, true), half);
         },
         too_big},
        {"ReservedOpcode3", [](RawFrameSocket& s) { s.send_frame(frame(0x3), hello); }, protocol_error},
        {"ReservedControlOpcode11", [](RawFrameSocket& s) { s.send_frame(frame(0xB), ""); }, protocol_error},
        {"Rsv1WithoutExtension",
         [](RawFrameSocket& s) { s.send_frame(FrameHeader{.rsv = 4, .opcode = ws_opcode::text}, hello); },
         protocol_error},
        {"Rsv2", [](RawFrameSocket& s) { s.send_frame(FrameHeader{.rsv = 2, .opcode = ws_opcode::text}, hello); },
         protocol_error},
        {"Rsv3", [](RawFrameSocket& s) { s.send_frame(FrameHeader{.rsv = 1, .opcode = ws_opcode::ping}, ""); },
         protocol_error},
        {"OversizedPing", [](RawFrameSocket& s) { s.send_frame(frame(ws_opcode::ping), std::string(126, 'p')); },
         protocol_error},
        {"FragmentedPing", [](RawFrameSocket& s) { s.send_frame(frame(ws_opcode::ping, false), "p"); },
         protocol_error},
        {"FragmentedClose",
         [](RawFrameSocket& s) { s.send_frame(frame(ws_opcode::close, false), close_payload(1000)); },
         protocol_error},
        {"UnmaskedClientFrame",
         [](RawFrameSocket& s) { s.send_frame(FrameHeader{.opcode = ws_opcode::text, .masked = false}, hello); },
         protocol_error},
        {"ContinuationWithoutStart",
         [](RawFrameSocket& s) { s.send_frame(frame(ws_opcode::continuation), hello); }, protocol_error},
        {"NewMessageInsideFragmentedOne",
         [](RawFrameSocket& s) {
             s.send_frame(frame(ws_opcode::text, false), hello.substr(0, 10));
             s.send_frame(frame(ws_opcode::text), hello);
         },
         protocol_error},
        {"InvalidUtf8Text", [](RawFrameSocket& s) { s.send_frame(frame(ws_opcode::text), "{\"type\":\"\xC3\x28\"}"); },
         invalid_payload},
        {"CloseWithReservedCode",
         [](RawFrameSocket& s) { s.send_frame(frame(ws_opcode::close), close_payload(1005)); }, protocol_error},
        {"CloseWithOneBytePayload", [](RawFrameSocket& s) { s.send_frame(frame(ws_opcode::close), "x"); },
         protocol_error},
    };
}

class ControlPlaneFault : public ::testing::TestWithParam<Fault> {};

// The faulty connection gets the close code RFC 6455 names for the fault, and is closed even
// though the peer never answers the close frame; a router beside it is not disturbed.
TEST_P(ControlPlaneFault, ClosesOnlyThatConnection) {
    const Fault& fault = GetParam();
    ControlPlane cp;
    WsClient neighbour(cp.port());
    ASSERT_TRUE(neighbour.wait_for_version("1.0.0").has_value());

    auto raw = connect_raw(cp.port());
    fault.inject(*raw);
    const auto started = Clock::now();
    const CloseOutcome outcome = raw->wait_for_close(10s);
    const auto took = Clock::now() - started;
    ASSERT_TRUE(outcome.code.has_value()) << "no close frame for " << fault.name;
    EXPECT_EQ(*outcome.code, fault.expected_code);
    EXPECT_TRUE(outcome.connection_closed) << "the control plane waits forever for the answering close frame";
    EXPECT_LT(took, handshake_timeout + 3s);

    const auto line = cp.process().wait_for_line([](const Json& l) {
        return l.value("event", "") == "router_disconnected" && l.value("reason", "") == "protocol_violation";
    });
    EXPECT_TRUE(line.has_value()) << cp.process().stdout_text();

    cp.write_config(routing_config("2.0.0"));
    EXPECT_TRUE(neighbour.wait_for_version("2.0.0").has_value());
    EXPECT_TRUE(cp.process().running());
}

INSTANTIATE_TEST_SUITE_P(Faults, ControlPlaneFault, ::testing::ValuesIn(faults()),
                         [](const auto& info) { return info.param.name; });

// A message in fragments, with a ping between them, is one message: the hello is taken.
TEST(ControlPlaneFaults, FragmentedMessageWithInterleavedPingIsAccepted) {
    ControlPlane cp;
    auto raw = connect_raw(cp.port());
    ASSERT_TRUE(raw->send_frame(frame(ws_opcode::text, false), hello.substr(0, 12)));
    ASSERT_TRUE(raw->send_frame(frame(ws_opcode::ping), "between"));
    ASSERT_TRUE(raw->send_frame(frame(ws_opcode::continuation, false), hello.substr(12, 20)));
    ASSERT_TRUE(raw->send_frame(frame(ws_opcode::continuation, true), hello.substr(32)));
    const auto pong = raw->read_frame(5s);
    ASSERT_TRUE(pong.has_value());
    EXPECT_EQ(pong->opcode, ws_opcode::pong);
    EXPECT_EQ(pong->payload, "between");
    ASSERT_TRUE(eventually([&] {
        const auto routers = cp.status()["routers"];
        return routers.size() == 1 && routers[0]["id"] == "raw" && routers[0]["hello"] == true;
    })) << cp.status().dump();
}

// A peer that connects and never completes the upgrade (silent, or stopping mid-request, or
// dripping bytes) is dropped after the handshake timeout; the others are served meanwhile.
TEST(ControlPlaneFaults, StalledHandshakesAreDroppedAfterTheTimeout) {
    ControlPlane cp;
    WsClient neighbour(cp.port());
    ASSERT_TRUE(neighbour.wait_for_version("1.0.0").has_value());

    RawWebSocket silent(cp.port());
    RawWebSocket half(cp.port());
    ASSERT_TRUE(half.send_raw("GET /connect HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"));
    RawWebSocket dripping(cp.port());
    const auto started = Clock::now();

    std::atomic<bool> dripping_closed{false};
    std::thread dripper([&] {
        const std::string request = "GET /connect HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                                    "Connection: Upgrade\r\nX-Padding: " + std::string(200, 'a');
        for (const char c : request) {
            if (!dripping.send_raw(std::string(1, c)) || dripping.wait_for_eof(50ms)) {
                dripping_closed = true;
                return;
            }
        }
    });
    EXPECT_TRUE(silent.wait_for_eof(handshake_timeout + 5s));
    EXPECT_TRUE(half.wait_for_eof(handshake_timeout + 5s));
    dripper.join();
    EXPECT_TRUE(dripping_closed.load()) << "a request dripped byte by byte outlived the handshake timeout";
    const auto took = Clock::now() - started;
    EXPECT_GE(took, handshake_timeout - 100ms) << "dropped before the timeout";
    EXPECT_LT(took, handshake_timeout + 5s);

    cp.write_config(routing_config("2.0.0"));
    EXPECT_TRUE(neighbour.wait_for_version("2.0.0").has_value());
}

// Every fault in a row against one control plane, with a real router connected beside the
// faulty peers: the router still gets the next push, and routes by it.
TEST(ControlPlaneFaults, RealRouterKeepsGettingSnapshots) {
    Deployment deployment(Deployment::Options{.start_router = false});
    deployment.write_config(deployment.config("0.0.1"));
    ControlPlane cp(deployment.config("1.0.0"));
    deployment.start_router({"--control-plane", cp.url(), "--node-id", "router-1", "--config-cache",
                             deployment.dir().file("cache.json").string()});
    ASSERT_TRUE(eventually([&] { return cp.status()["acked_current"] == 1; })) << cp.status().dump();

    for (const auto& fault : faults()) {
        auto raw = connect_raw(cp.port());
        fault.inject(*raw);
        const auto outcome = raw->wait_for_close(10s);
        EXPECT_EQ(outcome.code.value_or(0), fault.expected_code) << fault.name;
        EXPECT_TRUE(outcome.connection_closed) << fault.name;
    }
    RawWebSocket stalled(cp.port());
    EXPECT_TRUE(stalled.wait_for_eof(handshake_timeout + 5s));

    auto moved = deployment.config("2.0.0");
    moved["routingTable"]["acme"] = "visa";
    cp.write_config(moved);
    EXPECT_TRUE(eventually([&] {
        return request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To") == "visa";
    }));
    EXPECT_TRUE(eventually([&] {
        const auto status = cp.status();
        return status["current_version"] == "2.0.0" && status["acked_current"] == 1 && status["routers"].size() == 1;
    })) << cp.status().dump();
}

}  // namespace
}  // namespace cell::testing
