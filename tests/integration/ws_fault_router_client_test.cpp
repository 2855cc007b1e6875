// WebSocket faults against cell-router's control-plane client, from a control plane made of raw
// sockets: on each fault the router closes with the right code, logs why, keeps routing by its
// last good table, and reconnects; a stalled handshake times out and a 200 instead of a 101 is
// named in the log.

#include <gtest/gtest.h>

#include <functional>
#include <ostream>

#include "cell/controlplane/protocol.hpp"
#include "full_backlog_listener.hpp"
#include "harness.hpp"
#include "raw_websocket.hpp"
#include "scripted_control_plane.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint16_t protocol_error = 1002;
constexpr std::uint16_t invalid_payload = 1007;
constexpr std::uint16_t too_big = 1009;

FrameHeader server_frame(std::uint8_t opcode, bool fin = true) {
    return FrameHeader{.fin = fin, .opcode = opcode, .masked = false};
}

struct Fault {
    std::string name;
    std::function<void(ScriptedConnection&)> inject;
    std::uint16_t expected_code;  // the router's close code
};

// gtest names a failing case by this rather than by the object's bytes.
void PrintTo(const Fault& fault, std::ostream* out) { *out << fault.name; }

std::vector<Fault> faults() {
    const std::string note = R"({"type":"mystery"})";
    return {
        {"MaskedServerFrame",
         [note](ScriptedConnection& c) { c.send_frame(FrameHeader{.opcode = ws_opcode::text, .masked = true}, note); },
         protocol_error},
        {"Rsv1WithoutExtension",
         [note](ScriptedConnection& c) {
             c.send_frame(FrameHeader{.rsv = 4, .opcode = ws_opcode::text, .masked = false}, note);
         },
         protocol_error},
        {"ReservedOpcode", [note](ScriptedConnection& c) { c.send_frame(server_frame(0x3), note); }, protocol_error},
        {"OversizedPing", [](ScriptedConnection& c) { c.send_frame(server_frame(ws_opcode::ping), std::string(126, 'p')); },
         protocol_error},
        {"FragmentedPing", [](ScriptedConnection& c) { c.send_frame(server_frame(ws_opcode::ping, false), "p"); },
         protocol_error},
        {"ContinuationWithoutStart",
         [note](ScriptedConnection& c) { c.send_frame(server_frame(ws_opcode::continuation), note); }, protocol_error},
        {"InvalidUtf8Text",
         [](ScriptedConnection& c) { c.send_frame(server_frame(ws_opcode::text), "{\"type\":\"\xC3\x28\"}"); },
         invalid_payload},
        {"GoingAway", [](ScriptedConnection& c) { c.send_frame(server_frame(ws_opcode::close), close_payload(1001)); },
         1001},
    };
}

Json snapshot(const Deployment& deployment, const std::string& version) {
    auto frame = deployment.config(version);
    frame["type"] = "config_snapshot";
    frame["routingTable"]["acme"] = "visa";  // unlike the bootstrap file, so serving it is visible
    return frame;
}

// A router taking config from `control_plane`, booted from a file that routes acme to tier1.
class RouterUnderTest {
public:
    RouterUnderTest() : deployment_(Deployment::Options{.start_router = false}) {
        deployment_.write_config(deployment_.config("0.0.1"));
    }

    void start(const std::string& url, const std::vector<std::string>& extra = {}) {
        std::vector<std::string> flags{"--control-plane", url, "--node-id", "router-under-test", "--config-cache",
                                       deployment_.dir().file("cache.json").string(),
                                       "--control-plane-connect-timeout", "500ms", "--control-plane-backoff", "50ms",
                                       "--control-plane-max-backoff", "200ms"};
        flags.insert(flags.end(), extra.begin(), extra.end());
        deployment_.start_router(flags);
    }

    Deployment& deployment() { return deployment_; }
    Process& process() { return deployment_.router(); }
    std::string routed_to(const std::string& key) {
        return request(deployment_.router_port(), "GET", "/", {{"X-Routing-Key", key}}).header("X-Routed-To");
    }
    std::optional<Json> wait_for_disconnect(const std::function<bool(const Json&)>& match) {
        return process().wait_for_line(
            [&](const Json& line) { return line.value("event", "") == "control_plane_disconnected" && match(line); });
    }

private:
    Deployment deployment_;
};

class RouterClientFault : public ::testing::TestWithParam<Fault> {};

TEST_P(RouterClientFault, LogsKeepsServingAndReconnects) {
    const Fault& fault = GetParam();
    RouterUnderTest router;
    const std::string v1 = snapshot(router.deployment(), "1.0.0").dump();
    ScriptedControlPlane cp([&](ScriptedConnection& c) {
        if (!c.accept() || !c.send_text(v1) || c.wait_for_text("\"ack\"", 10s).empty()) {
            return;
        }
        if (c.index() > 0) {
            cp.note("acked again on connection " + std::to_string(c.index()));
            c.wait_for_eof(30s);
            return;
        }
        fault.inject(c);
        // Not answering the router's close frame: the router must close its end on its own.
        const auto outcome = c.wait_for_close(10s);
        cp.note("close " + std::to_string(outcome.code.value_or(0)));
        if (outcome.connection_closed) {
            cp.note("router closed its end");
        }
    });
    router.start(cp.url());

    const auto closed = cp.wait_for_note("close ", 15s);
    EXPECT_EQ(closed, "close " + std::to_string(fault.expected_code));
    // Within the close bound (the connect timeout, 500ms here), not the keepalive's 15s.
    EXPECT_FALSE(cp.wait_for_note("router closed its end", 3s).empty());
    const auto line = router.wait_for_disconnect([](const Json& l) { return l.value("stage", "") == "session"; });
    ASSERT_TRUE(line.has_value()) << router.process().stdout_text();
    EXPECT_FALSE((*line)["detail"].get<std::string>().empty());
    EXPECT_EQ(router.routed_to("acme"), "visa") << "the last good table must keep serving";
    EXPECT_FALSE(cp.wait_for_note("acked again", 10s).empty()) << "no reconnect after " << fault.name;
    EXPECT_EQ(router.routed_to("acme"), "visa");
    EXPECT_TRUE(router.process().running());
}

INSTANTIATE_TEST_SUITE_P(Faults, RouterClientFault, ::testing::ValuesIn(faults()),
                         [](const auto& info) { return info.param.name; });

// A snapshot in fragments, with a ping between them, is one snapshot: applied and acked.
TEST(RouterClientFaults, FragmentedSnapshotIsApplied) {
    RouterUnderTest router;
    const std::string v1 = snapshot(router.deployment(), "1.0.0").dump();
    ScriptedControlPlane cp([&](ScriptedConnection& c) {
        if (!c.accept()) {
            return;
        }
        const std::size_t third = v1.size() / 3;
        c.send_frame(server_frame(ws_opcode::text, false), v1.substr(0, third));
        c.send_frame(server_frame(ws_opcode::ping), "between");
        c.send_frame(server_frame(ws_opcode::continuation, false), v1.substr(third, third));
        c.send_frame(server_frame(ws_opcode::continuation, true), v1.substr(2 * third));
        for (int i = 0; i < 3; ++i) {
            const auto frame = c.read_frame(10s);
            if (!frame) {
                break;
            }
            if (frame->opcode == ws_opcode::pong) {
                cp.note("pong " + frame->payload);
            } else if (frame->payload.find("\"ack\"") != std::string::npos) {
                cp.note("ack " + frame->payload);
            }
        }
        c.wait_for_eof(30s);
    });
    router.start(cp.url());
    EXPECT_FALSE(cp.wait_for_note("pong between", 15s).empty());
    const auto ack = cp.wait_for_note("ack ", 15s);
    ASSERT_FALSE(ack.empty());
    EXPECT_EQ(Json::parse(ack.substr(4))["version"], "1.0.0");
    EXPECT_EQ(router.routed_to("acme"), "visa");
}

// A snapshot over --max-snapshot-bytes, in fragments, is read to its end without being kept and
// nacked with the reason; the connection stays up, pings are answered meanwhile, and the next
// snapshot that fits is applied on the same connection.
TEST(RouterClientFaults, OversizedSnapshotIsNackedAndTheConnectionStays) {
    RouterUnderTest router;
    const std::string v1 = snapshot(router.deployment(), "1.0.0").dump();
    auto big_config = snapshot(router.deployment(), "2.0.0");
    for (int i = 0; big_config.dump().size() <= 3 * 64 * 1024; ++i) {
        big_config["routingTable"]["padding-key-" + std::to_string(i)] = "tier2";
    }
    const std::string big = big_config.dump();
    auto v3_config = snapshot(router.deployment(), "3.0.0");
    v3_config["routingTable"]["acme"] = "tier2";
    const std::string v3 = v3_config.dump();
    ScriptedControlPlane cp([&](ScriptedConnection& c) {
        if (!c.accept() || !c.send_text(v1) || c.wait_for_text("\"ack\"", 10s).empty()) {
            return;
        }
        cp.note("acked 1.0.0 on connection " + std::to_string(c.index()));
        const std::size_t piece = big.size() / 4;
        c.send_frame(server_frame(ws_opcode::text, false), big.substr(0, piece));
        c.send_frame(server_frame(ws_opcode::continuation, false), big.substr(piece, piece));
        c.send_frame(server_frame(ws_opcode::ping), "past the limit");
        c.send_frame(server_frame(ws_opcode::continuation, false), big.substr(2 * piece, piece));
        c.send_frame(server_frame(ws_opcode::continuation, true), big.substr(3 * piece));
        for (int i = 0; i < 3; ++i) {
            const auto frame = c.read_frame(10s);
            if (!frame) {
                break;
            }
            if (frame->opcode == ws_opcode::pong) {
                cp.note("pong " + frame->payload);
            } else if (frame->payload.find("\"nack\"") != std::string::npos) {
                cp.note("nack " + frame->payload);
                break;
            }
        }
        c.send_text(v3);
        const auto ack = c.wait_for_text("\"ack\"", 10s);
        if (!ack.empty()) {
            cp.note("then ack " + ack);
        }
        c.wait_for_eof(30s);
    });
    router.start(cp.url(), {"--max-snapshot-bytes", "64KiB"});
    EXPECT_FALSE(cp.wait_for_note("acked 1.0.0 on connection 0", 15s).empty());
    EXPECT_FALSE(cp.wait_for_note("pong past the limit", 15s).empty());
    const auto nack = cp.wait_for_note("nack ", 15s);
    ASSERT_FALSE(nack.empty()) << router.process().stdout_text();
    const auto message = Json::parse(nack.substr(5));
    EXPECT_EQ(message["version"], "2.0.0");
    EXPECT_EQ(message["serving_version"], "1.0.0");
    EXPECT_EQ(message["error"], "snapshot of " + std::to_string(big.size()) +
                                    " bytes exceeds this router's --max-snapshot-bytes 65536");
    // serving_version above says the last good table kept serving; the peer sends 3.0.0 right
    // after the nack, so what the router routes now may already be that.
    const auto ack = cp.wait_for_note("then ack ", 15s);
    ASSERT_FALSE(ack.empty()) << router.process().stdout_text();
    EXPECT_EQ(Json::parse(ack.substr(9))["version"], "3.0.0");
    EXPECT_EQ(router.routed_to("acme"), "tier2");
    EXPECT_EQ(cp.connections(), 1);
    const auto status = request(router.deployment().router_port(), "GET", "/debug/config").json();
    EXPECT_EQ(status["control_plane"]["connections"], 1) << status.dump();
    EXPECT_EQ(status["control_plane"]["snapshots"]["rejected"], 1) << status.dump();
    EXPECT_NE(status["control_plane"]["last_rejected"]["reason"].dump().find("--max-snapshot-bytes 65536"),
              std::string::npos)
        << status.dump();
}

// A control plane that takes the upgrade request and never answers: the handshake times out
// after the connect timeout, the router says so and tries again, serving its table meanwhile.
TEST(RouterClientFaults, StalledHandshakeTimesOut) {
    RouterUnderTest router;
    ScriptedControlPlane cp([&](ScriptedConnection& c) {
        if (!c.read_request().empty()) {
            cp.note("request " + std::to_string(c.index()));
        }
        c.wait_for_eof(30s);
    });
    router.start(cp.url());
    ASSERT_TRUE(cp.wait_for_connections(2, 15s));
    const auto accepted = cp.accept_times();
    EXPECT_GE(accepted[1] - accepted[0], 500ms) << "gave up before the connect timeout";
    EXPECT_LT(accepted[1] - accepted[0], 500ms + 3s);
    const auto line = router.wait_for_disconnect([](const Json& l) { return l.value("stage", "") == "handshake"; });
    ASSERT_TRUE(line.has_value()) << router.process().stdout_text();
    EXPECT_NE((*line)["detail"].get<std::string>().find("did not complete"), std::string::npos) << line->dump();
    EXPECT_EQ(router.routed_to("acme"), "tier1");
}

// A URL that reaches a plain HTTP server: the 200 is a clear error in the log, not "declined".
TEST(RouterClientFaults, OkInsteadOfSwitchingProtocolsIsAClearError) {
    RouterUnderTest router;
    ScriptedControlPlane cp([&](ScriptedConnection& c) {
        if (!c.read_request().empty()) {
            c.send_raw("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok");
        }
        c.wait_for_eof(5s);
    });
    router.start(cp.url());
    const auto line = router.wait_for_disconnect([](const Json& l) { return l.value("stage", "") == "handshake"; });
    ASSERT_TRUE(line.has_value()) << router.process().stdout_text();
    EXPECT_EQ((*line)["level"], "error");
    const auto detail = (*line)["detail"].get<std::string>();
    EXPECT_NE(detail.find("HTTP 200"), std::string::npos) << detail;
    EXPECT_NE(detail.find("101"), std::string::npos) << detail;
    EXPECT_TRUE(cp.wait_for_connections(2, 10s)) << "no retry after a refused upgrade";
    EXPECT_EQ(router.routed_to("acme"), "tier1");
    EXPECT_TRUE(router.process().running());
}

// A control plane whose port never completes a connect: the connect times out and is retried.
TEST(RouterClientFaults, ConnectThatNeverCompletesTimesOut) {
    RouterUnderTest router;
    FullBacklogListener listener;
    router.start("ws://" + listener.address() + "/connect");
    const auto line = router.wait_for_disconnect([](const Json& l) { return l.value("stage", "") == "connect"; });
    ASSERT_TRUE(line.has_value()) << router.process().stdout_text();
    EXPECT_EQ(router.routed_to("acme"), "tier1");
}

}  // namespace
}  // namespace cell::testing
