#pragma once
// One request and what happened to it, from its head to its last byte: the table it was
// routed with, its ids, the route decision and failover, the breaker ticket and concurrency slot
// it holds, its timings and its outcome. The response headers, the access log and the metrics
// all read it; nothing about a request is kept anywhere else. Include only from .cpp files.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cell/observability/outcome.hpp"
#include "cell/proxy/headers.hpp"
#include "cell/resilience/circuit_breaker.hpp"
#include "cell/resilience/concurrency_limiter.hpp"
#include "cell/routing/failover.hpp"
#include "cell/routing/table.hpp"

namespace cell::proxy {

using observability::Outcome;
using ExchangeClock = std::chrono::steady_clock;

// The moments of an exchange the router can tell apart; unset ones stay at the epoch.
struct ExchangeTimings {
    ExchangeClock::time_point started;                 // the request's first bytes were there
    ExchangeClock::time_point routed;                  // placement chosen and admitted
    ExchangeClock::time_point connect_started;         // asking the pool for a cell connection
    ExchangeClock::time_point connected;               // have one (new or reused)
    ExchangeClock::time_point request_head_sent;       // the request head went to the cell
    ExchangeClock::time_point response_head_received;  // the cell's final response head arrived
    ExchangeClock::time_point response_head_sent;      // ... and went to the client
    ExchangeClock::time_point finished;                // the exchange ended, however it did
};

// Records the serving placement's breaker verdict exactly once, whichever way the exchange
// ends (including the coroutine being destroyed at shutdown: neutral).
class BreakerTicket {
public:
    BreakerTicket() = default;
    BreakerTicket(const routing::PlacementTarget* placement, resilience::CircuitBreaker::Permit permit)
        : placement_(placement), permit_(permit) {}
    BreakerTicket(const BreakerTicket&) = delete;
    BreakerTicket& operator=(const BreakerTicket&) = delete;
    BreakerTicket& operator=(BreakerTicket&& other) noexcept;
    ~BreakerTicket() { settle(resilience::Outcome::neutral); }

    void settle(resilience::Outcome outcome);

private:
    const routing::PlacementTarget* placement_ = nullptr;
    resilience::CircuitBreaker::Permit permit_ = resilience::CircuitBreaker::Permit::rejected;
};

class Exchange {
public:
    Exchange(routing::TableConstPtr pinned_table, std::string_view client_address);
    ~Exchange();
    Exchange(const Exchange&) = delete;
    Exchange& operator=(const Exchange&) = delete;

    // What the request is.
    const routing::TableConstPtr table;  // pinned: a swap mid-request must not mix tables
    const std::string_view client_address;
    std::string request_id;
    std::string method;
    std::string path;  // without the query
    std::string routing_key;
    std::string trace_id;  // from a valid traceparent
    RequestCheck check;

    // Where it went. `routed` is the key's placement; `serving` the one that took it (a
    // fallback when failover is set; null when none could).
    const routing::PlacementTarget* routed = nullptr;
    routing::RouteReason route_reason = routing::RouteReason::default_placement;
    const routing::PlacementTarget* serving = nullptr;
    routing::FailoverReason failover = routing::FailoverReason::none;
    bool fail_open = false;
    BreakerTicket breaker;
    resilience::ConcurrencySlot concurrency_slot;

    // What happened.
    std::optional<Outcome> outcome;  // unset while it is still going on
    unsigned status = 0;             // sent to the client; 499 when it left before its response
    std::string error;               // what went wrong, for the log, when something did
    std::uint64_t bytes_in = 0;      // request body bytes received from the client
    std::uint64_t bytes_out = 0;     // response body bytes sent to the client
    bool upstream_reused = false;
    ExchangeTimings at;

    // Sets the route decision: the key's placement, and the one chosen to serve it.
    void route(const routing::RouteDecision& decision, const routing::PlacementChoice& choice);

    // The outcome of a response the cell gave whole: the route reason, or the failover one.
    Outcome served_outcome() const;

    // Ends the exchange: its outcome, settles the breaker, stops the clock.
    void finish(Outcome final_outcome);

    // The X-Routed-To / X-Route-Reason / X-Failover-Reason / X-Original-Placement / X-Request-Id
    // values of the answer, whoever makes it. Views into the exchange and its table.
    RouteHeaders route_headers() const;

    // The placement that took the request, else the routed one, else null: the one the log
    // line and the metrics are about.
    const routing::PlacementTarget* placement() const { return serving != nullptr ? serving : routed; }

    // Time the router itself added: up to the request head leaving for the cell, less the
    // connect, plus turning the response head around; all of it for an answer made locally.
    std::chrono::nanoseconds router_added() const;
    std::chrono::nanoseconds total() const { return at.finished - at.started; }

private:
    resilience::Outcome breaker_verdict() const;
};

}  // namespace cell::proxy
