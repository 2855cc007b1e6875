// M4 circuit breakers through the real router and demo cells: consecutive failures open a
// breaker, traffic goes to the fallback (or 503 without one), a half-open breaker lets exactly
// one trial through, and answers that say nothing about the cell's health do not count.

#include <gtest/gtest.h>

#include <latch>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace cell::testing {
namespace {

Json breaker(int failure_threshold, const std::string& timeout) {
    return Json{{"failure_threshold", failure_threshold}, {"timeout", timeout}};
}

// The seed's four cells behind a router whose config uses M4 placements with `policies`, and
// whose admin port is known.
class Rig {
public:
    explicit Rig(const Json& policies) : deployment_(Deployment::Options{.start_router = false}) {
        deployment_.write_config(with_placements(deployment_.config("1.0.0"), policies));
        deployment_.start_router({"--admin-port", std::to_string(free_port())});
        admin_ = admin_port_of(deployment_.router());
    }

    Deployment& deployment() { return deployment_; }
    unsigned short admin() const { return admin_; }
    Json admin_json(const std::string& target) const { return request(admin_, "GET", target).json(); }
    Json placement(const std::string& name) const { return admin_json("/debug/placements")["placements"][name]; }
    Json breaker_of(const std::string& name) const { return placement(name)["circuit_breaker"]; }
    Json route(const std::string& key) const { return admin_json("/debug/route?key=" + key); }

    Response send(const std::string& key, const std::string& target = "/") const {
        return request(deployment_.router_port(), "GET", target, {{"X-Routing-Key", key}});
    }

    // `count` requests answered 500 by the cell `key` routes to; each must come from `cell`.
    void fail(const std::string& key, const std::string& cell, int count) {
        for (int i = 0; i < count; ++i) {
            const auto response = send(key, "/fail?status=500");
            ASSERT_EQ(response.status, 500) << response.body;
            ASSERT_EQ(response.header("X-Routed-To"), cell) << "failure " << i + 1;
        }
    }

private:
    Deployment deployment_;
    unsigned short admin_ = 0;
};

void expect_no_failover(const Response& response) {
    EXPECT_FALSE(response.has_header("X-Failover-Reason")) << response.header("X-Failover-Reason");
    EXPECT_FALSE(response.has_header("X-Original-Placement")) << response.header("X-Original-Placement");
}

// failure_threshold consecutive 5xx answers open the breaker: the next request goes to the
// fallback with X-Failover-Reason: circuit_open and never reaches the cell.
TEST(ResilienceBreaker, ConsecutiveFailuresOpenBreakerAndFallbackServes) {
    Rig rig(Json{{"tier1", {{"type", "shared"}, {"fallback", "tier3"}, {"circuit_breaker", breaker(3, "30s")}}}});
    ASSERT_NO_FATAL_FAILURE(rig.fail("acme", "tier1", 2));
    EXPECT_TRUE(eventually([&] { return rig.breaker_of("tier1")["consecutive_failures"] == 2; }, 5s))
        << rig.breaker_of("tier1").dump();
    auto state = rig.breaker_of("tier1");
    EXPECT_EQ(state["state"], "closed") << state.dump();
    ASSERT_NO_FATAL_FAILURE(rig.fail("acme", "tier1", 1));
    // The outcome is recorded once the exchange has ended, just after the client has its answer.
    ASSERT_TRUE(eventually([&] { return rig.breaker_of("tier1")["state"] == "open"; }, 5s))
        << rig.breaker_of("tier1").dump();
    state = rig.breaker_of("tier1");
    EXPECT_EQ(state["times_opened"], 1);
    EXPECT_EQ(state["failures"], 3);
    EXPECT_FALSE(state["open_until"].is_null());

    const auto response = rig.send("acme", "/after-open");
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.header("X-Routed-To"), "tier3");
    EXPECT_EQ(response.json()["cell"], "tier3");
    EXPECT_EQ(response.header("X-Failover-Reason"), "circuit_open");
    EXPECT_EQ(response.header("X-Original-Placement"), "tier1");
    EXPECT_EQ(response.header("X-Route-Reason"), "tier");
    EXPECT_GE(rig.breaker_of("tier1")["rejected"].get<int>(), 1);
    // Other placements are unaffected.
    EXPECT_EQ(rig.send("globex").header("X-Routed-To"), "tier2");
    ASSERT_TRUE(eventually([&] { return cell_request_lines(rig.deployment(), "/after-open").size() == 1; }, 5s));
    EXPECT_EQ(cell_request_lines(rig.deployment(), "/after-open").at(0)["cell"], "tier3");

    // The admin preview explains it (last: an admin failure must not hide the checks above).
    const auto route = rig.route("acme");
    EXPECT_EQ(route["routed_placement"], "tier1");
    EXPECT_EQ(route["would_serve"], "tier3") << route.dump();
    EXPECT_EQ(route["failover_reason"], "circuit_open");
}

// The default placement has no fallback: with its breaker open the router answers 503
// circuit_open itself. So does a placement whose fallback's breaker is open too.
TEST(ResilienceBreaker, OpenBreakerWithoutFallbackIs503) {
    Rig rig(Json{{"tier1", {{"type", "shared"}, {"fallback", "tier3"}, {"circuit_breaker", breaker(2, "30s")}}},
                 {"tier3", {{"type", "shared"}, {"circuit_breaker", breaker(2, "30s")}}}});
    ASSERT_NO_FATAL_FAILURE(rig.fail("nobody", "tier3", 2));  // an unknown key: the default placement
    ASSERT_TRUE(eventually([&] { return rig.breaker_of("tier3")["state"] == "open"; }, 5s))
        << rig.breaker_of("tier3").dump();

    const auto refused = rig.send("nobody", "/refused");
    ASSERT_EQ(refused.status, 503) << refused.body;
    EXPECT_EQ(refused.header("Content-Type"), "application/json");
    EXPECT_EQ(refused.json()["error"], "circuit_open") << refused.body;
    EXPECT_EQ(refused.header("X-Routed-To"), "tier3");
    EXPECT_EQ(refused.header("X-Route-Reason"), "default");

    // acme -> tier1 is fine; once tier1 opens too, its fallback (tier3) cannot take it either.
    EXPECT_EQ(rig.send("acme").header("X-Routed-To"), "tier1");
    ASSERT_NO_FATAL_FAILURE(rig.fail("acme", "tier1", 2));
    ASSERT_TRUE(eventually([&] { return rig.breaker_of("tier1")["state"] == "open"; }, 5s));
    const auto both_open = rig.send("acme", "/refused");
    EXPECT_EQ(both_open.status, 503) << both_open.body;
    EXPECT_EQ(both_open.json()["error"], "circuit_open");
    EXPECT_EQ(both_open.header("X-Failover-Reason"), "circuit_open");
    ASSERT_TRUE(sync_with_cells(rig.deployment()));
    EXPECT_TRUE(cell_request_lines(rig.deployment(), "/refused").empty()) << "a refused request reached a cell";
    EXPECT_TRUE(rig.deployment()
                    .router()
                    .wait_for_line([](const Json& line) {
                        return line.value("event", "") == "access" && line.value("path", "") == "/refused" &&
                               line.value("status_code", 0) == 503;
                    })
                    .has_value());

    // The admin preview says so too (last: an admin failure must not hide the checks above).
    const auto route = rig.route("nobody");
    EXPECT_TRUE(route["would_serve"].is_null()) << route.dump();
    EXPECT_EQ(route["status"], 503);
}

// Waits until the breaker of `placement`, open now, has outlived its `timeout`: it opened
// before it was seen open, so waiting the timeout (plus a margin) from now is enough. Without
// requests in between, nothing takes the trial meanwhile.
void wait_out_open_breaker(const Rig& rig, const std::string& placement, std::chrono::milliseconds timeout) {
    ASSERT_TRUE(eventually([&] { return rig.breaker_of(placement)["state"] == "open"; }, 5s))
        << rig.breaker_of(placement).dump();
    std::this_thread::sleep_for(timeout + 150ms);
    ASSERT_EQ(rig.breaker_of(placement)["state"], "open") << "only a request moves it on";
}

// After the timeout a half-open breaker lets exactly one trial through while it runs; the rest
// go to the fallback. The trial succeeding closes the breaker.
TEST(ResilienceBreaker, HalfOpenLetsExactlyOneTrialThrough) {
    Rig rig(Json{{"tier1", {{"type", "shared"}, {"fallback", "tier3"}, {"circuit_breaker", breaker(2, "1s")}}}});
    ASSERT_NO_FATAL_FAILURE(rig.fail("acme", "tier1", 2));
    ASSERT_NO_FATAL_FAILURE(wait_out_open_breaker(rig, "tier1", 1s));

    // Connected first, sent together: all eight are in the router well within the trial's second.
    constexpr int requests = 8;
    std::vector<std::unique_ptr<Connection>> connections;
    for (int i = 0; i < requests; ++i) {
        connections.push_back(std::make_unique<Connection>(rig.deployment().router_port()));
    }
    std::latch start(requests);
    std::vector<Response> responses(requests);
    std::vector<std::string> errors(requests);
    std::vector<std::thread> clients;
    for (int i = 0; i < requests; ++i) {
        clients.emplace_back([&, i] {
            try {
                start.arrive_and_wait();
                connections[i]->send(make_request("GET", "/trial?delay_ms=1000", {{"X-Routing-Key", "acme"}}));
                responses[i] = connections[i]->read_response();
            } catch (const std::exception& error) {
                errors[i] = error.what();
            }
        });
    }
    for (auto& client : clients) {
        client.join();
    }
    std::map<std::string, int> served_by;
    for (int i = 0; i < requests; ++i) {
        ASSERT_TRUE(errors[i].empty()) << errors[i];
        EXPECT_EQ(responses[i].status, 200) << responses[i].body;
        const auto to = responses[i].header("X-Routed-To");
        ++served_by[to];
        if (to == "tier3") {
            EXPECT_EQ(responses[i].header("X-Failover-Reason"), "circuit_open");
            EXPECT_EQ(responses[i].header("X-Original-Placement"), "tier1");
        } else {
            expect_no_failover(responses[i]);
        }
    }
    EXPECT_EQ(served_by["tier1"], 1) << "trials let through by the half-open breaker";
    EXPECT_EQ(served_by["tier3"], requests - 1);

    ASSERT_TRUE(eventually([&] { return rig.breaker_of("tier1")["state"] == "closed"; }, 5s))
        << rig.breaker_of("tier1").dump();
    const auto after = rig.send("acme", "/after-trial");
    EXPECT_EQ(after.status, 200);
    EXPECT_EQ(after.header("X-Routed-To"), "tier1");
    expect_no_failover(after);
    EXPECT_EQ(rig.breaker_of("tier1")["times_opened"], 1);
}

// A trial that fails re-opens the breaker for another timeout.
TEST(ResilienceBreaker, FailedTrialReopensBreaker) {
    Rig rig(Json{{"tier1", {{"type", "shared"}, {"fallback", "tier3"}, {"circuit_breaker", breaker(2, "1s")}}}});
    ASSERT_NO_FATAL_FAILURE(rig.fail("acme", "tier1", 2));
    ASSERT_NO_FATAL_FAILURE(wait_out_open_breaker(rig, "tier1", 1s));

    const auto trial = rig.send("acme", "/trial?status=500");
    EXPECT_EQ(trial.status, 500);
    EXPECT_EQ(trial.header("X-Routed-To"), "tier1") << "the trial should go to the half-open placement";
    ASSERT_TRUE(eventually([&] { return rig.breaker_of("tier1")["times_opened"] == 2; }, 5s))
        << rig.breaker_of("tier1").dump();
    EXPECT_EQ(rig.breaker_of("tier1")["state"], "open");
    const auto refused = rig.send("acme", "/after-failed-trial");
    EXPECT_EQ(refused.status, 200);
    EXPECT_EQ(refused.header("X-Routed-To"), "tier3");
    EXPECT_EQ(refused.header("X-Failover-Reason"), "circuit_open");

    // And the next timeout gives it another chance, which succeeds.
    ASSERT_NO_FATAL_FAILURE(wait_out_open_breaker(rig, "tier1", 1s));
    const auto second_trial = rig.send("acme", "/second-trial");
    EXPECT_EQ(second_trial.status, 200);
    EXPECT_EQ(second_trial.header("X-Routed-To"), "tier1");
    EXPECT_TRUE(eventually([&] { return rig.breaker_of("tier1")["state"] == "closed"; }, 5s));
}

// Response timeouts (504) and connection failures (502) are failures too.
TEST(ResilienceBreaker, TimeoutsAndConnectFailuresCount) {
    Rig rig(Json{{"visa",
                  {{"type", "dedicated"},
                   {"fallback", "tier3"},
                   {"response_timeout", "300ms"},
                   {"circuit_breaker", breaker(2, "30s")}}},
                 {"tier2",
                  {{"url", "http://127.0.0.1:" + std::to_string(free_port())},
                   {"type", "shared"},
                   {"fallback", "tier3"},
                   {"connect_timeout", "500ms"},
                   {"circuit_breaker", breaker(2, "30s")}}}});
    for (int i = 0; i < 2; ++i) {
        EXPECT_EQ(rig.send("visa", "/slow?delay_ms=2000").status, 504);
        EXPECT_EQ(rig.send("globex").status, 502);
    }
    ASSERT_TRUE(eventually(
        [&] { return rig.breaker_of("visa")["state"] == "open" && rig.breaker_of("tier2")["state"] == "open"; }, 5s))
        << rig.admin_json("/debug/placements").dump();
    for (const std::string key : {"visa", "globex"}) {
        const auto response = rig.send(key);
        EXPECT_EQ(response.status, 200) << key;
        EXPECT_EQ(response.header("X-Routed-To"), "tier3") << key;
        EXPECT_EQ(response.header("X-Failover-Reason"), "circuit_open") << key;
    }
}

// 4xx and 429 answers from the cell and clients that go away are not the cell's failures: the
// breaker stays closed however many there are.
TEST(ResilienceBreaker, ClientErrorsAndDisconnectsDoNotCount) {
    Rig rig(Json{{"tier1",
                  {{"type", "shared"},
                   {"fallback", "tier3"},
                   {"circuit_breaker", breaker(3, "30s")},
                   {"concurrency_limit", 50}}}});
    for (int i = 0; i < 5; ++i) {
        const auto not_found = rig.send("acme", "/missing?status=404");
        EXPECT_EQ(not_found.status, 404);
        EXPECT_EQ(not_found.header("X-Routed-To"), "tier1");
        const auto busy = rig.send("acme", "/busy?status=429");
        EXPECT_EQ(busy.status, 429);
        EXPECT_EQ(busy.header("X-Routed-To"), "tier1");
    }

    // Clients that close while the cell is still thinking...
    constexpr int disconnects = 6;
    for (int i = 0; i < disconnects; ++i) {
        Connection connection(rig.deployment().router_port());
        connection.send(make_request("GET", "/gone?delay_ms=500", {{"X-Routing-Key", "acme"}}));
        std::this_thread::sleep_for(50ms);
    }  // closed here, before the answer
    // ...and clients that close mid-way through their request body.
    for (int i = 0; i < disconnects; ++i) {
        Connection connection(rig.deployment().router_port());
        connection.send(make_request("POST", "/half-body", {{"X-Routing-Key", "acme"}, {"Content-Length", "1000"}},
                                     std::string(100, 'x'), false));
        std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(eventually([&] { return cell_request_lines(rig.deployment(), "/gone").size() == disconnects; }, 10s))
        << cell_request_lines(rig.deployment(), "/gone").size();
    // Every exchange has ended once the router logged it.
    ASSERT_TRUE(eventually(
        [&] {
            int logged = 0;
            for (const auto& line : rig.deployment().router().json_lines()) {
                const auto path = line.value("path", "");
                logged += line.value("event", "") == "access" && (path == "/gone" || path == "/half-body");
            }
            return logged == 2 * disconnects;
        },
        10s))
        << rig.deployment().router().stdout_text().substr(0, 4000);

    const auto state = rig.breaker_of("tier1");
    EXPECT_EQ(state["state"], "closed") << state.dump();
    EXPECT_EQ(state["failures"], 0) << state.dump();
    EXPECT_EQ(state["consecutive_failures"], 0);
    EXPECT_EQ(state["times_opened"], 0);
    EXPECT_EQ(rig.placement("tier1")["in_flight"], 0) << "a disconnect leaked a concurrency slot";
    const auto response = rig.send("acme", "/still-served");
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.header("X-Routed-To"), "tier1");
    expect_no_failover(response);
}

}  // namespace
}  // namespace cell::testing
