// permessage-deflate on the control-plane WebSocket: the control plane accepts an offer (the
// upgrade answer names the extension, snapshots arrive with RSV1 set and inflate to the
// config), a peer that offers nothing gets plain frames, --ws-compression off on either side
// turns it off, and a real router applies compressed snapshots.

#include <gtest/gtest.h>

#include <boost/beast/zlib/inflate_stream.hpp>

#include "harness.hpp"
#include "raw_websocket.hpp"

namespace cell::testing {
namespace {

constexpr std::string_view deflate_offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

// A config of about 40 KB, well over the 1 KiB under which messages go out uncompressed.
Json padded(Json config) {
    for (int i = 0; i < 1000; ++i) {
        config["routingTable"]["tenant-" + std::to_string(i)] = i % 2 == 0 ? "tier1" : "tier2";
    }
    return config;
}

// Inflates one permessage-deflate message payload (RFC 7692 section 7.2.2: the sender removed
// the empty block's 00 00 FF FF tail, the receiver appends it).
std::string inflate_message(std::string payload) {
    payload.append("\x00\x00\xff\xff", 4);
    boost::beast::zlib::inflate_stream stream;
    stream.reset(15);
    std::string out;
    boost::beast::zlib::z_params params;
    params.next_in = payload.data();
    params.avail_in = payload.size();
    char chunk[65536];
    while (params.avail_in > 0) {
        params.next_out = chunk;
        params.avail_out = sizeof chunk;
        boost::system::error_code ec;
        stream.write(params, boost::beast::zlib::Flush::sync, ec);
        out.append(chunk, sizeof chunk - params.avail_out);
        if (ec && ec != boost::beast::zlib::error::need_buffers && ec != boost::beast::zlib::error::end_of_stream) {
            throw std::runtime_error("inflate failed: " + ec.message());
        }
        if (ec) {
            break;
        }
    }
    return out;
}

// cell-control-plane on an ephemeral loopback port with its own directory.
class ControlPlaneProcess {
public:
    ControlPlaneProcess(const Json& config, const std::vector<std::string>& extra = {}) {
        write_file_atomically(config_path(), config.dump());
        std::vector<std::string> argv{CELL_CONTROL_PLANE_BINARY, "--config", config_path().string(), "--port", "0",
                                      "--listen", "127.0.0.1", "--poll-interval", "100ms"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        process_ = std::make_unique<Process>(argv, dir_.path(), "control-plane");
        port_ = control_plane_port_of(*process_);
    }
    unsigned short port() const { return port_; }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/connect"; }
    Process& process() { return *process_; }
    void publish(const Json& config) const { write_file_atomically(config_path(), config.dump()); }
    Json status() const { return request(port_, "GET", "/status").json(); }

private:
    std::filesystem::path config_path() const { return dir_.file("routing.json"); }

    TempDir dir_;
    std::unique_ptr<Process> process_;
    unsigned short port_ = 0;
};

Json expected_snapshot(Json config) {
    config["type"] = "config_snapshot";
    return config;
}

// A peer that offers permessage-deflate gets it: the answer names it, and the snapshot frame is
// compressed (RSV1) and inflates to the config plus its type.
TEST(WsCompression, ControlPlaneAcceptsTheOfferAndCompressesSnapshots) {
    const Json config = padded(Json{{"version", "1.0.0"},
                                    {"routingTable", Json::object()},
                                    {"cellEndpoints", {{"tier1", "http://127.0.0.1:9001"}, {"tier2", "http://127.0.0.1:9002"}}},
                                    {"defaultPlacement", "tier2"}});
    ControlPlaneProcess cp(config, {"--ws-compression", "on"});
    RawWebSocket peer(cp.port());
    ASSERT_EQ(peer.handshake("/connect", 5s, std::string(deflate_offer)), 101);
    EXPECT_NE(peer.response_head().find("permessage-deflate"), std::string::npos) << peer.response_head();
    const auto frame = peer.read_frame(10s);
    ASSERT_TRUE(frame.has_value());
    EXPECT_EQ(frame->opcode, ws_opcode::text);
    EXPECT_EQ(frame->rsv, 4) << "the snapshot was not compressed";
    EXPECT_LT(frame->payload.size(), config.dump().size() / 2);
    EXPECT_EQ(Json::parse(inflate_message(frame->payload)), expected_snapshot(config));
    ASSERT_TRUE(eventually([&] { return cp.status()["routers"].size() == 1; }));
    EXPECT_EQ(cp.status()["routers"][0]["compression"], true);
}

// A peer that offers nothing (the seed's routers, any plain client) gets plain frames.
TEST(WsCompression, PeerWithoutTheOfferGetsPlainFrames) {
    const Json config = padded(Json{{"version", "1.0.0"},
                                    {"routingTable", Json::object()},
                                    {"cellEndpoints", {{"tier1", "http://127.0.0.1:9001"}, {"tier2", "http://127.0.0.1:9002"}}},
                                    {"defaultPlacement", "tier2"}});
    ControlPlaneProcess cp(config);
    RawWebSocket peer(cp.port());
    ASSERT_EQ(peer.handshake(), 101);
    EXPECT_EQ(peer.response_head().find("permessage-deflate"), std::string::npos) << peer.response_head();
    std::string text;
    for (;;) {  // a large snapshot may come in fragments
        const auto frame = peer.read_frame(10s);
        ASSERT_TRUE(frame.has_value());
        EXPECT_EQ(frame->rsv, 0);
        text += frame->payload;
        if (frame->fin) {
            break;
        }
    }
    EXPECT_EQ(Json::parse(text), expected_snapshot(config));
    ASSERT_TRUE(eventually([&] { return cp.status()["routers"].size() == 1; }));
    EXPECT_EQ(cp.status()["routers"][0]["compression"], false);
}

// --ws-compression off on the control plane (its default): an offer is declined, frames stay plain.
TEST(WsCompression, ControlPlaneWithCompressionOffDeclines) {
    const Json config = padded(Json{{"version", "1.0.0"},
                                    {"routingTable", Json::object()},
                                    {"cellEndpoints", {{"tier1", "http://127.0.0.1:9001"}, {"tier2", "http://127.0.0.1:9002"}}},
                                    {"defaultPlacement", "tier2"}});
    ControlPlaneProcess cp(config, {"--ws-compression", "off"});
    RawWebSocket peer(cp.port());
    ASSERT_EQ(peer.handshake("/connect", 5s, std::string(deflate_offer)), 101);
    EXPECT_EQ(peer.response_head().find("permessage-deflate"), std::string::npos) << peer.response_head();
    const auto frame = peer.read_frame(10s);
    ASSERT_TRUE(frame.has_value());
    EXPECT_EQ(frame->rsv, 0);
}

// The real router offers the extension, gets compressed snapshots, applies and acks them; with
// --ws-compression off it offers nothing and works the same.
TEST(WsCompression, RouterAppliesCompressedSnapshots) {
    for (const bool router_compression : {true, false}) {
        SCOPED_TRACE(router_compression ? "router offers deflate" : "router --ws-compression off");
        Deployment deployment(Deployment::Options{.start_router = false});
        deployment.write_config(deployment.config("0.0.1"));
        ControlPlaneProcess cp(padded(deployment.config("1.0.0")), {"--ws-compression", "on"});
        deployment.start_router({"--control-plane", cp.url(), "--node-id", "router-1", "--config-cache",
                                 deployment.dir().file("cache.json").string(), "--ws-compression",
                                 router_compression ? "on" : "off"});
        const auto acked = [&](const std::string& version) {
            const auto status = cp.status();
            return status["routers"].size() == 1 && status["routers"][0]["last_version_acked"] == version;
        };
        ASSERT_TRUE(eventually([&] { return acked("1.0.0"); }, 15s)) << cp.status().dump();
        EXPECT_EQ(cp.status()["routers"][0]["compression"], router_compression);
        const auto connected = deployment.router().wait_for_line(
            [](const Json& l) { return l.value("event", "") == "control_plane_connected"; });
        ASSERT_TRUE(connected.has_value());
        EXPECT_EQ((*connected)["compression"], router_compression);

        auto moved = padded(deployment.config("2.0.0"));
        moved["routingTable"]["acme"] = "visa";
        cp.publish(moved);
        ASSERT_TRUE(eventually([&] { return acked("2.0.0"); }, 15s)) << cp.status().dump();
        EXPECT_EQ(request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To"),
                  "visa");
        EXPECT_EQ(request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "tenant-3"}}).header("X-Routed-To"),
                  "tier2");
    }
}

}  // namespace
}  // namespace cell::testing
