#pragma once
// How a request ended, in one vocabulary: the access log's `outcome` field, the `reason` label of
// the request metrics and the `"error"` of a router-made answer all use these words
// (docs/outcomes.md has the table). Beast-free.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cell::observability {

enum class Outcome : std::uint8_t {
    // The cell's response went to the client whole, from the placement the key routes to ...
    dedicated,  // ... by a dedicated placement of the key
    tier,       // ... by the key's shared tier
    default_,   // ... by the table's default placement (the key is unknown)
    override_,  // ... by the placement a pin sends the key to (operations.pins)
    // ... or from another placement, because the routed placement could not take it ...
    failover_unhealthy,
    failover_circuit_open,
    failover_drained,  // ... or is being drained (operations.drains)

    // The router answered itself, without a cell.
    debug_endpoint,          // /debug/config on the proxy port
    bad_request,             // unparseable request or ambiguous framing
    header_too_large,        // header section over max_header_bytes
    version_not_supported,   // an HTTP major version other than 1
    missing_key,             // no X-Routing-Key, or an empty one
    conflicting_key,         // X-Routing-Key repeated with different values
    method_not_allowed,      // CONNECT
    expectation_failed,      // Expect other than 100-continue
    too_many_connections,    // the router already holds max_connections client connections
    circuit_open,            // the breakers of the routed placement and every fallback are open
    rate_limited,            // the placement's rate limit has no token left
    concurrency_limited,     // the placement already has concurrency_limit requests in flight
    body_too_large,          // request body over the placement's max_request_body_bytes
    paused,                  // the routing key is paused (operations.pauses): 503 with Retry-After

    // The cell failed the request.
    connect_failed,          // refused, unresolvable, or no connection within connect_timeout
    upstream_timeout,        // no response head within response_timeout, or the body stalled
    upstream_reset,          // the cell closed or reset the connection before the response ended
    bad_upstream_response,   // the cell sent something that is not a valid HTTP/1.1 response

    // The client left before its response was complete.
    client_closed,
};

inline constexpr std::size_t outcome_count = static_cast<std::size_t>(Outcome::client_closed) + 1;

// The word for an outcome: "dedicated", "failover_unhealthy", "connect_failed", ...
std::string_view to_string(Outcome outcome);

// Who ended a failed exchange: the access log's `error_source`.
enum class ErrorSource : std::uint8_t {
    none,
    downstream,  // the client: bad request, or it went away
    router,      // a router-side limit or state refused it
    upstream,    // the cell
};

std::string_view to_string(ErrorSource source);

// The error source an outcome implies (none for the served ones).
ErrorSource source_of(Outcome outcome);

// True for the outcomes where a cell's response reached the client whole.
constexpr bool is_served(Outcome outcome) { return outcome <= Outcome::failover_drained; }

// Status classes as metric labels: "1xx" .. "5xx"; anything else is "other".
std::string_view status_class(unsigned status);

// Every outcome, in declaration order, for whoever needs to enumerate them (metrics, docs).
constexpr std::array<Outcome, outcome_count> all_outcomes() {
    std::array<Outcome, outcome_count> outcomes{};
    for (std::size_t i = 0; i < outcome_count; ++i) {
        outcomes[i] = static_cast<Outcome>(i);
    }
    return outcomes;
}

}  // namespace cell::observability
