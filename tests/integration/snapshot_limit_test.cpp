// --max-snapshot-bytes end to end, with the real control plane and the real router: a snapshot
// over the router's limit is nacked on a connection that stays up, and /status says why; a
// router that announced its limit gets nothing bigger; the control plane refuses to publish a
// config over its own limit. Each time a smaller config afterwards still applies.

#include <gtest/gtest.h>

#include <algorithm>

#include "harness.hpp"

namespace cell::testing {
namespace {

constexpr std::size_t small_limit = 64 * 1024;

// `config` grown with padding keys until its snapshot frame is well over the small limit (and
// over the router's 256 KiB read piece, so the skipped part is read in several pieces).
Json oversized(Json config) {
    // Measured every 500 keys: dumping after each one made this quadratic (seconds of the test).
    for (int i = 0; config.dump().size() <= 5 * small_limit;) {
        for (const int end = i + 500; i < end; ++i) {
            config["routingTable"]["padding-tenant-" + std::to_string(i)] = "tier2";
        }
    }
    return config;
}

// A router on a bootstrap file (0.0.1, acme -> tier1) and a control plane, both real processes.
class SnapshotLimitTest : public ::testing::Test {
protected:
    SnapshotLimitTest() : deployment_(Deployment::Options{.start_router = false}) {
        deployment_.write_config(deployment_.config("0.0.1"));
    }

    void start_control_plane(const Json& config, const std::vector<std::string>& extra = {}) {
        write_file_atomically(config_path(), config.dump());
        std::vector<std::string> argv{CELL_CONTROL_PLANE_BINARY, "--config", config_path().string(), "--port", "0",
                                      "--listen", "127.0.0.1", "--poll-interval", "100ms"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        control_plane_ = std::make_unique<Process>(argv, cp_dir_.path(), "control-plane");
        cp_port_ = control_plane_port_of(*control_plane_);
    }

    void start_router(const std::vector<std::string>& extra = {}) {
        std::vector<std::string> flags{"--control-plane", "ws://127.0.0.1:" + std::to_string(cp_port_) + "/connect",
                                       "--node-id", "router-1", "--config-cache",
                                       deployment_.dir().file("cache.json").string()};
        flags.insert(flags.end(), extra.begin(), extra.end());
        deployment_.start_router(flags);
    }

    std::filesystem::path config_path() const { return cp_dir_.file("routing.json"); }
    void publish(const Json& config) const { write_file_atomically(config_path(), config.dump()); }
    Json status() const { return request(cp_port_, "GET", "/status").json(); }
    std::string routed_to(const std::string& key) {
        return request(deployment_.router_port(), "GET", "/", {{"X-Routing-Key", key}}).header("X-Routed-To");
    }
    std::optional<Json> cp_event(const std::string& event, std::chrono::milliseconds timeout = 15s) {
        return control_plane_->wait_for_line([&](const Json& l) { return l.value("event", "") == event; }, timeout);
    }
    std::size_t cp_events(const std::string& event) const {
        const auto lines = control_plane_->json_lines();
        return static_cast<std::size_t>(
            std::count_if(lines.begin(), lines.end(), [&](const Json& l) { return l.value("event", "") == event; }));
    }
    std::size_t router_events(const std::string& event) {
        const auto lines = deployment_.router().json_lines();
        return static_cast<std::size_t>(
            std::count_if(lines.begin(), lines.end(), [&](const Json& l) { return l.value("event", "") == event; }));
    }
    // The router acked `version`, by the control plane's /status.
    bool acked(const std::string& version) {
        const auto current = status();
        return current["routers_connected"] == 1 && current["routers"][0]["last_version_acked"] == version;
    }
    // One connection from the router since it started: no disconnect on either side.
    void expect_one_connection() {
        EXPECT_EQ(cp_events("router_connected"), 1u) << control_plane_->stdout_text();
        EXPECT_EQ(cp_events("router_disconnected"), 0u) << control_plane_->stdout_text();
        EXPECT_EQ(router_events("control_plane_disconnected"), 0u) << deployment_.router().stdout_text();
        EXPECT_EQ(status()["routers_connected"], 1);
    }

    Deployment deployment_;
    TempDir cp_dir_;
    std::unique_ptr<Process> control_plane_;
    unsigned short cp_port_ = 0;
};

// The router connects while the current config is over its limit (the control plane sends it
// before reading the hello): the router reads it to its end, nacks it with the reason, keeps
// its table and its connection, and applies the next config that fits.
TEST_F(SnapshotLimitTest, RouterNacksASnapshotOverItsLimitAndStaysConnected) {
    const Json big = oversized(deployment_.config("2.0.0"));
    start_control_plane(big);
    start_router({"--max-snapshot-bytes", "64KiB"});
    ASSERT_TRUE(eventually([&] { return !status()["routers"].empty() && !status()["routers"][0]["last_nack"].is_null(); },
                           15s))
        << status().dump() << deployment_.router().stdout_text();
    const auto entry = status()["routers"][0];
    EXPECT_EQ(entry["id"], "router-1");
    EXPECT_EQ(entry["max_snapshot_bytes"], small_limit);
    EXPECT_EQ(entry["last_nack"]["version"], "2.0.0");
    EXPECT_EQ(entry["last_nack"]["by"], "router");
    const std::string error = entry["last_nack"]["error"];
    EXPECT_NE(error.find("exceeds this router's --max-snapshot-bytes 65536"), std::string::npos) << error;
    EXPECT_TRUE(entry["last_version_acked"].is_null());
    EXPECT_EQ(routed_to("acme"), "tier1") << "the bootstrap table must keep serving";

    auto fits = deployment_.config("3.0.0");
    fits["routingTable"]["acme"] = "visa";
    publish(fits);
    ASSERT_TRUE(eventually([&] { return acked("3.0.0"); }, 15s)) << status().dump();
    EXPECT_EQ(routed_to("acme"), "visa");
    expect_one_connection();
}

// A router that announced its limit gets no snapshot over it: the control plane records the
// reason as the router's last nack (by the control plane) and counts it; the router serves
// what it acked before, on the same connection, and takes the next config that fits.
TEST_F(SnapshotLimitTest, ControlPlaneSendsNothingOverTheAnnouncedLimit) {
    start_control_plane(deployment_.config("1.0.0"));
    start_router({"--max-snapshot-bytes", "64KiB"});
    ASSERT_TRUE(eventually([&] { return acked("1.0.0"); }, 15s)) << status().dump();
    ASSERT_EQ(status()["routers"][0]["max_snapshot_bytes"], small_limit);

    auto big = oversized(deployment_.config("2.0.0"));
    big["routingTable"]["acme"] = "tier2";
    publish(big);
    const auto skipped = cp_event("snapshot_not_sent");
    ASSERT_TRUE(skipped.has_value()) << control_plane_->stdout_text();
    EXPECT_EQ((*skipped)["version"], "2.0.0");
    EXPECT_EQ((*skipped)["max_snapshot_bytes"], small_limit);
    const auto entry = status()["routers"][0];
    EXPECT_EQ(entry["last_nack"]["version"], "2.0.0");
    EXPECT_EQ(entry["last_nack"]["by"], "control_plane");
    const std::string error = entry["last_nack"]["error"];
    EXPECT_NE(error.find("exceeds the router's --max-snapshot-bytes 65536"), std::string::npos) << error;
    EXPECT_EQ(entry["last_version_acked"], "1.0.0");
    EXPECT_EQ(entry["last_version_sent"], "1.0.0");
    EXPECT_NE(request(cp_port_, "GET", "/metrics").body.find("cellcp_snapshots_not_sent_total 1"), std::string::npos);
    EXPECT_EQ(routed_to("acme"), "tier1");
    EXPECT_EQ(router_events("snapshot_rejected"), 0u) << "nothing over the limit was sent";

    auto fits = deployment_.config("3.0.0");
    fits["routingTable"]["acme"] = "visa";
    publish(fits);
    ASSERT_TRUE(eventually([&] { return acked("3.0.0"); }, 15s)) << status().dump();
    EXPECT_EQ(routed_to("acme"), "visa");
    expect_one_connection();
}

// The control plane's own limit: a config whose frame is over it is rejected like an invalid
// one (logged, counted in /metrics, never pushed); a config that fits afterwards is pushed.
TEST_F(SnapshotLimitTest, ControlPlaneRefusesToPublishOverItsOwnLimit) {
    start_control_plane(deployment_.config("1.0.0"), {"--max-snapshot-bytes", "64KiB"});
    start_router();
    ASSERT_TRUE(eventually([&] { return acked("1.0.0"); }, 15s)) << status().dump();

    const Json big = oversized(deployment_.config("2.0.0"));
    publish(big);
    const auto rejected = cp_event("config_rejected");
    ASSERT_TRUE(rejected.has_value()) << control_plane_->stdout_text();
    const std::string reason = (*rejected)["reason"];
    EXPECT_NE(reason.find("exceeds this control plane's --max-snapshot-bytes 65536"), std::string::npos) << reason;
    EXPECT_NE(request(cp_port_, "GET", "/metrics").body.find("cellcp_config_rejections_total 1"), std::string::npos);
    EXPECT_EQ(status()["current_version"], "1.0.0");
    EXPECT_EQ(cp_events("snapshot_broadcast"), 0u);

    publish(deployment_.config("3.0.0"));
    ASSERT_TRUE(eventually([&] { return acked("3.0.0"); }, 15s)) << status().dump();
    expect_one_connection();
}

// A control plane started on a config over its limit refuses to start, and says why.
TEST_F(SnapshotLimitTest, ControlPlaneDoesNotStartOverItsLimit) {
    write_file_atomically(config_path(), oversized(deployment_.config("1.0.0")).dump());
    Process cp({CELL_CONTROL_PLANE_BINARY, "--config", config_path().string(), "--port", "0", "--max-snapshot-bytes",
                "64KiB"},
               cp_dir_.path(), "control-plane-refused");
    cp.expect_exit_code(1);
    EXPECT_EQ(cp.wait_exit(15s), 1);
    EXPECT_NE(cp.stderr_text().find("exceeds this control plane's --max-snapshot-bytes 65536"), std::string::npos)
        << cp.stderr_text();
}

}  // namespace
}  // namespace cell::testing
