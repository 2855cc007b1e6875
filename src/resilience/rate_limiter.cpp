#include "cell/resilience/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

namespace cell::resilience {
namespace {

// Times and bucket sizes are clamped to +-2^60 ns (36 years) so that the sums below stay far
// inside int64 whatever a config or a test passes in.
constexpr std::int64_t nanos_limit = std::int64_t{1} << 60;

// The settings in nanoseconds: the time one token takes to refill, and the time a full bucket
// holds (burst tokens).
struct Bucket {
    std::int64_t interval;
    std::int64_t capacity;
};

std::optional<Bucket> bucket_of(const RateLimitSettings& settings) {
    if (!(settings.requests_per_second > 0)) {
        return std::nullopt;  // also NaN: no limit
    }
    // At least 1 ns, else an absurd rate would make every request free.
    const double interval = std::clamp(std::round(1e9 / settings.requests_per_second), 1.0,
                                       static_cast<double>(nanos_limit));
    const auto interval_nanos = static_cast<std::int64_t>(interval);
    const std::int64_t burst = std::max<std::uint32_t>(settings.burst, 1);
    const std::int64_t capacity =
        interval_nanos > nanos_limit / burst ? nanos_limit : interval_nanos * burst;
    return Bucket{interval_nanos, capacity};
}

std::int64_t to_nanos(SteadyClock::time_point time) {
    const auto since_epoch = std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch());
    return std::clamp(since_epoch.count(), -nanos_limit, nanos_limit);
}

}  // namespace

// Relaxed ordering: the arrival time is the whole state and publishes nothing else; the CAS on
// one atomic already orders all threads' updates.
RateLimiter::Decision RateLimiter::try_acquire(const RateLimitSettings& settings,
                                               SteadyClock::time_point now) {
    const std::optional<Bucket> bucket = bucket_of(settings);
    if (!bucket) {
        return {true, std::chrono::nanoseconds(0)};
    }
    const std::int64_t now_nanos = to_nanos(now);
    std::int64_t arrival = arrival_.load(std::memory_order_relaxed);
    for (;;) {
        // An arrival time in the past means a full bucket: the spare refill is not banked.
        const std::int64_t next_arrival = std::max(arrival, now_nanos) + bucket->interval;
        const std::int64_t ahead = next_arrival - now_nanos;
        if (ahead > bucket->capacity) {
            return {false, std::chrono::nanoseconds(ahead - bucket->capacity)};
        }
        if (arrival_.compare_exchange_weak(arrival, next_arrival, std::memory_order_relaxed)) {
            return {true, std::chrono::nanoseconds(0)};
        }
    }
}

double RateLimiter::tokens(const RateLimitSettings& settings, SteadyClock::time_point now) const {
    const double burst = std::max<std::uint32_t>(settings.burst, 1);
    const std::optional<Bucket> bucket = bucket_of(settings);
    if (!bucket) {
        return burst;
    }
    const std::int64_t now_nanos = to_nanos(now);
    const std::int64_t ahead = std::max(arrival_.load(std::memory_order_relaxed), now_nanos) - now_nanos;
    // Below zero when a reload shrank the bucket under what is already taken.
    const double available =
        static_cast<double>(bucket->capacity - ahead) / static_cast<double>(bucket->interval);
    return std::clamp(available, 0.0, burst);
}

}  // namespace cell::resilience
