// The router-wide connection count against max_connections.

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "cell/resilience/connection_limit.hpp"

namespace cell::resilience {
namespace {

// Up to the limit connections are counted; the next is refused and counted as refused; a
// closed connection makes room again.
TEST(ConnectionLimit, RefusesOverTheLimitAndFreesOnClose) {
    ConnectionLimit limit;
    std::vector<ConnectionLimit::Slot> slots;
    for (int i = 0; i < 3; ++i) {
        slots.push_back(limit.try_open(3));
        EXPECT_TRUE(slots.back());
    }
    EXPECT_EQ(limit.open(), 3u);
    EXPECT_FALSE(limit.try_open(3));
    EXPECT_EQ(limit.open(), 3u);
    EXPECT_EQ(limit.refused(), 1u);
    slots.pop_back();
    EXPECT_EQ(limit.open(), 2u);
    EXPECT_TRUE(limit.try_open(3));
    EXPECT_EQ(limit.open(), 2u);  // the temporary slot was released at once
}

// A lowered limit (a new table) refuses new connections until enough old ones close; it never
// closes the ones already open.
TEST(ConnectionLimit, LoweredLimitAppliesToNewConnections) {
    ConnectionLimit limit;
    auto a = limit.try_open(10);
    auto b = limit.try_open(10);
    EXPECT_FALSE(limit.try_open(1));
    EXPECT_EQ(limit.open(), 2u);
    a = ConnectionLimit::Slot();
    b = ConnectionLimit::Slot();
    EXPECT_EQ(limit.open(), 0u);
    EXPECT_TRUE(limit.try_open(1));
}

// Workers race for the last places: exactly `limit` win.
TEST(ConnectionLimit, ConcurrentOpensNeverExceedTheLimit) {
    ConnectionLimit limit;
    constexpr int threads = 4;
    constexpr int attempts = 1000;
    std::vector<std::vector<ConnectionLimit::Slot>> held(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < attempts; ++i) {
                if (auto slot = limit.try_open(100)) {
                    held[t].push_back(std::move(slot));
                }
            }
        });
    }
    for (auto& worker : workers) {
        worker.join();
    }
    EXPECT_EQ(limit.open(), 100u);
    EXPECT_EQ(limit.refused(), static_cast<std::uint64_t>(threads * attempts - 100));
}

}  // namespace
}  // namespace cell::resilience
