#pragma once
// Per-placement circuit breaker: after `failure_threshold` consecutive upstream failures it
// refuses requests for `open_timeout`, then lets exactly one trial request through and closes
// or reopens on that trial's outcome. Time is passed in, so tests drive it without sleeping.
//
// Thread safety: every member may be called from any thread. try_acquire and record touch only
// atomics (no lock, no allocation): the breaker is shared by all workers of the router.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace cell::resilience {

using SteadyClock = std::chrono::steady_clock;

// Passed to every call rather than stored, because a config reload may change them while the
// breaker's state carries on.
struct BreakerSettings {
    std::uint32_t failure_threshold = 5;  // 0 behaves as 1
    std::chrono::milliseconds open_timeout{30000};
};

enum class BreakerState : std::uint8_t { closed, open, half_open };

// "closed", "open", "half_open".
std::string_view to_string(BreakerState state);

// What one upstream exchange meant for the cell's health. Only the upstream's own failures
// count (connect error, timeout, 5xx, broken response); client disconnects, 4xx, 429 and
// router-side limits are neutral.
enum class Outcome : std::uint8_t { success, failure, neutral };

class CircuitBreaker {
public:
    // `normal` is granted while closed; `trial` is the single probe request of half_open.
    enum class Permit : std::uint8_t { rejected, normal, trial };

    Permit try_acquire(const BreakerSettings& settings, SteadyClock::time_point now);

    // Whether try_acquire would grant a permit now, without taking one or counting a
    // rejection (for /debug/route, which must not disturb the breaker).
    bool would_admit(const BreakerSettings& settings, SteadyClock::time_point now) const;

    // Must be called exactly once for every non-rejected permit (a rejected one is ignored).
    // A `normal` permit's outcome changes the state only while the breaker is closed: one
    // granted before the breaker opened belongs to an older generation and must not close it.
    // NOTE: a normal permit still in flight when the breaker closes again counts toward the
    // new closed period; the Permit carries no generation to tell the two apart.
    void record(Permit permit, Outcome outcome, const BreakerSettings& settings, SteadyClock::time_point now);

    // Not one atomic cut: the counters are read one by one, each exact on its own.
    struct Snapshot {
        BreakerState state;
        std::uint32_t consecutive_failures;  // 0 unless closed
        std::uint64_t successes;             // recorded outcomes, whatever the permit's generation
        std::uint64_t failures;
        std::uint64_t rejected;              // refused permits
        std::uint64_t times_opened;          // closed -> open and failed trials
        std::optional<SteadyClock::time_point> open_until;  // set only while open
    };
    Snapshot snapshot(const BreakerSettings& settings) const;

private:
    void record_normal(Outcome outcome, const BreakerSettings& settings, SteadyClock::time_point now);
    void record_trial(Outcome outcome, const BreakerSettings& settings, SteadyClock::time_point now);

    // The state and its payload share one word so that every transition is a single CAS: with
    // the state and the opening time in separate atomics, a thread that read an old opening
    // time could win open -> half_open after a failed trial had just reopened the breaker
    // (ABA), and a stale failure could leak into the count of a new closed period. The low two
    // bits hold the BreakerState; the other 62 hold, signed, the consecutive failures while
    // closed, or else the opening time in steady_clock nanoseconds (+-73 years of range).
    std::atomic<std::uint64_t> word_{0};  // closed, no failures
    std::atomic<std::uint64_t> successes_{0};
    std::atomic<std::uint64_t> failures_{0};
    std::atomic<std::uint64_t> rejected_{0};
    std::atomic<std::uint64_t> times_opened_{0};
};

}  // namespace cell::resilience
