// The router as a control-plane client (M3), against a scripted control plane: snapshots,
// acks and nacks, garbage, a silent peer, and restarts from the cache.

#include <gtest/gtest.h>

#include <signal.h>

#include <thread>

#include "fake_control_plane.hpp"
#include "harness.hpp"

namespace cell::testing {
namespace {

Json snapshot(const Deployment& deployment, const std::string& version) {
    auto frame = deployment.config(version);
    frame["type"] = "config_snapshot";
    return frame;
}

Json debug_config(unsigned short port) { return request(port, "GET", "/debug/config").json(); }

class RouterControlPlaneTest : public ::testing::Test {
protected:
    RouterControlPlaneTest() : deployment_(Deployment::Options{.start_router = false}) {
        deployment_.write_config(deployment_.config("0.0.1"));  // the bootstrap file
    }

    void start_router(const std::vector<std::string>& extra = {}) {
        std::vector<std::string> flags{"--control-plane", fake_.url(), "--node-id", "router-under-test",
                                       "--config-cache", cache_path()};
        flags.insert(flags.end(), extra.begin(), extra.end());
        deployment_.start_router(flags);
    }

    std::string cache_path() const { return deployment_.dir().file("cache.json").string(); }
    unsigned short port() const { return deployment_.router_port(); }

    Deployment deployment_;
    FakeControlPlane fake_;
};

// On connect the router says hello, applies the snapshot, acks its version, and serves it.
TEST_F(RouterControlPlaneTest, AppliesSnapshotAndAcks) {
    auto v1 = snapshot(deployment_, "1.0.0");
    v1["routingTable"]["acme"] = "visa";
    fake_.set_greeting({v1.dump()});
    start_router();
    const auto hello = fake_.wait_for_frame("\"hello\"", 10s);
    ASSERT_FALSE(hello.empty());
    EXPECT_EQ(Json::parse(hello)["node_id"], "router-under-test");
    EXPECT_EQ(Json::parse(hello)["version"], "0.0.1");
    const auto ack = fake_.wait_for_frame("\"ack\"", 10s);
    ASSERT_FALSE(ack.empty());
    EXPECT_EQ(Json::parse(ack)["version"], "1.0.0");
    EXPECT_EQ(Json::parse(ack)["content_hash"].get<std::string>().size(), 64u);
    ASSERT_TRUE(eventually([&] { return debug_config(port())["version"] == "1.0.0"; }));
    const auto status = debug_config(port());
    EXPECT_EQ(status["source"], "control_plane");
    EXPECT_EQ(status["control_plane"]["state"], "connected");
    EXPECT_EQ(status["control_plane"]["node_id"], "router-under-test");
    EXPECT_EQ(status["control_plane"]["last_snapshot_version"], "1.0.0");
    EXPECT_FALSE(status["control_plane"]["connected_since"].is_null());
    EXPECT_EQ(request(port(), "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To"), "visa");
}

// An invalid snapshot is nacked with its version and the reason; the old table keeps serving.
TEST_F(RouterControlPlaneTest, InvalidSnapshotIsNacked) {
    auto bad = snapshot(deployment_, "2.0.0");
    bad["routingTable"]["acme"] = "tier9";
    fake_.set_greeting({snapshot(deployment_, "1.0.0").dump(), bad.dump()});
    start_router();
    const auto nack = fake_.wait_for_frame("\"nack\"", 10s);
    ASSERT_FALSE(nack.empty());
    const auto message = Json::parse(nack);
    EXPECT_EQ(message["version"], "2.0.0");
    EXPECT_EQ(message["serving_version"], "1.0.0");
    EXPECT_NE(message["error"].get<std::string>().find("/routingTable/acme: unknown placement \"tier9\""),
              std::string::npos);
    EXPECT_EQ(debug_config(port())["version"], "1.0.0");
    EXPECT_EQ(request(port(), "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To"), "tier1");
    EXPECT_EQ(debug_config(port())["control_plane"]["snapshots"]["rejected"], 1);
}

// Garbage and unknown message types are logged and ignored; the next snapshot still applies.
TEST_F(RouterControlPlaneTest, MalformedAndUnknownFramesAreIgnored) {
    fake_.set_greeting({"this is not json", "[1,2,3]", R"({"type": 42})", R"({"type":"mystery","x":1})",
                        R"({"type":"ack","version":"9"})", snapshot(deployment_, "1.0.0").dump()});
    start_router();
    const auto ack = fake_.wait_for_frame("\"ack\"", 10s);
    ASSERT_FALSE(ack.empty());
    EXPECT_EQ(Json::parse(ack)["version"], "1.0.0");
    EXPECT_TRUE(deployment_.router().running());
    EXPECT_TRUE(deployment_.router()
                    .wait_for_line([](const Json& line) {
                        return line.value("event", "") == "control_plane_frame_ignored" &&
                               line.value("message", "").find("mystery") != std::string::npos;
                    })
                    .has_value());
}

// A control plane that stops answering (half-open connection) is detected by the ping
// timeout, and the router reconnects.
TEST_F(RouterControlPlaneTest, SilentControlPlaneIsDetected) {
    fake_.set_greeting({snapshot(deployment_, "1.0.0").dump()});
    fake_.go_silent();
    start_router({"--control-plane-keepalive", "600ms"});
    ASSERT_TRUE(eventually([&] { return debug_config(port())["version"] == "1.0.0"; }));
    EXPECT_TRUE(eventually([&] { return fake_.connections() >= 2; }, 10s));
    EXPECT_TRUE(deployment_.router()
                    .wait_for_line([](const Json& line) { return line.value("event", "") == "control_plane_disconnected"; })
                    .has_value());
    EXPECT_EQ(request(port(), "GET", "/", {{"X-Routing-Key", "visa"}}).status, 200);
}

// A router restarted while the control plane is down comes up from its cache, not from the
// stale bootstrap file.
TEST_F(RouterControlPlaneTest, RestartDuringOutageUsesCache) {
    auto v1 = snapshot(deployment_, "1.0.0");
    v1["routingTable"]["acme"] = "visa";
    fake_.set_greeting({v1.dump()});
    start_router();
    ASSERT_FALSE(fake_.wait_for_frame("\"ack\"", 10s).empty());
    deployment_.stop_router();
    // The control plane is unreachable now: point the router at a port nobody listens on.
    deployment_.start_router({"--control-plane", "ws://127.0.0.1:" + std::to_string(free_port()) + "/connect",
                              "--node-id", "router-under-test", "--config-cache", cache_path()});
    const auto status = debug_config(port());
    EXPECT_EQ(status["version"], "1.0.0");
    EXPECT_EQ(status["source"], "cache");
    EXPECT_EQ(request(port(), "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To"), "visa");
}

// A snapshot older (by store revision) than the one applied is nacked and changes nothing, also
// after a restart from the cache: a control-plane replica with an old view of the store cannot
// move a router back in time.
TEST_F(RouterControlPlaneTest, OlderRevisionIsNackedAndNeverApplied) {
    auto newer = snapshot(deployment_, "2.0.0");
    newer["revision"] = 20;
    newer["routingTable"]["acme"] = "visa";
    auto older = snapshot(deployment_, "1.0.0");
    older["revision"] = 10;
    fake_.set_greeting({newer.dump(), older.dump()});
    start_router();
    const auto nack = fake_.wait_for_frame("\"nack\"", 10s);
    ASSERT_FALSE(nack.empty());
    EXPECT_EQ(Json::parse(nack)["version"], "1.0.0");
    EXPECT_EQ(Json::parse(nack)["revision"], 10);
    EXPECT_EQ(Json::parse(nack)["serving_version"], "2.0.0");
    EXPECT_NE(Json::parse(nack)["error"].get<std::string>().find("older than the applied revision 20"), std::string::npos)
        << nack;
    auto status = debug_config(port());
    EXPECT_EQ(status["version"], "2.0.0");
    EXPECT_EQ(status["control_plane"]["applied_revision"], 20);
    EXPECT_EQ(status["control_plane"]["snapshots"]["stale"], 1);
    EXPECT_EQ(request(port(), "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To"), "visa");

    // Restarted, the router starts from its cache and remembers the revision it had applied.
    deployment_.stop_router();
    FakeControlPlane lagging;
    lagging.set_greeting({older.dump()});
    deployment_.start_router({"--control-plane", lagging.url(), "--node-id", "router-under-test", "--config-cache",
                              cache_path()});
    const auto hello = lagging.wait_for_frame("\"hello\"", 10s);
    ASSERT_FALSE(hello.empty());
    EXPECT_EQ(Json::parse(hello)["revision"], 20);
    ASSERT_FALSE(lagging.wait_for_frame("\"nack\"", 10s).empty());
    status = debug_config(port());
    EXPECT_EQ(status["source"], "cache");
    EXPECT_EQ(status["version"], "2.0.0");
}

// With no control plane reachable the router serves its bootstrap file and keeps retrying.
TEST_F(RouterControlPlaneTest, UnreachableControlPlaneServesBootstrap) {
    deployment_.start_router({"--control-plane", "ws://127.0.0.1:" + std::to_string(free_port()) + "/connect",
                              "--config-cache", cache_path()});
    EXPECT_EQ(request(port(), "GET", "/", {{"X-Routing-Key", "acme"}}).status, 200);
    ASSERT_TRUE(eventually([&] { return debug_config(port())["control_plane"]["reconnect_attempts"] >= 2; }, 10s));
    const auto status = debug_config(port());
    EXPECT_EQ(status["version"], "0.0.1");
    EXPECT_EQ(status["source"], "file");
    EXPECT_NE(status["control_plane"]["last_error"], "");
}

// With a control plane the file is only the bootstrap: edits to it are not applied.
TEST_F(RouterControlPlaneTest, BootstrapFileIsNotWatched) {
    fake_.set_greeting({snapshot(deployment_, "1.0.0").dump()});
    start_router();
    ASSERT_FALSE(fake_.wait_for_frame("\"ack\"", 10s).empty());
    deployment_.write_config(deployment_.config("9.9.9"));
    deployment_.router().send_signal(SIGHUP);
    std::this_thread::sleep_for(700ms);  // several reload intervals of the test router
    EXPECT_EQ(debug_config(port())["version"], "1.0.0");
}

}  // namespace
}  // namespace cell::testing
