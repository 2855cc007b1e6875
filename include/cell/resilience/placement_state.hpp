#pragma once
// The live state of one placement that outlives routing tables: health, breaker, in-flight
// count and rate-limit bucket. Tables come and go with every config change; this state is
// handed from one table to the next by name, so a reload does not reset a breaker that is open
// or forget a cell that is down.
//
// Thread safety: PlacementState members are lock-free and shared by all worker threads;
// PlacementStateRegistry is called only when a table is built (not on the request path).

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cell/observability/request_counters.hpp"
#include "cell/resilience/circuit_breaker.hpp"
#include "cell/resilience/concurrency_limiter.hpp"
#include "cell/resilience/health_tracker.hpp"
#include "cell/resilience/rate_limiter.hpp"

namespace cell::resilience {

struct PlacementState {
    explicit PlacementState(std::string endpoint_url) : url(std::move(endpoint_url)) {}

    // Logs (at most once a second per placement, so an outage cannot flood the log) that
    // this placement serves `routed`'s request although health checks say nothing is healthy.
    void note_fail_open(std::string_view serving, std::string_view routed, SteadyClock::time_point now);

    const std::string url;  // the endpoint this state describes
    HealthTracker health;
    CircuitBreaker breaker;
    ConcurrencyLimiter concurrency;
    RateLimiter rate_limiter;
    // Requests counted under this placement, one shard per worker (docs/observability.md).
    observability::ShardedRequestCounters metrics;

private:
    std::atomic<std::int64_t> last_fail_open_log_ns_{std::numeric_limits<std::int64_t>::min()};
};

using PlacementStatePtr = std::shared_ptr<PlacementState>;

class PlacementStateRegistry {
public:
    // The state of placement `name` at `url`: the one the previous table used when the URL is
    // the same, a fresh one when the placement is new or its URL changed (another cell's
    // health and failures say nothing about this one). `health_checked` says whether the new
    // table probes it: a check that comes back after being removed starts from unknown.
    PlacementStatePtr state_for(std::string_view name, std::string_view url, bool health_checked);

    // Makes `state` the one placement `name` continues with (the startup table's states).
    void adopt(std::string_view name, PlacementStatePtr state, bool health_checked);

    // Forgets every placement not in `names` (called with each new table's placements, so
    // removed placements do not linger; old tables still hold their own references).
    void retain_only(const std::vector<std::string_view>& names);

private:
    std::mutex mutex_;
    struct Entry {
        PlacementStatePtr state;
        bool health_checked = false;
    };
    std::unordered_map<std::string, Entry> states_;
};

}  // namespace cell::resilience
