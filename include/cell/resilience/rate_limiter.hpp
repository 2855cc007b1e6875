#pragma once
// Per-placement request rate limit: a token bucket of `burst` tokens refilled at
// `requests_per_second`, kept as GCRA (the generic cell rate algorithm) so that the whole
// bucket is one atomic timestamp. A fresh limiter starts with a full bucket. Time is passed in,
// so tests drive it without sleeping.
//
// Thread safety: every member may be called from any thread. try_acquire is one CAS loop on
// one atomic (no lock, no allocation): the limit is shared by all workers of the router.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

namespace cell::resilience {

using SteadyClock = std::chrono::steady_clock;  // the same alias as in circuit_breaker.hpp

// Passed to every call rather than stored, because a config reload may change them while the
// bucket's level carries on.
struct RateLimitSettings {
    double requests_per_second = 0;  // not positive (or NaN): no limit
    std::uint32_t burst = 1;         // 0 behaves as 1
};

class RateLimiter {
public:
    struct Decision {
        bool allowed;
        std::chrono::nanoseconds retry_after;  // > 0 only when refused: until the next token
    };

    Decision try_acquire(const RateLimitSettings& settings, SteadyClock::time_point now);

    // Tokens available now (0..burst), for the debug endpoint.
    double tokens(const RateLimitSettings& settings, SteadyClock::time_point now) const;

private:
    // The theoretical arrival time in steady_clock nanoseconds: when the bucket would be full
    // again if nothing else arrived. A request is allowed while it lies at most `burst`
    // intervals ahead of now. The lowest value means "never used", a full bucket.
    std::atomic<std::int64_t> arrival_{std::numeric_limits<std::int64_t>::min()};
};

}  // namespace cell::resilience
