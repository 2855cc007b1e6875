// Deltas end to end, against a real cell-control-plane watching a file: a real router takes a
// change as a delta under keep-alive load and routes exactly as the full config says, keeps the
// whole config in its cache across a restart, and gets full snapshots whenever it lacks the
// base. A protocol-level client checks who gets what: no delta without "deltas" in the hello or
// on another base, and a nack asking for the full snapshot gets it at once.

#include <gtest/gtest.h>

#include "harness.hpp"
#include "keep_alive_load.hpp"
#include "ws_client.hpp"

namespace cell::testing {
namespace {

Json debug_config(unsigned short port) { return request(port, "GET", "/debug/config").json(); }

// A snapshot or a delta of `version`.
std::function<bool(const Json&)> version_is(const std::string& version) {
    return [version](const Json& message) { return message.value("version", "") == version; };
}

// Large enough that a change of a few keys is worth a delta (under a quarter of the snapshot).
constexpr int tenants = 3000;

Json with_tenants(Json config) {
    for (int i = 0; i < tenants; ++i) {
        config["routingTable"]["tenant-" + std::to_string(i)] = i % 2 == 0 ? "tier1" : "tier2";
    }
    return config;
}

class ControlPlaneDeltaTest : public ::testing::Test {
protected:
    ControlPlaneDeltaTest() : deployment_(Deployment::Options{.start_router = false}) {
        deployment_.write_config(deployment_.config("0.0.1"));  // the router's bootstrap file
        write_shared(with_tenants(deployment_.config("1.0.0")));
        control_plane_ = std::make_unique<Process>(
            std::vector<std::string>{CELL_CONTROL_PLANE_BINARY, "--config", shared().string(), "--port", "0", "--listen",
                                     "127.0.0.1", "--poll-interval", "50ms"},
            deployment_.dir().path(), "control-plane");
        control_plane_port_ = control_plane_port_of(*control_plane_);
    }

    std::filesystem::path shared() const { return deployment_.dir().file("control-plane.json"); }
    void write_shared(const Json& config) const { write_file_atomically(shared(), config.dump()); }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(control_plane_port_) + "/connect"; }
    Json status() const { return request(control_plane_port_, "GET", "/status").json(); }

    void start_router() {
        deployment_.start_router({"--control-plane", url(), "--node-id", "delta-router", "--config-cache",
                                  deployment_.dir().file("cache.json").string()});
    }
    Json snapshots() const { return debug_config(deployment_.router_port())["control_plane"]["snapshots"]; }
    std::string routed_to(const std::string& key) const {
        return request(deployment_.router_port(), "GET", "/", {{"X-Routing-Key", key}}).header("X-Routed-To");
    }
    bool acked(const std::string& version) const {
        const Json routers = status()["routers"];
        return routers.size() == 1 && routers[0]["last_version_acked"] == version && routers[0]["acked_current"] == true;
    }

    Deployment deployment_;
    std::unique_ptr<Process> control_plane_;
    unsigned short control_plane_port_ = 0;
};

// A change of a few keys reaches the router as a delta while requests flow: none fails, and the
// router routes moved, added and removed keys as the new file says. Its cache then holds the
// whole new config: restarted from it, the router serves that version before it reconnects, gets
// a full snapshot (its base is unknown to the control plane), and takes the next change as a
// delta again.
TEST_F(ControlPlaneDeltaTest, RouterTakesChangesAsDeltasAndRoutesAsTheFullConfig) {
    start_router();
    const auto port = deployment_.router_port();
    ASSERT_TRUE(eventually([&] { return acked("1.0.0"); })) << status().dump();
    EXPECT_EQ(status()["routers"][0]["last_push"], "full");
    EXPECT_EQ(status()["routers"][0]["deltas"], true);

    KeepAliveLoad load(port, "globex");
    Json changed = with_tenants(deployment_.config("2.0.0"));
    changed["routingTable"]["acme"] = "visa";
    changed["routingTable"]["tenant-7"] = "tier3";
    changed["routingTable"].erase("tenant-8");
    changed["routingTable"]["newcomer"] = "tier2";
    write_shared(changed);
    ASSERT_TRUE(eventually([&] { return acked("2.0.0"); })) << status().dump();
    load.stop();
    EXPECT_EQ(load.failed(), 0) << load.last_failure();
    EXPECT_GT(load.ok(), 0);

    EXPECT_EQ(status()["routers"][0]["last_push"], "delta");
    EXPECT_EQ(snapshots()["deltas_applied"], 1) << snapshots().dump();
    EXPECT_EQ(snapshots()["deltas_refused"], 0);
    EXPECT_EQ(debug_config(port)["version"], "2.0.0");
    EXPECT_EQ(routed_to("acme"), "visa");
    EXPECT_EQ(routed_to("tenant-7"), "tier3");
    EXPECT_EQ(routed_to("newcomer"), "tier2");
    EXPECT_EQ(routed_to("tenant-9"), "tier2");
    const auto removed = request(port, "GET", "/", {{"X-Routing-Key", "tenant-8"}});
    EXPECT_EQ(removed.header("X-Route-Reason"), "default");
    EXPECT_EQ(removed.header("X-Routed-To"), "tier3");
    const auto applied = deployment_.router().wait_for_line(
        [](const Json& line) { return line.value("event", "") == "snapshot_applied" && line.value("kind", "") == "delta"; });
    ASSERT_TRUE(applied.has_value());
    EXPECT_EQ((*applied)["routing_keys"], tenants + 4);  // the seed's four, tenant-8 gone, newcomer added
    EXPECT_NE(request(control_plane_port_, "GET", "/metrics").body.find("cellcp_delta_pushes_total 1"), std::string::npos);

    // The restart: the cache is the whole config, not the delta.
    deployment_.stop_router();
    control_plane_->kill_abruptly();
    start_router();
    EXPECT_EQ(debug_config(deployment_.router_port())["version"], "2.0.0");
    EXPECT_EQ(routed_to("tenant-7"), "tier3");
    EXPECT_EQ(routed_to("newcomer"), "tier2");
}

// After a restart the router's table came from its cache, whose bytes are not the snapshot's:
// the control plane sends it the whole snapshot, and the change after that goes as a delta.
TEST_F(ControlPlaneDeltaTest, RestartedRouterGetsTheFullSnapshotThenDeltas) {
    start_router();
    ASSERT_TRUE(eventually([&] { return acked("1.0.0"); })) << status().dump();
    Json second = with_tenants(deployment_.config("2.0.0"));
    second["routingTable"]["tenant-1"] = "tier3";
    write_shared(second);
    ASSERT_TRUE(eventually([&] { return acked("2.0.0"); })) << status().dump();
    ASSERT_EQ(status()["routers"][0]["last_push"], "delta");

    deployment_.stop_router();
    start_router();
    ASSERT_TRUE(eventually([&] { return acked("2.0.0"); })) << status().dump();
    EXPECT_EQ(status()["routers"][0]["last_push"], "full");

    Json third = with_tenants(deployment_.config("3.0.0"));
    third["routingTable"]["tenant-1"] = "tier3";
    third["routingTable"]["tenant-2"] = "visa";
    write_shared(third);
    ASSERT_TRUE(eventually([&] { return acked("3.0.0"); })) << status().dump();
    EXPECT_EQ(status()["routers"][0]["last_push"], "delta");
    EXPECT_EQ(routed_to("tenant-2"), "visa");
    EXPECT_EQ(routed_to("tenant-1"), "tier3");
}

// At the protocol level: without "deltas" in its hello a router always gets whole snapshots;
// with it, a router whose last ack is not the base gets the whole snapshot too; on its base it
// gets the delta, and a nack with "need_full" brings the whole snapshot at once.
TEST_F(ControlPlaneDeltaTest, WhoGetsADelta) {
    WsClient plain(control_plane_port_);
    ASSERT_TRUE(plain.wait_for_version("1.0.0").has_value());
    ASSERT_TRUE(plain.send_json({{"type", "hello"}, {"node_id", "plain"}, {"version", "1.0.0"}}));
    ASSERT_TRUE(plain.ack_last());

    WsClient capable(control_plane_port_);
    ASSERT_TRUE(capable.wait_for_version("1.0.0").has_value());
    ASSERT_TRUE(capable.send_json({{"type", "hello"}, {"node_id", "capable"}, {"version", "1.0.0"}, {"deltas", true}}));
    ASSERT_TRUE(capable.ack_last());
    ASSERT_TRUE(eventually([&] { return status()["acked_current"] == 2; })) << status().dump();

    Json second = with_tenants(deployment_.config("2.0.0"));
    second["routingTable"]["tenant-1"] = "tier3";
    write_shared(second);
    const auto full = plain.wait_for(version_is("2.0.0"));
    ASSERT_TRUE(full.has_value());
    EXPECT_EQ((*full)["type"], "config_snapshot");
    ASSERT_TRUE(plain.ack_last());
    const auto delta = capable.wait_for(version_is("2.0.0"));
    ASSERT_TRUE(delta.has_value());
    EXPECT_EQ((*delta)["type"], "config_delta");
    EXPECT_EQ((*delta)["routingTable"]["set"], (Json{{"tenant-1", "tier3"}}));
    EXPECT_EQ((*delta)["routingTable"]["remove"], Json::array());
    EXPECT_EQ((*delta)["content_hash"], sha256_hex(plain.last_frame()));  // what the full one hashes to
    EXPECT_LT(capable.last_frame().size(), plain.last_frame().size() / 4);

    // It asks for the full snapshot instead: it comes at once, and is counted as no nack.
    ASSERT_TRUE(capable.send_json({{"type", "nack"},
                                   {"version", "2.0.0"},
                                   {"error", "not my base"},
                                   {"node_id", "capable"},
                                   {"need_full", true}}));
    const auto resent = capable.wait_for([](const Json& message) { return message.value("type", "") == "config_snapshot"; });
    ASSERT_TRUE(resent.has_value());
    EXPECT_EQ((*resent)["version"], "2.0.0");
    ASSERT_TRUE(capable.ack_last());
    ASSERT_TRUE(eventually([&] { return status()["acked_current"] == 2; })) << status().dump();
    const Json after_refusal = status();  // named: a temporary in the range expression would dangle
    for (const auto& router : after_refusal["routers"]) {
        EXPECT_TRUE(router["last_nack"].is_null()) << router.dump();
    }

    // Acked with a hash that is not the base: the next change goes whole.
    ASSERT_TRUE(capable.send_json({{"type", "ack"}, {"version", "2.0.0"}, {"content_hash", "0000"}, {"node_id", "capable"}}));
    ASSERT_TRUE(eventually([&] { return status()["acked_current"] == 1; })) << status().dump();
    Json third = with_tenants(deployment_.config("3.0.0"));
    third["routingTable"]["tenant-2"] = "tier3";
    write_shared(third);
    const auto whole = capable.wait_for(version_is("3.0.0"));
    ASSERT_TRUE(whole.has_value());
    EXPECT_EQ((*whole)["type"], "config_snapshot");
}

}  // namespace
}  // namespace cell::testing
