#include "cell/proxy/exchange.hpp"

#include <utility>

namespace cell::proxy {

BreakerTicket& BreakerTicket::operator=(BreakerTicket&& other) noexcept {
    if (this != &other) {
        settle(resilience::Outcome::neutral);
        placement_ = std::exchange(other.placement_, nullptr);
        permit_ = other.permit_;
    }
    return *this;
}

void BreakerTicket::settle(resilience::Outcome outcome) {
    const routing::PlacementTarget* placement = std::exchange(placement_, nullptr);
    if (placement != nullptr && placement->policy.circuit_breaker &&
        permit_ != resilience::CircuitBreaker::Permit::rejected) {
        placement->state->breaker.record(permit_, outcome, *placement->policy.circuit_breaker,
                                         resilience::SteadyClock::now());
    }
}

Exchange::Exchange(routing::TableConstPtr pinned_table, std::string_view client_address)
    : table(std::move(pinned_table)), client_address(client_address) {
    at.started = ExchangeClock::now();
}

Exchange::~Exchange() { breaker.settle(breaker_verdict()); }

void Exchange::route(const routing::RouteDecision& decision, const routing::PlacementChoice& choice) {
    routed = decision.placement;
    route_reason = decision.reason;
    serving = choice.serving;
    failover = choice.failover;
    fail_open = choice.fail_open;
    breaker = BreakerTicket(choice.serving, choice.permit);
}

Outcome Exchange::served_outcome() const {
    switch (failover) {
    case routing::FailoverReason::unhealthy: return Outcome::failover_unhealthy;
    case routing::FailoverReason::circuit_open: return Outcome::failover_circuit_open;
    case routing::FailoverReason::drained: return Outcome::failover_drained;
    case routing::FailoverReason::none: break;
    }
    switch (route_reason) {
    case routing::RouteReason::dedicated: return Outcome::dedicated;
    case routing::RouteReason::tier: return Outcome::tier;
    case routing::RouteReason::override_pin: return Outcome::override_;
    case routing::RouteReason::default_placement:
    case routing::RouteReason::paused: break;  // a paused key is answered locally, never served
    }
    return Outcome::default_;
}

void Exchange::finish(Outcome final_outcome) {
    outcome = final_outcome;
    at.finished = ExchangeClock::now();
    breaker.settle(breaker_verdict());
}

RouteHeaders Exchange::route_headers() const {
    RouteHeaders headers;
    headers.request_id = request_id;
    if (routed == nullptr) {
        return headers;
    }
    headers.routed_to = placement()->name;
    headers.route_reason = routing::to_string(route_reason);
    if (failover != routing::FailoverReason::none) {
        headers.failover_reason = routing::to_string(failover);
        headers.original_placement = routed->name;
    }
    return headers;
}

std::chrono::nanoseconds Exchange::router_added() const {
    const auto epoch = ExchangeClock::time_point{};
    if (at.request_head_sent == epoch) {
        return (at.finished == epoch ? ExchangeClock::now() : at.finished) - at.started;
    }
    auto added = (at.request_head_sent - at.started) - (at.connected - at.connect_started);
    if (at.response_head_sent != epoch) {
        added += at.response_head_sent - at.response_head_received;
    }
    return added;
}

// What the exchange says about the cell: a failure when the cell could not be reached, did not
// answer in time, broke the response or answered 5xx; neutral when the client or a router limit
// ended it before the cell could show either way.
resilience::Outcome Exchange::breaker_verdict() const {
    if (outcome) {
        switch (*outcome) {
        case Outcome::connect_failed:
        case Outcome::upstream_timeout:
        case Outcome::upstream_reset:
        case Outcome::bad_upstream_response: return resilience::Outcome::failure;
        default: break;
        }
    }
    if (at.response_head_received == ExchangeClock::time_point{}) {
        return resilience::Outcome::neutral;
    }
    return status >= 500 ? resilience::Outcome::failure : resilience::Outcome::success;
}

}  // namespace cell::proxy
