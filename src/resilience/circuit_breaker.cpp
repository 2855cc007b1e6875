#include "cell/resilience/circuit_breaker.hpp"

#include <algorithm>

namespace cell::resilience {
namespace {

constexpr unsigned state_bits = 2;
constexpr std::uint64_t state_mask = (std::uint64_t{1} << state_bits) - 1;
// The payload range of the 62 bits above the state.
constexpr std::int64_t payload_max = (std::int64_t{1} << 61) - 1;
constexpr std::int64_t payload_min = -payload_max - 1;

std::uint64_t pack(BreakerState state, std::int64_t payload) {
    // Through unsigned: shifting a negative signed value would be undefined before C++20.
    return (static_cast<std::uint64_t>(payload) << state_bits) | static_cast<std::uint64_t>(state);
}

BreakerState state_of(std::uint64_t word) { return static_cast<BreakerState>(word & state_mask); }

// Arithmetic shift restores the sign of opening times before steady_clock's epoch (tests).
std::int64_t payload_of(std::uint64_t word) { return static_cast<std::int64_t>(word) >> state_bits; }

std::int64_t clamp_payload(std::int64_t value) { return std::clamp(value, payload_min, payload_max); }

std::int64_t to_nanos(SteadyClock::time_point time) {
    const auto since_epoch = std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch());
    return clamp_payload(since_epoch.count());
}

SteadyClock::time_point from_nanos(std::int64_t nanos) {
    return SteadyClock::time_point(
        std::chrono::duration_cast<SteadyClock::duration>(std::chrono::nanoseconds(nanos)));
}

// Saturates instead of overflowing, so that an absurd timeout from a config keeps the breaker
// open "forever" rather than wrapping to the past.
std::int64_t timeout_nanos(const BreakerSettings& settings) {
    constexpr std::int64_t nanos_per_milli = 1'000'000;
    const std::int64_t millis = std::clamp<std::int64_t>(settings.open_timeout.count(), 0,
                                                         payload_max / nanos_per_milli);
    return millis * nanos_per_milli;
}

std::uint32_t failure_threshold(const BreakerSettings& settings) {
    return std::max<std::uint32_t>(settings.failure_threshold, 1);
}

}  // namespace

std::string_view to_string(BreakerState state) {
    switch (state) {
    case BreakerState::closed:
        return "closed";
    case BreakerState::open:
        return "open";
    case BreakerState::half_open:
        return "half_open";
    }
    return "unknown";
}

// Relaxed ordering throughout: the word carries all of the breaker's state, and nothing else is
// published through it; the CAS on one atomic already gives every thread the same order.
CircuitBreaker::Permit CircuitBreaker::try_acquire(const BreakerSettings& settings,
                                                   SteadyClock::time_point now) {
    std::uint64_t word = word_.load(std::memory_order_relaxed);
    for (;;) {
        const BreakerState state = state_of(word);
        if (state == BreakerState::closed) {
            return Permit::normal;
        }
        const bool timeout_elapsed = to_nanos(now) >= payload_of(word) + timeout_nanos(settings);
        if (state == BreakerState::half_open || !timeout_elapsed) {
            rejected_.fetch_add(1, std::memory_order_relaxed);
            return Permit::rejected;
        }
        // Keep the opening time: the trial's outcome replaces it anyway. A failed CAS reloads
        // `word`; the loop then sees the winner's half_open and rejects.
        if (word_.compare_exchange_weak(word, pack(BreakerState::half_open, payload_of(word)),
                                        std::memory_order_relaxed)) {
            return Permit::trial;
        }
    }
}

bool CircuitBreaker::would_admit(const BreakerSettings& settings, SteadyClock::time_point now) const {
    const std::uint64_t word = word_.load(std::memory_order_relaxed);
    switch (state_of(word)) {
    case BreakerState::closed: return true;
    case BreakerState::half_open: return false;
    case BreakerState::open: return to_nanos(now) >= payload_of(word) + timeout_nanos(settings);
    }
    return false;
}

void CircuitBreaker::record(Permit permit, Outcome outcome, const BreakerSettings& settings,
                            SteadyClock::time_point now) {
    if (permit == Permit::rejected) {
        return;  // nothing reached the upstream
    }
    if (outcome == Outcome::success) {
        successes_.fetch_add(1, std::memory_order_relaxed);
    } else if (outcome == Outcome::failure) {
        failures_.fetch_add(1, std::memory_order_relaxed);
    }
    if (permit == Permit::normal) {
        record_normal(outcome, settings, now);
    } else {
        record_trial(outcome, settings, now);
    }
}

void CircuitBreaker::record_normal(Outcome outcome, const BreakerSettings& settings,
                                   SteadyClock::time_point now) {
    if (outcome == Outcome::neutral) {
        return;
    }
    std::uint64_t word = word_.load(std::memory_order_relaxed);
    for (;;) {
        if (state_of(word) != BreakerState::closed) {
            return;  // a permit of the generation before the breaker opened
        }
        const std::int64_t failures = payload_of(word);
        std::uint64_t next = 0;
        bool opens = false;
        if (outcome == Outcome::success) {
            if (failures == 0) {
                return;  // the common case stays a plain load
            }
            next = pack(BreakerState::closed, 0);
        } else if (failures + 1 >= failure_threshold(settings)) {
            next = pack(BreakerState::open, to_nanos(now));
            opens = true;
        } else {
            next = pack(BreakerState::closed, failures + 1);
        }
        if (word_.compare_exchange_weak(word, next, std::memory_order_relaxed)) {
            if (opens) {
                times_opened_.fetch_add(1, std::memory_order_relaxed);
            }
            return;
        }
    }
}

void CircuitBreaker::record_trial(Outcome outcome, const BreakerSettings& settings,
                                  SteadyClock::time_point now) {
    std::uint64_t next = 0;
    switch (outcome) {
    case Outcome::success:
        next = pack(BreakerState::closed, 0);
        break;
    case Outcome::failure:
        next = pack(BreakerState::open, to_nanos(now));
        break;
    case Outcome::neutral:
        // The trial told us nothing: open as if the timeout ended now, so the next request
        // may take a new trial at once (if a reload lengthens the timeout first, that request
        // waits for the difference).
        next = pack(BreakerState::open, clamp_payload(to_nanos(now) - timeout_nanos(settings)));
        break;
    }
    // Only the trial's holder moves the breaker out of half_open, so this CAS fails only when
    // a trial is recorded twice; the second record is then ignored.
    std::uint64_t expected = word_.load(std::memory_order_relaxed);
    if (state_of(expected) != BreakerState::half_open ||
        !word_.compare_exchange_strong(expected, next, std::memory_order_relaxed)) {
        return;
    }
    if (outcome == Outcome::failure) {
        times_opened_.fetch_add(1, std::memory_order_relaxed);
    }
}

CircuitBreaker::Snapshot CircuitBreaker::snapshot(const BreakerSettings& settings) const {
    const std::uint64_t word = word_.load(std::memory_order_relaxed);
    const BreakerState state = state_of(word);
    Snapshot snapshot{
        .state = state,
        .consecutive_failures = 0,
        .successes = successes_.load(std::memory_order_relaxed),
        .failures = failures_.load(std::memory_order_relaxed),
        .rejected = rejected_.load(std::memory_order_relaxed),
        .times_opened = times_opened_.load(std::memory_order_relaxed),
        .open_until = std::nullopt,
    };
    if (state == BreakerState::closed) {
        snapshot.consecutive_failures = static_cast<std::uint32_t>(payload_of(word));
    } else if (state == BreakerState::open) {
        snapshot.open_until = from_nanos(payload_of(word) + timeout_nanos(settings));
    }
    return snapshot;
}

}  // namespace cell::resilience
