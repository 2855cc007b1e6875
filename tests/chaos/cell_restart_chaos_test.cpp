// A cell killed (-9) under keep-alive load and started again: requests fail only while the
// router has not yet noticed (the breaker threshold, or the health interval x threshold), then
// the fallback serves, then the cell again once it is back.

#include <gtest/gtest.h>

#include <signal.h>

#include "chaos_support.hpp"
#include "load_generator.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr auto health_interval = 200ms;
constexpr int unhealthy_threshold = 2;
constexpr int breaker_threshold = 3;

long long ms_between(Clock::time_point from, Clock::time_point to) {
    return static_cast<long long>(duration_cast<milliseconds>(to - from).count());
}

TEST(Chaos, CellKilledAndRestarted) {
    Deployment deployment(Deployment::Options{.start_router = false});
    const Json visa_policy{
        {"fallback", "tier3"},
        {"health_check",
         {{"interval", "200ms"}, {"timeout", "100ms"}, {"healthy_threshold", 1},
          {"unhealthy_threshold", unhealthy_threshold}}},
        {"circuit_breaker", {{"failure_threshold", breaker_threshold}, {"timeout", "500ms"}}}};
    deployment.write_config(with_placements(deployment.config("1.0.0"), {{"visa", visa_policy}}));
    deployment.start_router();
    const unsigned short visa_port = deployment.cell_port("visa");

    LoadGenerator load(LoadOptions{.port = deployment.router_port(), .threads = 4, .routing_key = "visa"});
    ASSERT_TRUE(load.wait_for_answers(200));

    const auto killed_at = Clock::now();
    ASSERT_TRUE(deployment.cell("visa").kill_abruptly());
    // The fallback takes over...
    ASSERT_TRUE(eventually(
        [&] {
            const auto events = load.events();
            return !events.empty() && events.back().routed_to == "tier3" && events.back().status == 200;
        },
        10s));
    const auto fallback_seen_at = Clock::now();
    ASSERT_TRUE(load.wait_for_answers(500));  // and keeps serving while the cell is down

    const auto restarted_at = Clock::now();
    deployment.start_cell("visa", {"--port", std::to_string(visa_port)});
    ASSERT_TRUE(eventually(
        [&] {
            const auto events = load.events();
            return !events.empty() && events.back().routed_to == "visa" && events.back().status == 200;
        },
        10s));
    const auto back_at = Clock::now();
    ASSERT_TRUE(load.wait_for_answers(200));
    const LoadCounts counts = load.stop();

    // The detection window: the health checker marks the cell down after `unhealthy_threshold`
    // probes one interval apart (plus one interval of jitter and probe timeout); the breaker
    // opens sooner, after `breaker_threshold` failures.
    const auto window = health_interval * (unhealthy_threshold + 1) + 500ms;
    std::uint64_t failures = 0;
    std::uint64_t failures_outside_window = 0;
    long long last_failure_ms = -1;
    std::uint64_t served_by_fallback = 0;
    std::uint64_t served_after_restart = 0;
    for (const auto& event : load.events()) {
        const bool failed = event.status == 0 || event.status >= 500;
        if (event.at < killed_at) {
            EXPECT_FALSE(failed) << "a request failed before the cell was killed: " << event.failure;
            continue;
        }
        if (failed) {
            ++failures;
            last_failure_ms = ms_between(killed_at, event.at);
            if (event.at > killed_at + window) {
                ++failures_outside_window;
            }
        } else if (event.routed_to == "tier3") {
            ++served_by_fallback;
        } else if (event.at > restarted_at) {
            ++served_after_restart;
        }
    }
    print_load("cell killed and restarted", counts);
    std::printf("[chaos]   failed or 5xx after the kill: %llu, the last %lld ms after it (window %lld ms: "
                "health %lld ms x %d, breaker %d failures); fallback first seen %lld ms after the kill, "
                "served %llu; cell serving again %lld ms after its restart\n",
                static_cast<unsigned long long>(failures), last_failure_ms,
                static_cast<long long>(duration_cast<milliseconds>(window).count()),
                static_cast<long long>(health_interval.count()), unhealthy_threshold, breaker_threshold,
                ms_between(killed_at, fallback_seen_at), static_cast<unsigned long long>(served_by_fallback),
                ms_between(restarted_at, back_at));
    EXPECT_EQ(failures_outside_window, 0u) << counts.summary();
    EXPECT_GT(served_by_fallback, 0u);
    EXPECT_GT(served_after_restart, 0u);
}

}  // namespace
}  // namespace cell::testing
