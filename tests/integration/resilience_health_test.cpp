// M4 health checks through the real router and demo cells: an unhealthy cell is avoided and
// comes back, fallback chains, fail open, health settings changed by reloads, and placement
// policy pushed by the real control plane.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include "harness.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;

long long elapsed_ms(Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

// Short enough to keep the tests fast, with a timeout that a loaded (or ASan) machine still
// answers /health within.
Json fast_health(const std::string& path = "/health") {
    return Json{{"path", path}, {"interval", "250ms"}, {"timeout", "200ms"}, {"healthy_threshold", 2},
                {"unhealthy_threshold", 2}};
}

// The seed's four cells behind a router whose config uses M4 placements with `policies`, and
// whose admin port is known.
class Rig {
public:
    explicit Rig(const Json& policies, const std::string& version = "1.0.0")
        : deployment_(Deployment::Options{.start_router = false}) {
        deployment_.write_config(config(policies, version));
        deployment_.start_router({"--admin-port", std::to_string(free_port())});
        router_listening_ = Clock::now();
        admin_ = admin_port_of(deployment_.router());
    }

    Json config(const Json& policies, const std::string& version) const {
        return with_placements(deployment_.config(version), policies);
    }
    // Writes a new config file and waits until the router serves its version.
    void reload(const Json& policies, const std::string& version) {
        deployment_.write_config(config(policies, version));
        ASSERT_TRUE(eventually([&] { return admin_json("/debug/config")["version"] == version; }, 10s))
            << "version " << version << " was not applied: " << admin_json("/debug/config").dump();
    }

    Deployment& deployment() { return deployment_; }
    unsigned short admin() const { return admin_; }
    // When the router was seen listening (its health checks start right after).
    Clock::time_point router_listening() const { return router_listening_; }
    Json admin_json(const std::string& target) const { return request(admin_, "GET", target).json(); }
    Json placement(const std::string& name) const { return admin_json("/debug/placements")["placements"][name]; }
    std::string health_state(const std::string& name) const { return placement(name)["health"]["state"]; }
    Json route(const std::string& key) const { return admin_json("/debug/route?key=" + key); }

    Response send(const std::string& key, const std::string& target = "/") const {
        return request(deployment_.router_port(), "GET", target, {{"X-Routing-Key", key}});
    }

    // POST /admin/health?status=fail|ok on the cell itself.
    void set_cell_health(const std::string& cell, const std::string& status) {
        const auto response = request(deployment_.cell_port(cell), "POST", "/admin/health?status=" + status);
        EXPECT_EQ(response.status, 200) << response.body;
    }

private:
    Deployment deployment_;
    Clock::time_point router_listening_;
    unsigned short admin_ = 0;
};

void expect_no_failover(const Response& response) {
    EXPECT_FALSE(response.has_header("X-Failover-Reason")) << response.header("X-Failover-Reason");
    EXPECT_FALSE(response.has_header("X-Original-Placement")) << response.header("X-Original-Placement");
}

// A cell whose health check fails is avoided within a few intervals: its requests go to the
// fallback, saying why; the admin endpoints show and explain it. Once the cell is healthy again
// the traffic returns, without failover headers.
TEST(ResilienceHealth, UnhealthyPlacementIsAvoidedUntilItRecovers) {
    Rig rig(Json{{"tier1", {{"type", "shared"}, {"fallback", "tier3"}, {"health_check", fast_health()}}}});
    ASSERT_TRUE(eventually([&] { return rig.health_state("tier1") == "healthy"; }, 5s))
        << rig.placement("tier1").dump();
    const auto before = rig.send("acme");
    ASSERT_EQ(before.status, 200);
    EXPECT_EQ(before.header("X-Routed-To"), "tier1");
    expect_no_failover(before);

    rig.set_cell_health("tier1", "fail");
    const auto failed_at = Clock::now();
    Response after;
    ASSERT_TRUE(eventually(
        [&] {
            after = rig.send("acme", "/while-unhealthy");
            return after.header("X-Routed-To") == "tier3";
        },
        5s))
        << "still routed to " << after.header("X-Routed-To") << "; " << rig.placement("tier1").dump();
    std::printf("[ health ] tier1 avoided %lld ms after its /health started failing (interval 250ms, threshold 2)\n",
                elapsed_ms(failed_at));
    EXPECT_EQ(after.status, 200);
    EXPECT_EQ(after.json()["cell"], "tier3");
    EXPECT_EQ(after.header("X-Failover-Reason"), "unhealthy");
    EXPECT_EQ(after.header("X-Original-Placement"), "tier1");
    EXPECT_EQ(after.header("X-Route-Reason"), "tier");

    const auto health = rig.placement("tier1")["health"];
    EXPECT_EQ(health["state"], "unhealthy") << health.dump();
    EXPECT_EQ(health["routable"], false);
    EXPECT_GE(health["consecutive_failures"].get<int>(), 2);
    EXPECT_GE(health["failed_probes"].get<int>(), 2);
    EXPECT_GE(health["probes"].get<int>(), 4);  // two successes before, two failures after
    ASSERT_TRUE(health["last_probe"].is_object()) << health.dump();
    EXPECT_EQ(health["last_probe"]["success"], false);
    EXPECT_EQ(health["last_probe"]["detail"], "HTTP 503");

    const auto route = rig.route("acme");
    EXPECT_EQ(route["routing_key"], "acme");
    EXPECT_EQ(route["routed_placement"], "tier1");
    EXPECT_EQ(route["route_reason"], "tier");
    EXPECT_EQ(route["would_serve"], "tier3") << route.dump();
    EXPECT_EQ(route["failover_reason"], "unhealthy");
    EXPECT_EQ(route["fail_open"], false);
    const std::string explanation = route.value("explanation", "");
    EXPECT_NE(explanation.find("unhealthy"), std::string::npos) << explanation;
    EXPECT_NE(explanation.find("tier3"), std::string::npos) << explanation;

    const auto logged = rig.deployment().router().wait_for_line([](const Json& line) {
        return line.value("event", "") == "access" && line.value("path", "") == "/while-unhealthy" &&
               line.value("placement_key", "") == "tier3";
    });
    ASSERT_TRUE(logged.has_value());
    EXPECT_EQ((*logged)["failover_reason"], "unhealthy");
    EXPECT_EQ((*logged)["original_placement"], "tier1");
    EXPECT_TRUE(rig.deployment()
                    .router()
                    .wait_for_line([](const Json& line) {
                        return line.value("event", "") == "health_changed" && line.value("placement", "") == "tier1" &&
                               line.value("status", "") == "unhealthy";
                    })
                    .has_value());

    rig.set_cell_health("tier1", "ok");
    Response back;
    ASSERT_TRUE(eventually(
        [&] {
            back = rig.send("acme", "/recovered");
            return back.header("X-Routed-To") == "tier1";
        },
        5s))
        << rig.placement("tier1").dump();
    EXPECT_EQ(back.status, 200);
    EXPECT_EQ(back.json()["cell"], "tier1");
    EXPECT_EQ(back.header("X-Route-Reason"), "tier");
    expect_no_failover(back);
    EXPECT_EQ(rig.health_state("tier1"), "healthy");
    const auto route_back = rig.route("acme");
    EXPECT_EQ(route_back["would_serve"], "tier1");
    EXPECT_TRUE(route_back["failover_reason"].is_null()) << route_back.dump();
}

// visa -> tier1 -> tier3: each unhealthy step is skipped, and the original placement is named.
// A placement without a fallback falls back to the default placement.
TEST(ResilienceHealth, FallbackChainSkipsEveryUnhealthyPlacement) {
    Rig rig(Json{{"visa", {{"type", "dedicated"}, {"fallback", "tier1"}, {"health_check", fast_health()}}},
                 {"tier1", {{"type", "shared"}, {"fallback", "tier3"}, {"health_check", fast_health()}}},
                 {"tier2", {{"type", "shared"}, {"health_check", fast_health()}}},
                 {"tier3", {{"type", "shared"}}}});
    for (const std::string name : {"visa", "tier1", "tier2"}) {
        ASSERT_TRUE(eventually([&] { return rig.health_state(name) == "healthy"; }, 5s)) << name;
    }
    EXPECT_EQ(rig.send("visa").header("X-Routed-To"), "visa");

    rig.set_cell_health("visa", "fail");
    Response response;
    ASSERT_TRUE(eventually(
        [&] {
            response = rig.send("visa");
            return response.header("X-Routed-To") == "tier1";
        },
        5s));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.json()["cell"], "tier1");
    EXPECT_EQ(response.header("X-Failover-Reason"), "unhealthy");
    EXPECT_EQ(response.header("X-Original-Placement"), "visa");
    EXPECT_EQ(response.header("X-Route-Reason"), "dedicated");

    rig.set_cell_health("tier1", "fail");
    ASSERT_TRUE(eventually(
        [&] {
            response = rig.send("visa");
            return response.header("X-Routed-To") == "tier3";
        },
        5s))
        << rig.admin_json("/debug/placements").dump();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.json()["cell"], "tier3");
    EXPECT_EQ(response.header("X-Failover-Reason"), "unhealthy");
    EXPECT_EQ(response.header("X-Original-Placement"), "visa");
    EXPECT_EQ(response.header("X-Route-Reason"), "dedicated");

    const auto acme = rig.send("acme");
    EXPECT_EQ(acme.header("X-Routed-To"), "tier3");
    EXPECT_EQ(acme.header("X-Original-Placement"), "tier1");

    // tier2 has no fallback: the default placement (tier3) takes its traffic.
    EXPECT_EQ(rig.send("globex").header("X-Routed-To"), "tier2");
    rig.set_cell_health("tier2", "fail");
    ASSERT_TRUE(eventually(
        [&] {
            response = rig.send("globex");
            return response.header("X-Routed-To") == "tier3";
        },
        5s));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.header("X-Failover-Reason"), "unhealthy");
    EXPECT_EQ(response.header("X-Original-Placement"), "tier2");
    EXPECT_EQ(response.header("X-Route-Reason"), "tier");
}

// When every candidate is unhealthy the router fails open: the routed placement serves anyway
// (no 5xx), the access log and a warning say so, and /debug/route explains it.
TEST(ResilienceHealth, EveryCandidateUnhealthyFailsOpen) {
    Rig rig(Json{{"visa", {{"type", "dedicated"}, {"fallback", "tier1"}, {"health_check", fast_health()}}},
                 {"tier1", {{"type", "shared"}, {"health_check", fast_health()}}},
                 {"tier3", {{"type", "shared"}, {"health_check", fast_health()}}}});
    for (const std::string name : {"visa", "tier1", "tier3"}) {
        rig.set_cell_health(name, "fail");
    }
    for (const std::string name : {"visa", "tier1", "tier3"}) {
        ASSERT_TRUE(eventually([&] { return rig.health_state(name) == "unhealthy"; }, 5s))
            << name << ": " << rig.placement(name).dump();
    }

    for (int i = 0; i < 10; ++i) {
        const auto response = rig.send("visa", "/fail-open");
        ASSERT_EQ(response.status, 200) << response.body;
        EXPECT_EQ(response.header("X-Routed-To"), "visa");
        EXPECT_EQ(response.header("X-Route-Reason"), "dedicated");
        EXPECT_EQ(response.json()["cell"], "visa");
        expect_no_failover(response);
    }
    // tier1 (no fallback; default tier3 unhealthy too) and an unknown key (default tier3).
    const auto acme = rig.send("acme");
    EXPECT_EQ(acme.status, 200);
    EXPECT_EQ(acme.header("X-Routed-To"), "tier1");
    expect_no_failover(acme);
    const auto unknown = rig.send("nobody-knows-me");
    EXPECT_EQ(unknown.status, 200);
    EXPECT_EQ(unknown.header("X-Routed-To"), "tier3");
    EXPECT_EQ(unknown.header("X-Route-Reason"), "default");

    auto& router = rig.deployment().router();
    const auto access = router.wait_for_line([](const Json& line) {
        return line.value("event", "") == "access" && line.value("path", "") == "/fail-open";
    });
    ASSERT_TRUE(access.has_value());
    EXPECT_EQ((*access)["fail_open"], true);
    EXPECT_EQ((*access)["status_code"], 200);
    EXPECT_EQ((*access)["placement_key"], "visa");
    const auto warning = router.wait_for_line([](const Json& line) {
        return line.value("event", "") == "fail_open" && line.value("placement", "") == "visa";
    });
    ASSERT_TRUE(warning.has_value()) << router.stdout_text().substr(0, 4000);
    EXPECT_EQ((*warning)["routed_placement"], "visa");
    // Rate-limited: ten requests within a second or two log at most a few warnings for visa.
    std::size_t warnings = 0;
    for (const auto& line : router.json_lines()) {
        warnings += line.value("event", "") == "fail_open" && line.value("placement", "") == "visa";
    }
    EXPECT_LE(warnings, 5u);

    // The admin preview explains it (last: an admin failure must not hide the checks above).
    const auto route = rig.route("visa");
    EXPECT_EQ(route["would_serve"], "visa") << route.dump();
    EXPECT_EQ(route["fail_open"], true);
    EXPECT_TRUE(route["failover_reason"].is_null());
    EXPECT_NE(route.value("explanation", "").find("fail open"), std::string::npos) << route.dump();
}

// Reloads change the health check of a placement whose probes are running: a path the cell
// answers 503 makes it unhealthy, the old path makes it healthy again, and removing the health
// check makes it routable at once and stops its probes.
TEST(ResilienceHealth, ReloadedHealthSettingsApplyToRunningProbes) {
    const auto policies = [](const Json& health_check) {
        Json tier1{{"type", "shared"}, {"fallback", "tier3"}};
        if (!health_check.is_null()) {
            tier1["health_check"] = health_check;
        }
        return Json{{"tier1", tier1}};
    };
    const std::string failing_path = "/nonexistent?status=503";
    Rig rig(policies(fast_health("/health")), "1.0.0");
    ASSERT_TRUE(eventually([&] { return rig.health_state("tier1") == "healthy"; }, 5s));

    ASSERT_NO_FATAL_FAILURE(rig.reload(policies(fast_health(failing_path)), "2.0.0"));
    EXPECT_EQ(rig.placement("tier1")["policy"]["health_check"]["path"], failing_path);
    ASSERT_TRUE(eventually([&] { return rig.health_state("tier1") == "unhealthy"; }, 5s))
        << rig.placement("tier1").dump();
    EXPECT_EQ(rig.placement("tier1")["health"]["last_probe"]["detail"], "HTTP 503");
    EXPECT_FALSE(cell_request_lines(rig.deployment(), "/nonexistent").empty()) << "the new path was never probed";
    Response response;
    ASSERT_TRUE(eventually(
        [&] {
            response = rig.send("acme");
            return response.header("X-Routed-To") == "tier3";
        },
        5s));
    EXPECT_EQ(response.header("X-Failover-Reason"), "unhealthy");

    ASSERT_NO_FATAL_FAILURE(rig.reload(policies(fast_health("/health")), "3.0.0"));
    ASSERT_TRUE(eventually([&] { return rig.health_state("tier1") == "healthy"; }, 5s))
        << rig.placement("tier1").dump();
    ASSERT_TRUE(eventually(
        [&] {
            response = rig.send("acme");
            return response.header("X-Routed-To") == "tier1";
        },
        5s));
    expect_no_failover(response);

    ASSERT_NO_FATAL_FAILURE(rig.reload(policies(fast_health(failing_path)), "4.0.0"));
    ASSERT_TRUE(eventually([&] { return rig.health_state("tier1") == "unhealthy"; }, 5s));
    ASSERT_TRUE(eventually([&] { return rig.send("acme").header("X-Routed-To") == "tier3"; }, 5s));

    // No health check: routable at once, whatever the last probes said.
    ASSERT_NO_FATAL_FAILURE(rig.reload(policies(nullptr), "5.0.0"));
    const auto health = rig.placement("tier1")["health"];
    EXPECT_EQ(health["state"], "not_checked") << health.dump();
    EXPECT_EQ(health["routable"], true);
    EXPECT_TRUE(rig.placement("tier1")["policy"]["health_check"].is_null());
    // Every worker picks the table up within moments; the unhealthy verdict must not linger.
    ASSERT_TRUE(eventually(
        [&] {
            response = rig.send("acme");
            return response.header("X-Routed-To") == "tier1";
        },
        2s))
        << "still routed to " << response.header("X-Routed-To");
    expect_no_failover(response);

    // Its prober stopped: at most a probe already in flight reaches the cell afterwards.
    const auto probes_then = cell_request_lines(rig.deployment(), "/nonexistent").size();
    std::this_thread::sleep_for(1200ms);  // nearly five intervals
    const auto probes_now = cell_request_lines(rig.deployment(), "/nonexistent").size();
    EXPECT_LE(probes_now, probes_then + 1) << "the removed health check is still probing";

}

// A health check removed while the placement was unhealthy and later added back starts from
// scratch ("unknown", routable), like a new placement: the verdict of the old check, made
// under other settings, must not keep the placement out of service.
TEST(ResilienceHealth, ReaddedHealthCheckStartsFresh) {
    const auto policies = [](const Json& health_check) {
        Json tier1{{"type", "shared"}, {"fallback", "tier3"}};
        if (!health_check.is_null()) {
            tier1["health_check"] = health_check;
        }
        return Json{{"tier1", tier1}};
    };
    Rig rig(policies(fast_health("/nonexistent?status=503")), "1.0.0");
    ASSERT_TRUE(eventually([&] { return rig.health_state("tier1") == "unhealthy"; }, 5s));
    ASSERT_NO_FATAL_FAILURE(rig.reload(policies(nullptr), "2.0.0"));
    ASSERT_TRUE(eventually([&] { return rig.send("acme").header("X-Routed-To") == "tier1"; }, 2s));

    // Slow to become healthy (three probes a second apart): anything but a fresh start shows.
    const Json slow_check{{"path", "/health"}, {"interval", "1s"}, {"timeout", "500ms"},
                          {"healthy_threshold", 3}, {"unhealthy_threshold", 3}};
    ASSERT_NO_FATAL_FAILURE(rig.reload(policies(slow_check), "3.0.0"));
    const auto health = rig.placement("tier1")["health"];
    EXPECT_NE(health["state"], "unhealthy") << "the removed check's verdict came back: " << health.dump();
    EXPECT_EQ(health["routable"], true) << health.dump();
    Response response;
    EXPECT_TRUE(eventually(
        [&] {
            response = rig.send("acme");
            return response.header("X-Routed-To") == "tier1";
        },
        1s))
        << "routed to " << response.header("X-Routed-To") << " with X-Failover-Reason "
        << response.header("X-Failover-Reason") << "; " << rig.placement("tier1")["health"].dump();
}

// A placement whose URL changes starts with a fresh health state (the old cell's failures are
// not the new cell's), and the old cell is no longer probed.
TEST(ResilienceHealth, ChangedUrlStartsWithFreshHealthState) {
    Rig rig(Json{{"tier1", {{"type", "shared"}, {"fallback", "tier3"}, {"health_check", fast_health()}}}});
    rig.set_cell_health("tier1", "fail");
    ASSERT_TRUE(eventually([&] { return rig.health_state("tier1") == "unhealthy"; }, 5s));
    ASSERT_TRUE(eventually([&] { return rig.send("acme").header("X-Routed-To") == "tier3"; }, 5s));

    // tier1 now points at the (healthy) cell named tier2.
    const Json moved{{"tier1",
                      {{"url", "http://127.0.0.1:" + std::to_string(rig.deployment().cell_port("tier2"))},
                       {"type", "shared"},
                       {"fallback", "tier3"},
                       {"health_check", fast_health()}}}};
    ASSERT_NO_FATAL_FAILURE(rig.reload(moved, "2.0.0"));
    const auto health = rig.placement("tier1")["health"];
    EXPECT_NE(health["state"], "unhealthy") << health.dump();
    EXPECT_EQ(health["routable"], true);
    EXPECT_EQ(health["consecutive_failures"], 0) << health.dump();
    Response response;
    ASSERT_TRUE(eventually(
        [&] {
            response = rig.send("acme");
            return response.header("X-Routed-To") == "tier1";
        },
        2s));
    EXPECT_EQ(response.json()["cell"], "tier2");
    expect_no_failover(response);
    EXPECT_TRUE(eventually([&] { return rig.health_state("tier1") == "healthy"; }, 5s));

    const auto old_cell_probes = [&] {
        std::size_t count = 0;
        for (const auto& line : cell_request_lines(rig.deployment(), "/health")) {
            count += line.value("cell", "") == "tier1";
        }
        return count;
    };
    const auto then = old_cell_probes();
    std::this_thread::sleep_for(1200ms);
    EXPECT_LE(old_cell_probes(), then + 1) << "the old URL is still probed";
}

// The first probe does not wait a whole (long) interval: it comes within min(interval, 1s).
TEST(ResilienceHealth, FirstProbeComesWithinASecond) {
    const Json slow_check{{"path", "/nonexistent?status=503"}, {"interval", "30s"}, {"timeout", "1s"},
                          {"healthy_threshold", 1}, {"unhealthy_threshold", 1}};
    Rig rig(Json{{"tier1", {{"type", "shared"}, {"fallback", "tier3"}, {"health_check", slow_check}}}});
    ASSERT_TRUE(eventually([&] { return rig.health_state("tier1") == "unhealthy"; }, 5s))
        << rig.placement("tier1").dump();
    const auto seen_after = Clock::now() - rig.router_listening();
    // At most 1 s of first-probe delay, plus this test's polling of /debug/placements.
    EXPECT_LT(seen_after, 1500ms) << "the first probe came after "
                                  << std::chrono::duration_cast<std::chrono::milliseconds>(seen_after).count()
                                  << " ms";
    EXPECT_EQ(rig.placement("tier1")["health"]["probes"], 1);
}

// A reload that shortens the interval takes effect at once, not after the long wait already
// under way.
TEST(ResilienceHealth, ShorterIntervalFromReloadAppliesAtOnce) {
    const auto policies = [](const std::string& path, const std::string& interval) {
        return Json{{"tier1",
                     {{"type", "shared"},
                      {"fallback", "tier3"},
                      {"health_check",
                       {{"path", path}, {"interval", interval}, {"timeout", "200ms"}, {"healthy_threshold", 1},
                        {"unhealthy_threshold", 2}}}}}};
    };
    Rig rig(policies("/health", "30s"), "1.0.0");
    ASSERT_TRUE(eventually([&] { return rig.health_state("tier1") == "healthy"; }, 5s));  // the first probe
    ASSERT_NO_FATAL_FAILURE(rig.reload(policies("/nonexistent?status=503", "250ms"), "2.0.0"));
    EXPECT_TRUE(eventually([&] { return rig.health_state("tier1") == "unhealthy"; }, 5s))
        << "the 30s wait was kept: " << rig.placement("tier1").dump();
}

// A /health answer slower than the check's timeout is a failed probe.
TEST(ResilienceHealth, HealthAnswerSlowerThanTimeoutIsAFailure) {
    Rig rig(Json{{"tier1",
                  {{"type", "shared"}, {"fallback", "tier3"}, {"health_check", fast_health("/health?delay_ms=600")}}}});
    ASSERT_TRUE(eventually([&] { return rig.health_state("tier1") == "unhealthy"; }, 5s))
        << rig.placement("tier1").dump();
    EXPECT_EQ(rig.placement("tier1")["health"]["last_probe"]["detail"], "timeout after 200ms");
    EXPECT_EQ(rig.send("acme").header("X-Routed-To"), "tier3");
}

// GET /debug/route without a usable key is a 400, however the key is missing, and the router
// keeps running. Each probe runs right after a request whose query was longer, so that a parser
// reading past the end of the query would pick up its leftovers.
TEST(ResilienceAdmin, DebugRouteWithoutKeyIs400) {
    Rig rig(Json::object());
    const auto get = [&](const std::string& target) -> std::optional<Response> {
        try {
            return request(rig.admin(), "GET", target);
        } catch (const std::exception& error) {
            ADD_FAILURE() << target << ": " << error.what();
            return std::nullopt;
        }
    };
    for (int round = 0; round < 5; ++round) {
        for (const std::string target : {"/debug/route?key=", "/debug/route?", "/debug/route?other=1"}) {
            const auto previous = get("/debug/route?key=acme&padding=" + std::string(40, 'p'));
            ASSERT_TRUE(previous.has_value());
            const auto response = get(target);
            ASSERT_TRUE(response.has_value());
            EXPECT_EQ(response->status, 400) << target << " -> " << response->body;
        }
        const auto known = get("/debug/route?key=acme");
        ASSERT_TRUE(known.has_value());
        EXPECT_EQ(known->json()["routing_key"], "acme") << known->body;
    }
    const auto bare = get("/debug/route");
    if (bare) {
        EXPECT_EQ(bare->status, 400);
        EXPECT_EQ(bare->json()["error"], "missing_key") << bare->body;
    }
    EXPECT_TRUE(rig.deployment().router().running()) << "the router died; stderr: "
                                                     << rig.deployment().router().stderr_text();
}

// A placement policy pushed by the real control plane reaches the router: /debug/placements
// shows it, the health check from the snapshot runs, and its limits are enforced.
TEST(ResilienceControlPlane, PushedSnapshotCarriesPlacementPolicy) {
    Deployment deployment(Deployment::Options{.start_router = false});
    deployment.write_config(deployment.config("0.0.1"));  // the router's bootstrap: no policies
    const auto pushed = [&](const std::string& version, int concurrency_limit) {
        return with_placements(
            deployment.config(version),
            Json{{"tier1",
                  {{"type", "shared"},
                   {"fallback", "tier3"},
                   {"health_check", fast_health()},
                   {"circuit_breaker", {{"failure_threshold", 4}, {"timeout", "15s"}}},
                   {"concurrency_limit", concurrency_limit},
                   {"max_request_body_bytes", 4096},
                   {"rate_limit", {{"requests_per_second", 50}, {"burst", 20}}},
                   {"connect_timeout", "1s"},
                   {"response_timeout", "3s"}}},
                 {"visa", {{"type", "dedicated"}, {"fallback", "tier1"}}}});
    };

    TempDir cp_dir;
    const auto cp_config = cp_dir.file("routing.json");
    write_file_atomically(cp_config, pushed("4.2.0", 7).dump(2));
    Process control_plane({CELL_CONTROL_PLANE_BINARY, "--config", cp_config.string(), "--port", "0", "--listen",
                           "127.0.0.1", "--poll-interval", "100ms"},
                          cp_dir.path(), "control-plane");
    const auto listening = control_plane.wait_for_line(
        [](const Json& l) { return l.value("event", "") == "listening" && l.value("listener", "") == "control_plane"; },
        15s);
    ASSERT_TRUE(listening.has_value()) << control_plane.stderr_text();
    const auto cp_port = (*listening)["port"].get<int>();

    deployment.start_router({"--control-plane", "ws://127.0.0.1:" + std::to_string(cp_port) + "/connect",
                             "--node-id", "m4-router", "--config-cache",
                             deployment.dir().file("cache.json").string(), "--admin-port",
                             std::to_string(free_port())});
    const auto admin = admin_port_of(deployment.router());
    const auto placements = [&] { return request(admin, "GET", "/debug/placements").json(); };
    ASSERT_TRUE(eventually([&] { return placements()["version"] == "4.2.0"; }, 15s)) << placements().dump();

    const auto all = placements();
    const auto tier1 = all["placements"]["tier1"];
    const auto policy = tier1["policy"];
    EXPECT_EQ(tier1["type"], "shared");
    EXPECT_EQ(policy["fallback"], "tier3");
    EXPECT_EQ(policy["concurrency_limit"], 7);
    EXPECT_EQ(policy["max_request_body_bytes"], 4096);
    EXPECT_EQ(policy["rate_limit"]["requests_per_second"], 50);
    EXPECT_EQ(policy["rate_limit"]["burst"], 20);
    EXPECT_EQ(policy["circuit_breaker"]["failure_threshold"], 4);
    EXPECT_EQ(policy["circuit_breaker"]["timeout"], "15s");
    EXPECT_EQ(policy["health_check"]["path"], "/health");
    EXPECT_EQ(policy["health_check"]["interval"], "250ms");
    EXPECT_EQ(policy["connect_timeout"], "1s");
    EXPECT_EQ(policy["response_timeout"], "3s");
    EXPECT_EQ(tier1["concurrency_limit"], 7);
    EXPECT_EQ(tier1["in_flight"], 0);
    EXPECT_EQ(tier1["rate_limit"]["burst"], 20);
    EXPECT_EQ(tier1["circuit_breaker"]["state"], "closed");
    EXPECT_EQ(all["placements"]["visa"]["type"], "dedicated");
    EXPECT_EQ(all["placements"]["visa"]["policy"]["fallback"], "tier1");
    const auto tier2 = all["placements"]["tier2"];
    EXPECT_TRUE(tier2["policy"]["fallback"].is_null());
    EXPECT_TRUE(tier2["concurrency_limit"].is_null());
    EXPECT_EQ(tier2["health"]["state"], "not_checked");
    EXPECT_EQ(tier2["circuit_breaker"]["state"], "disabled");

    // The snapshot's health check runs, and its body limit is enforced.
    EXPECT_TRUE(eventually([&] { return placements()["placements"]["tier1"]["health"]["state"] == "healthy"; }, 5s))
        << placements()["placements"]["tier1"].dump();
    const auto ok = request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "acme"}});
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.header("X-Routed-To"), "tier1");
    const auto too_big =
        request(deployment.router_port(), "POST", "/", {{"X-Routing-Key", "acme"}}, std::string(5000, 'x'));
    EXPECT_EQ(too_big.status, 413) << too_big.body;

    // A changed policy on the control plane reaches the router too.
    write_file_atomically(cp_config, pushed("4.3.0", 3).dump(2));
    EXPECT_TRUE(eventually([&] { return placements()["placements"]["tier1"]["concurrency_limit"] == 3; }, 15s))
        << placements().dump();
    EXPECT_EQ(placements()["version"], "4.3.0");
    EXPECT_TRUE(control_plane.running()) << control_plane.stderr_text();
}

}  // namespace
}  // namespace cell::testing
