// The router's reconnect schedule: exponential ceilings from 1 s capped at 60 s, each delay
// drawn from [ceiling/2, ceiling], reset after a healthy connection, deterministic per seed.

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "cell/controlplane/backoff.hpp"

namespace cell::controlplane {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Backoff fleet_default(std::uint64_t seed = 42) { return Backoff(seconds(1), seconds(60), seed); }

// The ceilings double from the initial delay: 1, 2, 4, 8, 16, 32 s, then stay at 60 s.
TEST(ControlPlaneBackoff, CeilingsDoubleUpToTheCap) {
    const auto backoff = fleet_default();
    const std::vector<milliseconds> expected{seconds(1),  seconds(2),  seconds(4),  seconds(8),
                                             seconds(16), seconds(32), seconds(60), seconds(60)};
    for (unsigned attempt = 0; attempt < expected.size(); ++attempt) {
        EXPECT_EQ(backoff.ceiling(attempt), expected[attempt]) << "attempt " << attempt;
    }
}

// Far past the cap the ceiling stays at the cap (no overflow).
TEST(ControlPlaneBackoff, CeilingNeverOverflows) {
    const auto backoff = fleet_default();
    EXPECT_EQ(backoff.ceiling(64), seconds(60));
    EXPECT_EQ(backoff.ceiling(1000), seconds(60));
}

// Every delay lies in [ceiling/2, ceiling] of its attempt.
TEST(ControlPlaneBackoff, JitterStaysWithinHalfToFullCeiling) {
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        auto backoff = fleet_default(seed);
        for (unsigned attempt = 0; attempt < 12; ++attempt) {
            const auto ceiling = backoff.ceiling(attempt);
            const auto delay = backoff.next_delay();
            EXPECT_GE(delay, ceiling / 2) << "seed " << seed << " attempt " << attempt;
            EXPECT_LE(delay, ceiling) << "seed " << seed << " attempt " << attempt;
        }
    }
}

// Each call moves to the next attempt.
TEST(ControlPlaneBackoff, EachDelayAdvancesTheAttempt) {
    auto backoff = fleet_default();
    EXPECT_EQ(backoff.attempt(), 0u);
    backoff.next_delay();
    backoff.next_delay();
    EXPECT_EQ(backoff.attempt(), 2u);
}

// After reset() the schedule starts again from the initial ceiling.
TEST(ControlPlaneBackoff, ResetStartsOver) {
    auto backoff = fleet_default();
    for (int i = 0; i < 10; ++i) {
        backoff.next_delay();
    }
    EXPECT_GT(backoff.next_delay(), seconds(29));
    backoff.reset();
    EXPECT_EQ(backoff.attempt(), 0u);
    const auto first = backoff.next_delay();
    EXPECT_GE(first, milliseconds(500));
    EXPECT_LE(first, seconds(1));
}

// The same seed gives the same sequence, so a test (or a bug report) can replay it.
TEST(ControlPlaneBackoff, SameSeedSameSequence) {
    auto a = fleet_default(7);
    auto b = fleet_default(7);
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(a.next_delay(), b.next_delay()) << "delay " << i;
    }
}

// Different seeds spread a fleet out: routers that lost the control plane together do not
// all come back at the same moment.
TEST(ControlPlaneBackoff, DifferentSeedsSpreadTheFleet) {
    std::set<milliseconds::rep> fifth_delays;
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        auto backoff = fleet_default(seed);
        milliseconds delay{};
        for (int i = 0; i < 5; ++i) {
            delay = backoff.next_delay();
        }
        fifth_delays.insert(delay.count());
    }
    EXPECT_GT(fifth_delays.size(), 10u);
}

// A cap below the initial delay is raised to it: the delay never shrinks below `initial`'s half.
TEST(ControlPlaneBackoff, CapBelowInitialIsRaisedToInitial) {
    const Backoff backoff(seconds(5), seconds(1), 1);
    EXPECT_EQ(backoff.ceiling(0), seconds(5));
    EXPECT_EQ(backoff.ceiling(3), seconds(5));
}

}  // namespace
}  // namespace cell::controlplane
