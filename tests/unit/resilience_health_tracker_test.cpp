// Health-check hysteresis: the status changes only after a run of consecutive probe results as
// long as its threshold, unknown routes until then, and record_probe reports each change once.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cell/resilience/health_tracker.hpp"

namespace cell::resilience {
namespace {

using std::chrono::seconds;

using SystemTime = std::chrono::system_clock::time_point;

const SystemTime t0 = SystemTime() + std::chrono::hours(1);
const HealthThresholds defaults{.healthy_threshold = 2, .unhealthy_threshold = 3};
const HealthThresholds ones{.healthy_threshold = 1, .unhealthy_threshold = 1};

bool probe(HealthTracker& tracker, bool success, const HealthThresholds& thresholds = defaults) {
    return tracker.record_probe(success, success ? "200" : "connect refused", t0, thresholds);
}

// Before any probe the status is unknown, and unknown routes (fail open).
TEST(HealthTrackerTest, StartsUnknownAndRoutable) {
    HealthTracker tracker;
    EXPECT_EQ(tracker.status(), HealthStatus::unknown);
    EXPECT_TRUE(tracker.routable());
    const auto snapshot = tracker.snapshot();
    EXPECT_EQ(snapshot.probes, 0u);
    EXPECT_EQ(snapshot.last_success, std::nullopt);
    EXPECT_EQ(snapshot.last_probe_at, std::nullopt);
    EXPECT_EQ(snapshot.last_change_at, std::nullopt);
}

// With thresholds of 1, every change of result changes the status, and only changes report true.
TEST(HealthTrackerTest, ThresholdOneFollowsEveryResultChange) {
    HealthTracker tracker;
    EXPECT_TRUE(probe(tracker, true, ones));
    EXPECT_EQ(tracker.status(), HealthStatus::healthy);
    EXPECT_FALSE(probe(tracker, true, ones));
    EXPECT_TRUE(probe(tracker, false, ones));
    EXPECT_EQ(tracker.status(), HealthStatus::unhealthy);
    EXPECT_FALSE(tracker.routable());
    EXPECT_FALSE(probe(tracker, false, ones));
    EXPECT_TRUE(probe(tracker, true, ones));
    EXPECT_TRUE(tracker.routable());
}

// Unknown turns healthy after healthy_threshold consecutive successes, not before.
TEST(HealthTrackerTest, UnknownTurnsHealthyAtTheThreshold) {
    HealthTracker tracker;
    EXPECT_FALSE(probe(tracker, true));
    EXPECT_EQ(tracker.status(), HealthStatus::unknown);
    EXPECT_TRUE(probe(tracker, true));
    EXPECT_EQ(tracker.status(), HealthStatus::healthy);
    EXPECT_FALSE(probe(tracker, true));
}

// Unknown turns unhealthy after unhealthy_threshold consecutive failures, and stops routing.
TEST(HealthTrackerTest, UnknownTurnsUnhealthyAtTheThreshold) {
    HealthTracker tracker;
    EXPECT_FALSE(probe(tracker, false));
    EXPECT_FALSE(probe(tracker, false));
    EXPECT_TRUE(tracker.routable());
    EXPECT_TRUE(probe(tracker, false));
    EXPECT_EQ(tracker.status(), HealthStatus::unhealthy);
    EXPECT_FALSE(tracker.routable());
}

// Healthy turns unhealthy only after unhealthy_threshold failures in a row.
TEST(HealthTrackerTest, HealthyTurnsUnhealthyAtTheThreshold) {
    HealthTracker tracker;
    probe(tracker, true);
    probe(tracker, true);
    ASSERT_EQ(tracker.status(), HealthStatus::healthy);
    EXPECT_FALSE(probe(tracker, false));
    EXPECT_FALSE(probe(tracker, false));
    EXPECT_EQ(tracker.status(), HealthStatus::healthy);
    EXPECT_TRUE(probe(tracker, false));
    EXPECT_EQ(tracker.status(), HealthStatus::unhealthy);
}

// Unhealthy recovers after healthy_threshold successes in a row.
TEST(HealthTrackerTest, UnhealthyRecoversAtTheThreshold) {
    HealthTracker tracker;
    for (int i = 0; i < 3; ++i) {
        probe(tracker, false);
    }
    ASSERT_EQ(tracker.status(), HealthStatus::unhealthy);
    EXPECT_FALSE(probe(tracker, true));
    EXPECT_TRUE(probe(tracker, true));
    EXPECT_EQ(tracker.status(), HealthStatus::healthy);
}

// A success ends a run of failures, so a flapping cell keeps its status.
TEST(HealthTrackerTest, AlternatingResultsKeepTheStatus) {
    HealthTracker healthy;
    probe(healthy, true);
    probe(healthy, true);
    HealthTracker unhealthy;
    for (int i = 0; i < 3; ++i) {
        probe(unhealthy, false);
    }
    for (int i = 0; i < 20; ++i) {
        EXPECT_FALSE(probe(healthy, i % 2 == 0));
        EXPECT_FALSE(probe(unhealthy, i % 2 != 0));
    }
    EXPECT_EQ(healthy.status(), HealthStatus::healthy);
    EXPECT_EQ(unhealthy.status(), HealthStatus::unhealthy);
}

// Each result resets the other kind's run: two failures, a success, two failures stay healthy.
TEST(HealthTrackerTest, RunsResetEachOther) {
    HealthTracker tracker;
    probe(tracker, true);
    probe(tracker, true);
    probe(tracker, false);
    probe(tracker, false);
    EXPECT_EQ(tracker.snapshot().consecutive_failures, 2u);
    probe(tracker, true);
    auto snapshot = tracker.snapshot();
    EXPECT_EQ(snapshot.consecutive_failures, 0u);
    EXPECT_EQ(snapshot.consecutive_successes, 1u);
    probe(tracker, false);
    probe(tracker, false);
    EXPECT_EQ(tracker.status(), HealthStatus::healthy);
    snapshot = tracker.snapshot();
    EXPECT_EQ(snapshot.consecutive_successes, 0u);
    EXPECT_EQ(snapshot.consecutive_failures, 2u);
}

// A threshold of 0 behaves as 1.
TEST(HealthTrackerTest, ThresholdZeroBehavesAsOne) {
    HealthTracker tracker;
    const HealthThresholds zeros{.healthy_threshold = 0, .unhealthy_threshold = 0};
    EXPECT_TRUE(probe(tracker, false, zeros));
    EXPECT_EQ(tracker.status(), HealthStatus::unhealthy);
    EXPECT_TRUE(probe(tracker, true, zeros));
    EXPECT_EQ(tracker.status(), HealthStatus::healthy);
}

// The snapshot keeps the counts, the last probe's result, detail and time, and the last change.
TEST(HealthTrackerTest, SnapshotRecordsTheLastProbeAndChange) {
    HealthTracker tracker;
    tracker.record_probe(true, "200", t0, defaults);
    tracker.record_probe(true, "200", t0 + seconds(10), defaults);
    tracker.record_probe(false, "timeout after 2s", t0 + seconds(20), defaults);
    const auto snapshot = tracker.snapshot();
    EXPECT_EQ(snapshot.status, HealthStatus::healthy);
    EXPECT_EQ(snapshot.probes, 3u);
    EXPECT_EQ(snapshot.failed_probes, 1u);
    EXPECT_EQ(snapshot.last_success, false);
    EXPECT_EQ(snapshot.last_detail, "timeout after 2s");
    EXPECT_EQ(snapshot.last_probe_at, t0 + seconds(20));
    EXPECT_EQ(snapshot.last_change_at, t0 + seconds(10));
}

TEST(HealthTrackerTest, StatusNames) {
    EXPECT_EQ(to_string(HealthStatus::unknown), "unknown");
    EXPECT_EQ(to_string(HealthStatus::healthy), "healthy");
    EXPECT_EQ(to_string(HealthStatus::unhealthy), "unhealthy");
}

// Readers on other threads see a status and a snapshot consistent with the last probe: with
// thresholds of 1 the status always matches the last result.
TEST(HealthTrackerTest, ConcurrentReadersSeeConsistentSnapshots) {
    constexpr int probes = 5000;
    HealthTracker tracker;
    std::atomic<bool> done{false};
    std::atomic<int> inconsistent{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r) {
        readers.emplace_back([&] {
            while (!done.load()) {
                (void)tracker.routable();
                const auto snapshot = tracker.snapshot();
                if (snapshot.last_success.has_value() &&
                    (snapshot.status == HealthStatus::healthy) != *snapshot.last_success) {
                    inconsistent.fetch_add(1);
                }
            }
        });
    }
    int changes = 0;
    for (int i = 0; i < probes; ++i) {
        changes += tracker.record_probe(i % 2 == 0, "probe " + std::to_string(i), t0, ones) ? 1 : 0;
    }
    done.store(true);
    for (auto& reader : readers) {
        reader.join();
    }
    EXPECT_EQ(changes, probes);
    EXPECT_EQ(inconsistent.load(), 0);
    EXPECT_EQ(tracker.snapshot().probes, std::uint64_t{probes});
}

}  // namespace
}  // namespace cell::resilience
