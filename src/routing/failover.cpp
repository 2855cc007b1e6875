#include "cell/routing/failover.hpp"

namespace cell::routing {
namespace {

using Permit = resilience::CircuitBreaker::Permit;

// Visits the candidates of `routed` in order until `visit` returns true. Validation rules out
// fallback cycles; the step bound keeps even a broken table from looping.
template <typename Visit>
const PlacementTarget* walk_candidates(const Table& table, const PlacementTarget& routed, Visit visit) {
    const PlacementTarget* candidate = &routed;
    bool default_seen = false;
    for (std::size_t steps = 0; candidate != nullptr && steps <= table.placements().size(); ++steps) {
        default_seen = default_seen || candidate == &table.default_placement();
        if (visit(*candidate)) {
            return candidate;
        }
        candidate = table.fallback_of(*candidate);
    }
    if (!default_seen && visit(table.default_placement())) {
        return &table.default_placement();
    }
    return nullptr;
}

bool healthy(const PlacementTarget& placement) {
    return !placement.policy.health_check || placement.state->health.routable();
}

// How the breaker of `placement` answers: a real permit, or (for previews) whether it would.
class BreakerGate {
public:
    BreakerGate(resilience::SteadyClock::time_point now, bool take_permits) : now_(now), take_permits_(take_permits) {}

    Permit admit(const PlacementTarget& placement) const {
        const auto& settings = placement.policy.circuit_breaker;
        if (!settings) {
            return Permit::rejected;  // no breaker: nothing to record, and nothing refuses
        }
        if (take_permits_) {
            return placement.state->breaker.try_acquire(*settings, now_);
        }
        return placement.state->breaker.would_admit(*settings, now_) ? Permit::normal : Permit::rejected;
    }

    bool admits(const PlacementTarget& placement, Permit permit) const {
        return !placement.policy.circuit_breaker || permit != Permit::rejected;
    }

private:
    resilience::SteadyClock::time_point now_;
    bool take_permits_;
};

PlacementChoice choose(const Table& table, const PlacementTarget& routed, const BreakerGate& gate) {
    PlacementChoice choice;
    const auto note_skip = [&](const PlacementTarget& placement, FailoverReason reason) {
        if (&placement == &routed) {
            choice.failover = reason;
        }
    };
    choice.serving = walk_candidates(table, routed, [&](const PlacementTarget& placement) {
        if (!healthy(placement)) {
            note_skip(placement, FailoverReason::unhealthy);
            return false;
        }
        const Permit permit = gate.admit(placement);
        if (!gate.admits(placement, permit)) {
            note_skip(placement, FailoverReason::circuit_open);
            return false;
        }
        choice.permit = permit;
        return true;
    });
    if (choice.serving != nullptr) {
        if (choice.serving == &routed) {
            choice.failover = FailoverReason::none;
        }
        return choice;
    }
    // Nothing healthy is left: fail open rather than refuse everything on the word of health
    // checks alone. Placements that were healthy were refused by their breaker just now; ask
    // only the unhealthy ones.
    choice.serving = walk_candidates(table, routed, [&](const PlacementTarget& placement) {
        if (healthy(placement)) {
            return false;
        }
        const Permit permit = gate.admit(placement);
        if (!gate.admits(placement, permit)) {
            return false;
        }
        choice.permit = permit;
        return true;
    });
    choice.fail_open = choice.serving != nullptr;
    if (choice.serving == &routed) {
        choice.failover = FailoverReason::none;
    }
    return choice;
}

}  // namespace

std::string_view to_string(FailoverReason reason) {
    switch (reason) {
    case FailoverReason::none: return "";
    case FailoverReason::unhealthy: return "unhealthy";
    case FailoverReason::circuit_open: return "circuit_open";
    case FailoverReason::drained: return "drained";
    }
    return "";
}

PlacementChoice choose_placement(const Table& table, const PlacementTarget& routed,
                                 resilience::SteadyClock::time_point now) {
    return choose(table, routed, BreakerGate(now, true));
}

PlacementChoice preview_placement(const Table& table, const PlacementTarget& routed,
                                  resilience::SteadyClock::time_point now) {
    return choose(table, routed, BreakerGate(now, false));
}

}  // namespace cell::routing
