// Cell operations written by hand in the config file (docs/operations.md), against real routers
// and cells: a drain with a ramp and its undrain under keep-alive load, a pin that expires on
// every router within a second of its time, and a pause that keeps a key away from its cell
// while other keys are served.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "cell/util/time_format.hpp"
#include "harness.hpp"
#include "keep_alive_load.hpp"
#include "metrics_support.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::system_clock;
using namespace std::chrono_literals;

constexpr int tenants = 200;

std::string rfc3339(Clock::time_point time) { return util::format_rfc3339(time); }

Json debug_config(unsigned short port) { return request(port, "GET", "/debug/config").json(); }

class OperationsTest : public ::testing::Test {
protected:
    OperationsTest() : deployment_(Deployment::Options{.start_router = false}) {}

    // The seed's table plus `tenants` keys on tier1, with `operations`.
    Json config_with(const std::string& version, const Json& operations) const {
        Json config = deployment_.config(version);
        for (int i = 0; i < tenants; ++i) {
            config["routingTable"]["tenant-" + std::to_string(i)] = "tier1";
        }
        if (!operations.is_null()) {
            config["operations"] = operations;
        }
        return config;
    }
    void write(const Json& config) const { write_file_atomically(deployment_.config_path(), config.dump()); }
    bool serves(unsigned short port, const std::string& version) const { return debug_config(port)["version"] == version; }

    // How many tenants each placement serves right now, and with which failover reason.
    std::map<std::string, int> sweep(unsigned short port) const {
        std::map<std::string, int> served;
        Connection connection(port);
        for (int i = 0; i < tenants; ++i) {
            connection.send(make_request("GET", "/", {{"X-Routing-Key", "tenant-" + std::to_string(i)}}));
            const auto response = connection.read_response();
            EXPECT_EQ(response.status, 200);
            served[response.header("X-Routed-To") + "/" + response.header("X-Failover-Reason")] += 1;
        }
        return served;
    }

    Deployment deployment_;
};

// tier1 drained to tier3 over a 6 s ramp, then undrained over 1 s, under keep-alive load: every
// tenant moves with "X-Failover-Reason: drained" naming tier1 as the original placement, every
// one comes back, and no request fails.
TEST_F(OperationsTest, DrainAndUndrainUnderLoadFailNothing) {
    write(config_with("1.0.0", nullptr));
    deployment_.start_router({"--admin-port", std::to_string(free_port())});
    const auto port = deployment_.router_port();
    const auto admin = admin_port_of(deployment_.router());
    KeepAliveLoad load(port, "acme");

    const auto start = Clock::now();
    // A ramp long enough that a slow (sanitizer) router still sees part of it.
    write(config_with("2.0.0", {{"drains", {{"tier1", {{"to", "tier3"}, {"start", rfc3339(start)}, {"ramp", "6s"},
                                                       {"reason", "maintenance"}}}}}}));
    ASSERT_TRUE(eventually([&] { return serves(port, "2.0.0"); }));
    // Part way through the ramp some tenants have moved and some not.
    ASSERT_TRUE(eventually([&] {
        // A worker that has not applied 2.0.0 yet answers without the drain: not yet.
        const Json share = debug_config(port)["operations"]["drains"]["tier1"]["share_now"];
        return share.is_number() && share.get<double>() > 0.1 && share.get<double>() < 0.9;
    }, 6s));
    const auto halfway = sweep(port);
    EXPECT_GT(halfway.count("tier1/") ? halfway.at("tier1/") : 0, 0) << Json(halfway).dump();
    EXPECT_GT(halfway.count("tier3/drained") ? halfway.at("tier3/drained") : 0, 0) << Json(halfway).dump();
    ASSERT_TRUE(eventually([&] { return debug_config(port)["operations"]["drains"]["tier1"]["share_now"] == 1.0; }, 10s));
    EXPECT_EQ(sweep(port), (std::map<std::string, int>{{"tier3/drained", tenants}}));
    const auto moved = request(port, "GET", "/", {{"X-Routing-Key", "acme"}});
    EXPECT_EQ(moved.header("X-Routed-To"), "tier3");
    EXPECT_EQ(moved.header("X-Route-Reason"), "tier");
    EXPECT_EQ(moved.header("X-Failover-Reason"), "drained");
    EXPECT_EQ(moved.header("X-Original-Placement"), "tier1");
    EXPECT_EQ(request(port, "GET", "/", {{"X-Routing-Key", "visa"}}).header("X-Routed-To"), "visa");  // not drained
    const std::string metrics = request(admin, "GET", "/metrics").body;
    EXPECT_EQ(metric_value(metrics, R"(cellrouter_drain_share{placement="tier1",to="tier3"})"), 1.0) << metrics;
    EXPECT_GE(metric_value(metrics, R"(cellrouter_failovers_total{placement="tier1",reason="drained"})").value_or(0),
              tenants);
    EXPECT_GT(metric_value(metrics, R"(cellrouter_requests_total{placement="tier3",reason="failover_drained",code="2xx"})")
                  .value_or(0),
              0)
        << metrics;

    write(config_with("3.0.0", {{"drains", {{"tier1", {{"to", "tier3"}, {"start", rfc3339(Clock::now())}, {"ramp", "1s"},
                                                       {"from_share", 1.0}, {"to_share", 0.0}}}}}}));
    ASSERT_TRUE(eventually([&] {
        return serves(port, "3.0.0") && debug_config(port)["operations"]["drains"]["tier1"]["share_now"] == 0.0;
    }, 5s));
    EXPECT_EQ(sweep(port), (std::map<std::string, int>{{"tier1/", tenants}}));
    load.stop();
    EXPECT_EQ(load.failed(), 0) << load.last_failure();
    EXPECT_GT(load.ok(), 0);
    std::printf("[ measure  ] %ld requests under the drain and undrain, none failed; the drain took %lld ms\n", load.ok(),
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()));
}

// A pin sends acme to tier2 on two routers reading the same file, with "X-Route-Reason: override"
// and the pin in /debug/route; when it expires both send acme back to tier1 within a second of
// its time, and not before it.
TEST_F(OperationsTest, PinExpiresOnEveryRouterWithinASecond) {
    write(config_with("1.0.0", nullptr));
    deployment_.start_router();
    Process second({CELL_ROUTER_BINARY, "--config", deployment_.config_path().string(), "--port", "0", "--listen",
                    "127.0.0.1", "--threads", "1", "--reload-interval", "200ms"},
                   deployment_.dir().path(), "router-2");
    const std::vector<unsigned short> ports{deployment_.router_port(), proxy_port_of(second)};
    // The pin is written once both routers run, so that a slow start (a sanitizer build) does
    // not eat into its lifetime.
    const auto expires = Clock::now() + 8s;
    write(config_with("2.0.0", {{"pins", {{"acme", {{"placement", "tier2"}, {"expires", rfc3339(expires)},
                                                    {"reason", "debugging acme"}}}}}}));
    ASSERT_TRUE(eventually([&] { return serves(ports[0], "2.0.0") && serves(ports[1], "2.0.0"); }, 7s));
    for (const auto port : ports) {
        const auto pinned = request(port, "GET", "/", {{"X-Routing-Key", "acme"}});
        EXPECT_EQ(pinned.header("X-Routed-To"), "tier2");
        EXPECT_EQ(pinned.header("X-Route-Reason"), "override");
    }
    const auto preview = request(deployment_.router_port(), "GET", "/debug/config").json()["operations"]["pins"]["acme"];
    EXPECT_EQ(preview["active"], true);
    EXPECT_EQ(preview["reason"], "debugging acme");

    std::vector<std::optional<Clock::time_point>> flipped(ports.size());
    while (Clock::now() < expires + 3s && (!flipped[0] || !flipped[1])) {
        for (std::size_t i = 0; i < ports.size(); ++i) {
            if (!flipped[i] && request(ports[i], "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To") == "tier1") {
                flipped[i] = Clock::now();
            }
        }
        std::this_thread::sleep_for(20ms);  // sampling the routers, not waiting for an event
    }
    for (std::size_t i = 0; i < ports.size(); ++i) {
        ASSERT_TRUE(flipped[i].has_value()) << "router " << i << " still pins acme after the expiry";
        const auto late = std::chrono::duration_cast<std::chrono::milliseconds>(*flipped[i] - expires).count();
        std::printf("[ measure  ] router %zu routes acme back %lld ms after the pin's expiry\n", i,
                    static_cast<long long>(late));
        EXPECT_GE(late, 0);
        EXPECT_LE(late, 1000);
    }
    const auto after = request(ports[1], "GET", "/", {{"X-Routing-Key", "acme"}});
    EXPECT_EQ(after.header("X-Route-Reason"), "tier");
    EXPECT_TRUE(second.terminate().has_value());
}

// A pause answers acme 503 with Retry-After (for 4 s) and never reaches tier1, while globex (also tier1)
// is served throughout; when the pause ends acme reaches tier1 again.
TEST_F(OperationsTest, PauseKeepsTheKeyAwayFromItsCell) {
    write(config_with("1.0.0", nullptr));
    deployment_.start_router({"--admin-port", std::to_string(free_port())});
    const auto port = deployment_.router_port();
    const auto admin = admin_port_of(deployment_.router());
    KeepAliveLoad other(port, "globex");

    const auto until = Clock::now() + 4s;
    write(config_with("2.0.0", {{"pauses", {{"acme", {{"until", rfc3339(until)}, {"retry_after", "5s"},
                                                     {"reason", "moving acme"}}}}}}));
    ASSERT_TRUE(eventually([&] { return serves(port, "2.0.0"); }));
    const auto route = request(admin, "GET", "/debug/route?key=acme").json();
    EXPECT_EQ(route["status"], 503) << route.dump();
    EXPECT_EQ(route["pause"]["reason"], "moving acme") << route.dump();
    const auto paused_from = Clock::now();
    int answered = 0;
    while (Clock::now() < until - 500ms) {
        const auto paused = request(port, "GET", "/", {{"X-Routing-Key", "acme"}});
        EXPECT_EQ(paused.status, 503);
        EXPECT_EQ(paused.header("Retry-After"), "5");
        EXPECT_EQ(paused.header("X-Route-Reason"), "paused");
        EXPECT_EQ(paused.json()["error"], "paused");
        EXPECT_NE(paused.json()["message"].get<std::string>().find("moving acme"), std::string::npos);
        ++answered;
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_GT(answered, 10);

    // No acme request reached tier1 while paused (none was sent to it before either).
    const auto acme_lines = [&] {
        const auto lines = deployment_.cell("tier1").json_lines();
        return std::count_if(lines.begin(), lines.end(), [](const Json& line) {
            return line.value("event", "") == "request" && line.value("routing_key", "") == "acme";
        });
    };
    EXPECT_EQ(acme_lines(), 0);

    ASSERT_TRUE(eventually([&] { return request(port, "GET", "/", {{"X-Routing-Key", "acme"}}).status == 200; }, 5s));
    EXPECT_GE(Clock::now(), until);
    EXPECT_TRUE(eventually([&] { return acme_lines() >= 1; }));  // and the cell sees it once the pause ended
    other.stop();
    EXPECT_EQ(other.failed(), 0) << other.last_failure();
    EXPECT_GT(other.ok(), 0);
    std::printf("[ measure  ] acme answered 503 %d times in %lld ms of pause\n", answered,
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - paused_from).count()));
}

}  // namespace
}  // namespace cell::testing
