#pragma once
// Which placement actually serves a request, given the live health and breaker state: the
// routed placement when it can, else the first usable one along its fallback chain and then
// the default placement. Local and lock-free: it reads atomics only.

#include <string_view>

#include "cell/resilience/circuit_breaker.hpp"
#include "cell/routing/table.hpp"

namespace cell::routing {

// drained: a drain of the routed placement moved the request (operations.drains).
enum class FailoverReason { none, unhealthy, circuit_open, drained };

// The X-Failover-Reason value: "unhealthy", "circuit_open" or "drained" ("" for none).
std::string_view to_string(FailoverReason reason);

struct PlacementChoice {
    // Null only when every candidate's breaker refused: the request gets a 503.
    const PlacementTarget* serving = nullptr;
    // Why the routed placement did not serve; none when it did.
    FailoverReason failover = FailoverReason::none;
    // No candidate was both healthy and admitted by its breaker, so health was ignored: the
    // routed placement (or the first along the chain whose breaker admits) serves anyway.
    bool fail_open = false;
    // The breaker ticket of `serving`; record its outcome exactly once (rejected when the
    // placement has no breaker).
    resilience::CircuitBreaker::Permit permit = resilience::CircuitBreaker::Permit::rejected;
};

// Candidates in order: `routed`, its fallbacks, then the table's default placement. A placement
// is skipped when its health check says unhealthy or its breaker refuses. Takes a breaker
// permit from the placement it chooses, never from one it skips.
PlacementChoice choose_placement(const Table& table, const PlacementTarget& routed,
                                 resilience::SteadyClock::time_point now);

// The same walk without side effects (no permit taken), for /debug/route.
PlacementChoice preview_placement(const Table& table, const PlacementTarget& routed,
                                  resilience::SteadyClock::time_point now);

}  // namespace cell::routing
