// The circuit breaker's state machine: closed -> open after consecutive upstream failures,
// open -> half_open for exactly one trial after the timeout, and the trial's outcome deciding
// what follows. Time is passed in; nothing sleeps.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <thread>
#include <vector>

#include "cell/resilience/circuit_breaker.hpp"

namespace cell::resilience {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using Permit = CircuitBreaker::Permit;

const SteadyClock::time_point t0 = SteadyClock::time_point() + std::chrono::hours(1);
const BreakerSettings settings{.failure_threshold = 3, .open_timeout = seconds(10)};

// Records `count` failed requests at `now`, each through a normal permit.
void fail_normally(CircuitBreaker& breaker, int count, SteadyClock::time_point now,
                   const BreakerSettings& with = settings) {
    for (int i = 0; i < count; ++i) {
        const Permit permit = breaker.try_acquire(with, now);
        ASSERT_EQ(permit, Permit::normal);
        breaker.record(permit, Outcome::failure, with, now);
    }
}

// Opens the breaker at t0 and takes the trial when its timeout ends.
void open_then_take_trial(CircuitBreaker& breaker) {
    fail_normally(breaker, 3, t0);
    ASSERT_EQ(breaker.try_acquire(settings, t0 + seconds(10)), Permit::trial);
}

// A new breaker is closed and lets requests through.
TEST(CircuitBreakerTest, StartsClosed) {
    CircuitBreaker breaker;
    EXPECT_EQ(breaker.try_acquire(settings, t0), Permit::normal);
    const auto snapshot = breaker.snapshot(settings);
    EXPECT_EQ(snapshot.state, BreakerState::closed);
    EXPECT_EQ(snapshot.consecutive_failures, 0u);
    EXPECT_EQ(snapshot.times_opened, 0u);
    EXPECT_EQ(snapshot.open_until, std::nullopt);
}

// Failures below the threshold are counted and keep it closed; the threshold-th opens it.
TEST(CircuitBreakerTest, OpensAtTheFailureThreshold) {
    CircuitBreaker breaker;
    fail_normally(breaker, 2, t0);
    EXPECT_EQ(breaker.snapshot(settings).state, BreakerState::closed);
    EXPECT_EQ(breaker.snapshot(settings).consecutive_failures, 2u);

    fail_normally(breaker, 1, t0 + seconds(1));
    const auto snapshot = breaker.snapshot(settings);
    EXPECT_EQ(snapshot.state, BreakerState::open);
    EXPECT_EQ(snapshot.consecutive_failures, 0u);
    EXPECT_EQ(snapshot.times_opened, 1u);
    EXPECT_EQ(snapshot.failures, 3u);
    EXPECT_EQ(snapshot.open_until, t0 + seconds(11));
}

// A success ends the run of failures: only consecutive failures open the breaker.
TEST(CircuitBreakerTest, SuccessResetsTheFailureRun) {
    CircuitBreaker breaker;
    fail_normally(breaker, 2, t0);
    breaker.record(breaker.try_acquire(settings, t0), Outcome::success, settings, t0);
    EXPECT_EQ(breaker.snapshot(settings).consecutive_failures, 0u);
    fail_normally(breaker, 2, t0);
    EXPECT_EQ(breaker.snapshot(settings).state, BreakerState::closed);
    fail_normally(breaker, 1, t0);
    EXPECT_EQ(breaker.snapshot(settings).state, BreakerState::open);
}

// A neutral outcome (4xx, client gone, router limit) neither counts nor ends a failure run.
TEST(CircuitBreakerTest, NeutralOutcomeChangesNothing) {
    CircuitBreaker breaker;
    fail_normally(breaker, 2, t0);
    breaker.record(breaker.try_acquire(settings, t0), Outcome::neutral, settings, t0);
    const auto snapshot = breaker.snapshot(settings);
    EXPECT_EQ(snapshot.consecutive_failures, 2u);
    EXPECT_EQ(snapshot.successes, 0u);
    EXPECT_EQ(snapshot.failures, 2u);
    fail_normally(breaker, 1, t0);
    EXPECT_EQ(breaker.snapshot(settings).state, BreakerState::open);
}

// While open and before the timeout ends, every request is rejected and counted.
TEST(CircuitBreakerTest, RejectsUntilTheTimeoutEnds) {
    CircuitBreaker breaker;
    fail_normally(breaker, 3, t0);
    EXPECT_EQ(breaker.try_acquire(settings, t0), Permit::rejected);
    EXPECT_EQ(breaker.try_acquire(settings, t0 + seconds(10) - nanoseconds(1)), Permit::rejected);
    const auto snapshot = breaker.snapshot(settings);
    EXPECT_EQ(snapshot.state, BreakerState::open);
    EXPECT_EQ(snapshot.rejected, 2u);
}

// At the end of the timeout one caller gets a trial and the breaker is half open.
TEST(CircuitBreakerTest, GrantsATrialAtTheTimeout) {
    CircuitBreaker breaker;
    fail_normally(breaker, 3, t0);
    EXPECT_EQ(breaker.try_acquire(settings, t0 + seconds(10)), Permit::trial);
    const auto snapshot = breaker.snapshot(settings);
    EXPECT_EQ(snapshot.state, BreakerState::half_open);
    EXPECT_EQ(snapshot.open_until, std::nullopt);
}

// A caller arriving long after the timeout also gets the trial.
TEST(CircuitBreakerTest, GrantsATrialAfterTheTimeout) {
    CircuitBreaker breaker;
    fail_normally(breaker, 3, t0);
    EXPECT_EQ(breaker.try_acquire(settings, t0 + std::chrono::hours(5)), Permit::trial);
}

// While the trial is in flight, everyone else is rejected, however late they come.
TEST(CircuitBreakerTest, HalfOpenRejectsAllButTheTrial) {
    CircuitBreaker breaker;
    open_then_take_trial(breaker);
    EXPECT_EQ(breaker.try_acquire(settings, t0 + seconds(10)), Permit::rejected);
    EXPECT_EQ(breaker.try_acquire(settings, t0 + seconds(100)), Permit::rejected);
    EXPECT_EQ(breaker.snapshot(settings).state, BreakerState::half_open);
    EXPECT_EQ(breaker.snapshot(settings).rejected, 2u);
}

// A successful trial closes the breaker with a fresh failure run.
TEST(CircuitBreakerTest, TrialSuccessCloses) {
    CircuitBreaker breaker;
    open_then_take_trial(breaker);
    breaker.record(Permit::trial, Outcome::success, settings, t0 + seconds(11));
    const auto snapshot = breaker.snapshot(settings);
    EXPECT_EQ(snapshot.state, BreakerState::closed);
    EXPECT_EQ(snapshot.consecutive_failures, 0u);
    EXPECT_EQ(breaker.try_acquire(settings, t0 + seconds(11)), Permit::normal);
    // It takes a full new run of failures to open again.
    fail_normally(breaker, 2, t0 + seconds(12));
    EXPECT_EQ(breaker.snapshot(settings).state, BreakerState::closed);
}

// A failed trial reopens the breaker for a whole timeout from the trial's end.
TEST(CircuitBreakerTest, TrialFailureReopens) {
    CircuitBreaker breaker;
    open_then_take_trial(breaker);
    const auto failed_at = t0 + seconds(12);
    breaker.record(Permit::trial, Outcome::failure, settings, failed_at);
    const auto snapshot = breaker.snapshot(settings);
    EXPECT_EQ(snapshot.state, BreakerState::open);
    EXPECT_EQ(snapshot.times_opened, 2u);
    EXPECT_EQ(snapshot.open_until, failed_at + seconds(10));
    EXPECT_EQ(breaker.try_acquire(settings, failed_at + seconds(10) - nanoseconds(1)), Permit::rejected);
    EXPECT_EQ(breaker.try_acquire(settings, failed_at + seconds(10)), Permit::trial);
}

// A neutral trial told us nothing: open again, but the very next request may take a new trial.
TEST(CircuitBreakerTest, NeutralTrialAllowsANewTrialAtOnce) {
    CircuitBreaker breaker;
    open_then_take_trial(breaker);
    const auto ended_at = t0 + seconds(13);
    breaker.record(Permit::trial, Outcome::neutral, settings, ended_at);
    const auto snapshot = breaker.snapshot(settings);
    EXPECT_EQ(snapshot.state, BreakerState::open);
    EXPECT_EQ(snapshot.times_opened, 1u);
    EXPECT_EQ(snapshot.open_until, ended_at);
    EXPECT_EQ(breaker.try_acquire(settings, ended_at), Permit::trial);
    EXPECT_EQ(breaker.try_acquire(settings, ended_at), Permit::rejected);
}

// A late success of a permit granted before the breaker opened must not close it.
TEST(CircuitBreakerTest, LateSuccessOfAnOldPermitDoesNotClose) {
    CircuitBreaker breaker;
    const Permit old_permit = breaker.try_acquire(settings, t0);
    ASSERT_EQ(old_permit, Permit::normal);
    fail_normally(breaker, 3, t0);
    breaker.record(old_permit, Outcome::success, settings, t0 + seconds(1));
    const auto snapshot = breaker.snapshot(settings);
    EXPECT_EQ(snapshot.state, BreakerState::open);
    EXPECT_EQ(snapshot.open_until, t0 + seconds(10));
    EXPECT_EQ(snapshot.successes, 1u);  // still counted
}

// Old permits' outcomes while half open neither close, reopen nor disturb the trial.
TEST(CircuitBreakerTest, OldPermitsAreIgnoredWhileHalfOpen) {
    CircuitBreaker breaker;
    const Permit old_success = breaker.try_acquire(settings, t0);
    const Permit old_failure = breaker.try_acquire(settings, t0);
    open_then_take_trial(breaker);
    breaker.record(old_success, Outcome::success, settings, t0 + seconds(11));
    breaker.record(old_failure, Outcome::failure, settings, t0 + seconds(11));
    auto snapshot = breaker.snapshot(settings);
    EXPECT_EQ(snapshot.state, BreakerState::half_open);
    EXPECT_EQ(snapshot.times_opened, 1u);
    EXPECT_EQ(snapshot.successes, 1u);
    EXPECT_EQ(snapshot.failures, 4u);

    breaker.record(Permit::trial, Outcome::failure, settings, t0 + seconds(12));
    snapshot = breaker.snapshot(settings);
    EXPECT_EQ(snapshot.state, BreakerState::open);
    EXPECT_EQ(snapshot.open_until, t0 + seconds(22));
}

// Late failures of old permits while open do not extend the open period.
TEST(CircuitBreakerTest, OldFailuresDoNotExtendTheOpenPeriod) {
    CircuitBreaker breaker;
    const Permit old_permit = breaker.try_acquire(settings, t0);
    fail_normally(breaker, 3, t0);
    breaker.record(old_permit, Outcome::failure, settings, t0 + seconds(9));
    EXPECT_EQ(breaker.snapshot(settings).open_until, t0 + seconds(10));
    EXPECT_EQ(breaker.snapshot(settings).times_opened, 1u);
    EXPECT_EQ(breaker.try_acquire(settings, t0 + seconds(10)), Permit::trial);
}

// Recording a rejected permit does nothing: no request reached the upstream.
TEST(CircuitBreakerTest, RecordOfARejectedPermitIsIgnored) {
    CircuitBreaker breaker;
    fail_normally(breaker, 3, t0);
    breaker.record(Permit::rejected, Outcome::success, settings, t0);
    const auto snapshot = breaker.snapshot(settings);
    EXPECT_EQ(snapshot.state, BreakerState::open);
    EXPECT_EQ(snapshot.successes, 0u);
}

// A reload's new timeout applies to a breaker that is already open.
TEST(CircuitBreakerTest, NewTimeoutAppliesWhileOpen) {
    CircuitBreaker breaker;
    fail_normally(breaker, 3, t0);
    const BreakerSettings shorter{.failure_threshold = 3, .open_timeout = seconds(2)};
    EXPECT_EQ(breaker.snapshot(shorter).open_until, t0 + seconds(2));
    EXPECT_EQ(breaker.try_acquire(shorter, t0 + seconds(2)), Permit::trial);
}

// A reload's lower threshold applies to the current failure run.
TEST(CircuitBreakerTest, NewThresholdAppliesToTheCurrentRun) {
    CircuitBreaker breaker;
    fail_normally(breaker, 2, t0);
    const BreakerSettings lower{.failure_threshold = 2, .open_timeout = seconds(10)};
    fail_normally(breaker, 1, t0, lower);
    EXPECT_EQ(breaker.snapshot(lower).state, BreakerState::open);
}

// A threshold of 0 behaves as 1 rather than never opening.
TEST(CircuitBreakerTest, ThresholdZeroOpensOnTheFirstFailure) {
    CircuitBreaker breaker;
    const BreakerSettings zero{.failure_threshold = 0, .open_timeout = seconds(10)};
    fail_normally(breaker, 1, t0, zero);
    EXPECT_EQ(breaker.snapshot(zero).state, BreakerState::open);
}

// A timeout too large for nanoseconds keeps the breaker open instead of wrapping around.
TEST(CircuitBreakerTest, HugeTimeoutDoesNotWrap) {
    CircuitBreaker breaker;
    const BreakerSettings huge{.failure_threshold = 1,
                               .open_timeout = milliseconds(std::numeric_limits<std::int64_t>::max())};
    fail_normally(breaker, 1, t0, huge);
    EXPECT_EQ(breaker.try_acquire(huge, t0 + std::chrono::hours(24 * 365)), Permit::rejected);
}

TEST(CircuitBreakerTest, StateNames) {
    EXPECT_EQ(to_string(BreakerState::closed), "closed");
    EXPECT_EQ(to_string(BreakerState::open), "open");
    EXPECT_EQ(to_string(BreakerState::half_open), "half_open");
}

// Many threads asking at the same instant after the timeout: exactly one trial per opening.
TEST(CircuitBreakerTest, ConcurrentCallersGetExactlyOneTrial) {
    constexpr int threads = 8;
    constexpr int calls_per_thread = 2000;
    constexpr int rounds = 20;
    CircuitBreaker breaker;
    fail_normally(breaker, 3, t0);
    SteadyClock::time_point opened_at = t0;
    for (int round = 0; round < rounds; ++round) {
        const auto now = opened_at + seconds(10);
        std::atomic<int> trials{0};
        std::atomic<int> ready{0};
        std::vector<std::thread> workers;
        for (int t = 0; t < threads; ++t) {
            workers.emplace_back([&] {
                // Start together so that the first calls race for the trial.
                ready.fetch_add(1);
                while (ready.load() < threads) {
                }
                for (int call = 0; call < calls_per_thread; ++call) {
                    const Permit permit = breaker.try_acquire(settings, now);
                    ASSERT_NE(permit, Permit::normal);
                    if (permit == Permit::trial) {
                        trials.fetch_add(1);
                    }
                }
            });
        }
        for (auto& worker : workers) {
            worker.join();
        }
        ASSERT_EQ(trials.load(), 1) << "round " << round;
        breaker.record(Permit::trial, Outcome::failure, settings, now);
        opened_at = now;
    }
    const auto snapshot = breaker.snapshot(settings);
    EXPECT_EQ(snapshot.rejected, std::uint64_t{rounds} * (threads * calls_per_thread - 1));
    EXPECT_EQ(snapshot.times_opened, std::uint64_t{rounds} + 1);
}

// Concurrent failures open the breaker once; later ones belong to the open breaker and are ignored.
TEST(CircuitBreakerTest, ConcurrentFailuresOpenOnce) {
    constexpr int threads = 8;
    constexpr int failures_per_thread = 1000;
    CircuitBreaker breaker;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
            for (int i = 0; i < failures_per_thread; ++i) {
                // As if every permit had been granted before the first failure came back.
                breaker.record(Permit::normal, Outcome::failure, settings, t0);
            }
        });
    }
    for (auto& worker : workers) {
        worker.join();
    }
    const auto snapshot = breaker.snapshot(settings);
    EXPECT_EQ(snapshot.state, BreakerState::open);
    EXPECT_EQ(snapshot.times_opened, 1u);
    EXPECT_EQ(snapshot.failures, std::uint64_t{threads} * failures_per_thread);
}

// No concurrent failure is lost: a run one short of the threshold leaves the breaker closed
// with the exact count.
TEST(CircuitBreakerTest, ConcurrentFailuresAreCountedExactly) {
    constexpr int threads = 8;
    constexpr int failures_per_thread = 1000;
    const BreakerSettings high{.failure_threshold = threads * failures_per_thread + 1,
                               .open_timeout = seconds(10)};
    CircuitBreaker breaker;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
            for (int i = 0; i < failures_per_thread; ++i) {
                breaker.record(breaker.try_acquire(high, t0), Outcome::failure, high, t0);
            }
        });
    }
    for (auto& worker : workers) {
        worker.join();
    }
    const auto snapshot = breaker.snapshot(high);
    EXPECT_EQ(snapshot.state, BreakerState::closed);
    EXPECT_EQ(snapshot.consecutive_failures, std::uint32_t{threads * failures_per_thread});
}

}  // namespace
}  // namespace cell::resilience
