// A router given several control-plane replicas (--control-plane ws://a/connect,ws://b/connect)
// against two real cell-control-plane processes serving one config file: it connects to one,
// moves to the other when that one dies, names the replica it is on in /debug/config, and keeps
// taking config changes through the survivor. Also: a dead replica in the list costs no backoff
// delay, and a bad entry in the list is a startup error that names it.

#include <gtest/gtest.h>

#include <cstdio>

#include "harness.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;

Json debug_config(unsigned short port) { return request(port, "GET", "/debug/config").json(); }

long long elapsed_ms(Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

// One cell-control-plane replica on an ephemeral loopback port, watching the shared file.
struct Replica {
    Replica(const std::filesystem::path& config, const TempDir& dir, const std::string& name)
        : process({CELL_CONTROL_PLANE_BINARY, "--config", config.string(), "--port", "0", "--listen", "127.0.0.1"},
                  dir.path(), name),
          port(control_plane_port_of(process)),
          url("ws://127.0.0.1:" + std::to_string(port) + "/connect") {}

    Json status() const { return request(port, "GET", "/status").json(); }

    Process process;
    unsigned short port;
    std::string url;
};

Deployment::Options cells_only() {
    Deployment::Options options;
    options.start_router = false;
    return options;
}

class ControlPlaneReplicasTest : public ::testing::Test {
protected:
    ControlPlaneReplicasTest() : deployment_(cells_only()) {
        deployment_.write_config(deployment_.config("0.0.1"));  // the router's bootstrap file
        write_shared_config(deployment_.config("1.0.0"));
    }

    void write_shared_config(const Json& config) const { write_file_atomically(shared_config(), config.dump()); }
    std::filesystem::path shared_config() const { return deployment_.dir().file("control-plane.json"); }

    // A backoff long enough that a pause would show: each round's first delay is 2.5 to 5 s.
    void start_router(const std::string& urls) {
        deployment_.start_router({"--control-plane", urls, "--node-id", "replica-follower", "--config-cache",
                                  deployment_.dir().file("cache.json").string(), "--control-plane-backoff", "5s"});
    }

    Json control_plane_state() const { return debug_config(deployment_.router_port())["control_plane"]; }
    bool connected_to(const std::string& url) const {
        const auto state = control_plane_state();
        return state["state"] == "connected" && state["url"] == url;
    }

    Deployment deployment_;
};

// The router connects to one replica; when that one is killed it moves to the other at once,
// /debug/config names the new replica (and the dead one's error), and a change to the file
// reaches the router through the survivor.
TEST_F(ControlPlaneReplicasTest, RouterFollowsTheSurvivingReplica) {
    Replica a(shared_config(), deployment_.dir(), "control-plane-a");
    Replica b(shared_config(), deployment_.dir(), "control-plane-b");
    start_router(a.url + "," + b.url);
    const auto port = deployment_.router_port();
    ASSERT_TRUE(eventually([&] { return debug_config(port)["version"] == "1.0.0"; })) << control_plane_state().dump();
    ASSERT_TRUE(eventually([&] { return control_plane_state()["state"] == "connected"; }));

    const auto before = control_plane_state();
    EXPECT_EQ(before["urls"], (Json{a.url, b.url}));  // in the order given, whichever it chose
    const std::string first = before["url"];
    ASSERT_TRUE(first == a.url || first == b.url) << first;
    Replica& chosen = first == a.url ? a : b;
    Replica& other = first == a.url ? b : a;
    std::printf("[ info     ] the router chose replica %s first\n", first == a.url ? "a" : "b");
    EXPECT_EQ(chosen.status()["routers_connected"], 1);
    EXPECT_EQ(other.status()["routers_connected"], 0);

    const auto killed_at = Clock::now();
    ASSERT_TRUE(chosen.process.kill_abruptly());
    // Well within the 2.5 s a backoff pause would take at least: the next replica is tried at once.
    ASSERT_TRUE(eventually([&] { return connected_to(other.url); }, 2s)) << control_plane_state().dump();
    std::printf("[ measure  ] replica killed -> router connected to the other: %lld ms\n", elapsed_ms(killed_at));

    const auto after = control_plane_state();
    EXPECT_EQ(after["url"], other.url);
    EXPECT_EQ(after["connections"], 2);
    for (const auto& replica : after["replicas"]) {
        EXPECT_EQ(replica["current"], replica["url"] == other.url) << replica.dump();
        if (replica["url"] == chosen.url) {
            EXPECT_FALSE(replica["last_error"].get<std::string>().empty()) << replica.dump();
            EXPECT_FALSE(replica["last_error_at"].is_null());
        } else {
            EXPECT_FALSE(replica["last_connected_at"].is_null());
        }
    }
    EXPECT_TRUE(eventually([&] { return other.status()["routers_connected"] == 1; }));
    const auto moved = deployment_.router().wait_for_line([&](const Json& line) {
        return line.value("event", "") == "control_plane_disconnected" && line.value("control_plane", "") == chosen.url;
    });
    ASSERT_TRUE(moved.has_value());
    EXPECT_EQ((*moved)["next_control_plane"], other.url);
    EXPECT_EQ((*moved)["retry_in_ms"], 0);

    auto changed = deployment_.config("2.0.0");
    changed["routingTable"]["acme"] = "visa";
    write_shared_config(changed);
    ASSERT_TRUE(eventually([&] { return debug_config(port)["version"] == "2.0.0"; })) << control_plane_state().dump();
    EXPECT_EQ(request(port, "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To"), "visa");
    EXPECT_TRUE(eventually([&] {
        const auto routers = other.status()["routers"];
        return routers.size() == 1 && routers[0]["last_version_acked"] == "2.0.0";
    })) << other.status().dump();
    EXPECT_TRUE(connected_to(other.url));
}

// Replicas that are down when the router starts cost one refused connect each, not a backoff
// pause: whichever order the router drew (three dead replicas of four: it meets at least one
// first in three starts of four), it is connected to the live one well within the 2.5 s the
// shortest pause would take, and every move it logged was at once.
TEST_F(ControlPlaneReplicasTest, DeadReplicasInTheListCostNoBackoff) {
    Replica live(shared_config(), deployment_.dir(), "control-plane-live");
    std::string urls;
    for (int i = 0; i < 3; ++i) {
        urls += "ws://127.0.0.1:" + std::to_string(free_port()) + "/connect,";  // nothing listens there
    }
    urls += live.url;
    const auto started_at = Clock::now();
    start_router(urls);
    ASSERT_TRUE(eventually([&] { return connected_to(live.url); }, 2s)) << control_plane_state().dump();
    const auto took = elapsed_ms(started_at);
    // Logged after every move that led there: once it is written, they all are.
    ASSERT_TRUE(deployment_.router()
                    .wait_for_line([](const Json& line) { return line.value("event", "") == "control_plane_connected"; })
                    .has_value());
    int dead_tried = 0;
    for (const auto& line : deployment_.router().json_lines()) {
        if (line.value("event", "") == "control_plane_disconnected") {
            ++dead_tried;
            EXPECT_EQ(line["stage"], "connect") << line.dump();
            EXPECT_EQ(line["retry_in_ms"], 0) << line.dump();
        }
    }
    std::printf("[ measure  ] router start -> connected past %d dead replicas: %lld ms\n", dead_tried, took);
    EXPECT_TRUE(eventually([&] { return debug_config(deployment_.router_port())["version"] == "1.0.0"; }));
}

// A bad entry in the list stops the router at startup with a message naming it.
TEST_F(ControlPlaneReplicasTest, BadEntryIsAStartupError) {
    Process router({CELL_ROUTER_BINARY, "--config", deployment_.config_path().string(), "--port", "0", "--control-plane",
                    "ws://127.0.0.1:8081/connect,http://127.0.0.1:8082/connect"},
                   deployment_.dir().path(), "bad-list");
    router.expect_exit_code(2);
    EXPECT_EQ(router.wait_exit(10s), 2);
    EXPECT_NE(router.stderr_text().find("\"http://127.0.0.1:8082/connect\" must be a ws:// URL"), std::string::npos)
        << router.stderr_text();
}

}  // namespace
}  // namespace cell::testing
