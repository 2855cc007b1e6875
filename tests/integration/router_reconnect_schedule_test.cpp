// The router's real reconnect schedule, measured from a scripted control plane's accept times:
// delays grow exponentially (each drawn from [ceiling/2, ceiling]) up to the maximum, and start
// over only after a connection that stayed up for the backoff reset time. A connection that
// delivers a snapshot and then dies at once must not reset them, or a control plane that crashes
// after each accept is hammered.

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <mutex>

#include "harness.hpp"
#include "scripted_control_plane.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds initial_backoff{100};
constexpr milliseconds max_backoff{800};
constexpr milliseconds backoff_reset{1000};
constexpr milliseconds held_healthy{1400};  // longer than the reset time
// Connecting, the handshake and the snapshot's ack on a loaded 2-core machine.
constexpr milliseconds slack{250};

milliseconds ceiling(int attempt) {
    milliseconds delay = initial_backoff;
    for (int i = 0; i < attempt; ++i) {
        delay = std::min(delay * 2, max_backoff);
    }
    return delay;
}

long long ms(Clock::duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); }

TEST(RouterReconnectSchedule, DelaysGrowAndResetAfterAHealthyLink) {
    Deployment deployment(Deployment::Options{.start_router = false});
    deployment.write_config(deployment.config("0.0.1"));
    auto frame = deployment.config("1.0.0");
    frame["type"] = "config_snapshot";
    const std::string snapshot = frame.dump();

    // Connections 0-5 deliver a snapshot and drop at once; 6 stays up past the reset time;
    // 7 and 8 drop at once again.
    constexpr int healthy_index = 6;
    constexpr int total = 9;
    std::mutex mutex;
    std::vector<Clock::time_point> closed_at(total + 4);
    ScriptedControlPlane cp([&](ScriptedConnection& c) {
        if (c.accept()) {
            c.send_text(snapshot);
            c.wait_for_text("\"ack\"", 5s);
            if (c.index() == healthy_index) {
                c.wait_for_eof(held_healthy);
            }
        }
        const std::lock_guard lock(mutex);
        if (c.index() < static_cast<int>(closed_at.size())) {
            closed_at[static_cast<std::size_t>(c.index())] = Clock::now();
        }
    });
    deployment.start_router({"--control-plane", cp.url(), "--node-id", "router-under-test", "--config-cache",
                             deployment.dir().file("cache.json").string(), "--control-plane-backoff", "100ms",
                             "--control-plane-max-backoff", "800ms", "--control-plane-backoff-reset", "1s"});
    ASSERT_TRUE(cp.wait_for_connections(total, 20s)) << "only " << cp.connections() << " connections";
    const auto accepted = cp.accept_times();

    // The delay before connection n+1 is measured from the moment connection n was closed.
    const auto gap = [&](int n) {
        const std::lock_guard lock(mutex);
        return accepted[static_cast<std::size_t>(n + 1)] - closed_at[static_cast<std::size_t>(n)];
    };
    std::string schedule;
    for (int n = 0; n + 1 < total; ++n) {
        schedule += std::to_string(ms(gap(n))) + "ms ";
    }
    SCOPED_TRACE("measured delays: " + schedule);
    std::cout << "measured reconnect delays: " << schedule << "\n";

    // Short links: attempt n waits within [ceiling(n)/2, ceiling(n)].
    for (int n = 0; n < healthy_index; ++n) {
        EXPECT_GE(gap(n), ceiling(n) / 2 - milliseconds(5)) << "delay " << n;
        EXPECT_LE(gap(n), ceiling(n) + slack) << "delay " << n;
    }
    // The growth is real, not within the noise: the fourth delay is beyond the first's bound.
    EXPECT_GT(gap(3), ceiling(0) + slack);
    // After the healthy link the schedule starts over.
    EXPECT_GE(accepted[healthy_index + 1] - accepted[healthy_index], backoff_reset);
    EXPECT_GE(gap(healthy_index), ceiling(0) / 2 - milliseconds(5));
    EXPECT_LE(gap(healthy_index), ceiling(0) + slack);
    EXPECT_GE(gap(healthy_index + 1), ceiling(1) / 2 - milliseconds(5));
    EXPECT_LE(gap(healthy_index + 1), ceiling(1) + slack);
    EXPECT_TRUE(deployment.router().running());
}

}  // namespace
}  // namespace cell::testing
