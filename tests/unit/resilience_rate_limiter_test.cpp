// The GCRA token bucket: a full bucket of `burst` requests, refilled at `requests_per_second`,
// with retry_after telling a refused client when the next token arrives. Time is passed in.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "cell/resilience/rate_limiter.hpp"

namespace cell::resilience {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

const SteadyClock::time_point t0 = SteadyClock::time_point() + std::chrono::hours(1);
// One token every 100 ms, five at once.
const RateLimitSettings ten_per_second{.requests_per_second = 10, .burst = 5};

int allowed_count(RateLimiter& limiter, const RateLimitSettings& settings, int attempts,
                  SteadyClock::time_point now) {
    int allowed = 0;
    for (int i = 0; i < attempts; ++i) {
        allowed += limiter.try_acquire(settings, now).allowed ? 1 : 0;
    }
    return allowed;
}

// A fresh limiter lets a whole burst through at once, then refuses.
TEST(RateLimiterTest, BurstPassesThenRefuses) {
    RateLimiter limiter;
    for (int i = 0; i < 5; ++i) {
        const auto decision = limiter.try_acquire(ten_per_second, t0);
        EXPECT_TRUE(decision.allowed) << "request " << i;
        EXPECT_EQ(decision.retry_after, nanoseconds(0));
    }
    const auto refused = limiter.try_acquire(ten_per_second, t0);
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.retry_after, milliseconds(100));
}

// One interval (1/rate) after draining the bucket, exactly one more request passes.
TEST(RateLimiterTest, OneTokenPerInterval) {
    RateLimiter limiter;
    ASSERT_EQ(allowed_count(limiter, ten_per_second, 5, t0), 5);
    EXPECT_FALSE(limiter.try_acquire(ten_per_second, t0 + milliseconds(100) - nanoseconds(1)).allowed);
    EXPECT_EQ(allowed_count(limiter, ten_per_second, 3, t0 + milliseconds(100)), 1);
    EXPECT_EQ(allowed_count(limiter, ten_per_second, 3, t0 + milliseconds(350)), 2);
}

// retry_after is the time until the next token arrives.
TEST(RateLimiterTest, RetryAfterIsTheTimeUntilTheNextToken) {
    RateLimiter limiter;
    ASSERT_EQ(allowed_count(limiter, ten_per_second, 5, t0), 5);
    EXPECT_EQ(limiter.try_acquire(ten_per_second, t0 + milliseconds(30)).retry_after, milliseconds(70));
    EXPECT_EQ(limiter.try_acquire(ten_per_second, t0 + milliseconds(100) - nanoseconds(1)).retry_after,
              nanoseconds(1));
    // Refusals take no token, so they do not push the next token further away.
    EXPECT_TRUE(limiter.try_acquire(ten_per_second, t0 + milliseconds(100)).allowed);
    EXPECT_EQ(limiter.try_acquire(ten_per_second, t0 + milliseconds(100)).retry_after, milliseconds(100));
}

// Under a sustained overload the limiter admits the burst plus the rate, no more, no less.
TEST(RateLimiterTest, SustainedOverloadAdmitsBurstPlusRate) {
    RateLimiter limiter;
    const RateLimitSettings settings{.requests_per_second = 20, .burst = 7};
    // Five times the rate for 10 s: a request every 10 ms, both ends included.
    int allowed = 0;
    for (int tick = 0; tick <= 1000; ++tick) {
        allowed += limiter.try_acquire(settings, t0 + milliseconds(10) * tick).allowed ? 1 : 0;
    }
    EXPECT_NEAR(allowed, 7 + 20 * 10, 1);
}

// A rate that does not divide a second evenly still refills at that rate.
TEST(RateLimiterTest, FractionalIntervals) {
    RateLimiter limiter;
    const RateLimitSettings settings{.requests_per_second = 3, .burst = 1};
    int allowed = 0;
    for (int tick = 0; tick <= 10'000; ++tick) {
        allowed += limiter.try_acquire(settings, t0 + milliseconds(1) * tick).allowed ? 1 : 0;
    }
    EXPECT_NEAR(allowed, 1 + 3 * 10, 1);
}

// Less than one request per second: one every two seconds.
TEST(RateLimiterTest, RateBelowOnePerSecond) {
    RateLimiter limiter;
    const RateLimitSettings settings{.requests_per_second = 0.5, .burst = 1};
    EXPECT_TRUE(limiter.try_acquire(settings, t0).allowed);
    const auto refused = limiter.try_acquire(settings, t0 + seconds(1));
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.retry_after, seconds(1));
    EXPECT_TRUE(limiter.try_acquire(settings, t0 + seconds(2)).allowed);
}

// Idle time refills the bucket only up to the burst.
TEST(RateLimiterTest, IdleTimeDoesNotBankMoreThanTheBurst) {
    RateLimiter limiter;
    ASSERT_EQ(allowed_count(limiter, ten_per_second, 5, t0), 5);
    EXPECT_EQ(allowed_count(limiter, ten_per_second, 100, t0 + std::chrono::hours(1)), 5);
}

// tokens() reports a full, an empty and a partly refilled bucket.
TEST(RateLimiterTest, TokensReportTheBucketLevel) {
    RateLimiter limiter;
    EXPECT_DOUBLE_EQ(limiter.tokens(ten_per_second, t0), 5.0);
    ASSERT_EQ(allowed_count(limiter, ten_per_second, 2, t0), 2);
    EXPECT_DOUBLE_EQ(limiter.tokens(ten_per_second, t0), 3.0);
    ASSERT_EQ(allowed_count(limiter, ten_per_second, 3, t0), 3);
    EXPECT_DOUBLE_EQ(limiter.tokens(ten_per_second, t0), 0.0);
    EXPECT_DOUBLE_EQ(limiter.tokens(ten_per_second, t0 + milliseconds(50)), 0.5);
    EXPECT_DOUBLE_EQ(limiter.tokens(ten_per_second, t0 + milliseconds(250)), 2.5);
    EXPECT_DOUBLE_EQ(limiter.tokens(ten_per_second, t0 + seconds(100)), 5.0);
}

// A reload that shrinks the bucket below what is already taken reports 0, not a negative level.
TEST(RateLimiterTest, ShrunkBucketReportsNoTokens) {
    RateLimiter limiter;
    ASSERT_EQ(allowed_count(limiter, ten_per_second, 5, t0), 5);
    const RateLimitSettings smaller{.requests_per_second = 10, .burst = 2};
    EXPECT_DOUBLE_EQ(limiter.tokens(smaller, t0), 0.0);
    EXPECT_FALSE(limiter.try_acquire(smaller, t0 + milliseconds(200)).allowed);
    EXPECT_TRUE(limiter.try_acquire(smaller, t0 + milliseconds(400)).allowed);
}

// A rate that is not positive means no limit.
TEST(RateLimiterTest, NonPositiveRateIsUnlimited) {
    for (const double rate : {0.0, -1.0, std::nan("")}) {
        RateLimiter limiter;
        const RateLimitSettings settings{.requests_per_second = rate, .burst = 2};
        EXPECT_EQ(allowed_count(limiter, settings, 1000, t0), 1000) << rate;
        EXPECT_DOUBLE_EQ(limiter.tokens(settings, t0), 2.0) << rate;
    }
}

// A burst of 0 behaves as 1 rather than refusing everything.
TEST(RateLimiterTest, BurstZeroBehavesAsOne) {
    RateLimiter limiter;
    const RateLimitSettings settings{.requests_per_second = 10, .burst = 0};
    EXPECT_EQ(allowed_count(limiter, settings, 10, t0), 1);
    EXPECT_EQ(allowed_count(limiter, settings, 10, t0 + milliseconds(100)), 1);
}

// Extreme settings and times neither overflow nor turn the limit off.
TEST(RateLimiterTest, ExtremeValuesStayInRange) {
    RateLimiter limiter;
    const RateLimitSettings slow{.requests_per_second = 1e-12,
                                 .burst = std::numeric_limits<std::uint32_t>::max()};
    EXPECT_TRUE(limiter.try_acquire(slow, SteadyClock::time_point::max()).allowed);
    RateLimiter fast_limiter;
    const RateLimitSettings fast{.requests_per_second = 1e30, .burst = 1};
    EXPECT_TRUE(fast_limiter.try_acquire(fast, t0).allowed);
    EXPECT_FALSE(fast_limiter.try_acquire(fast, t0).allowed);
}

// Threads hammering at one instant share one bucket: exactly `burst` requests pass in total.
TEST(RateLimiterTest, ConcurrentCallersShareOneBurst) {
    constexpr int threads = 8;
    constexpr int attempts_per_thread = 5000;
    const RateLimitSettings settings{.requests_per_second = 1, .burst = 1000};
    RateLimiter limiter;
    std::atomic<int> allowed{0};
    std::atomic<int> ready{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
            ready.fetch_add(1);
            while (ready.load() < threads) {
            }
            allowed.fetch_add(allowed_count(limiter, settings, attempts_per_thread, t0));
        });
    }
    for (auto& worker : workers) {
        worker.join();
    }
    EXPECT_EQ(allowed.load(), 1000);
    EXPECT_DOUBLE_EQ(limiter.tokens(settings, t0), 0.0);
}

}  // namespace
}  // namespace cell::resilience
