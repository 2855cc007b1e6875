#pragma once
// Every answer the router makes itself, and its status code, decided in one place
// (docs/architecture.md has the table).

#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

namespace cell::proxy {

namespace http = boost::beast::http;

enum class LocalError {
    bad_request,              // unparseable request or ambiguous framing
    header_too_large,         // header section over max_header_bytes
    version_not_supported,    // an HTTP major version other than 1
    missing_routing_key,      // no X-Routing-Key, or an empty one
    conflicting_routing_key,  // X-Routing-Key repeated with different values
    method_not_allowed,       // CONNECT
    expectation_failed,       // Expect other than 100-continue
    no_endpoint,              // placement without endpoint (cannot happen after validation)
    upstream_unreachable,     // connect refused, unresolvable, or connect timeout
    upstream_timeout,         // no response headers within the request timeout
    upstream_bad_response,    // upstream closed or sent garbage before the response began
    circuit_open,             // every candidate placement's circuit breaker is open
    rate_limited,             // the placement's rate limit has no token left
    concurrency_limited,      // the placement already has concurrency_limit requests in flight
    body_too_large,           // request body over the placement's max_request_body_bytes
    too_many_connections,     // the router already holds max_connections client connections
};

http::status status_for(LocalError error);

// Machine-readable name used in the JSON body and the access log, e.g. "upstream_timeout".
std::string_view code_for(LocalError error);

struct LocalResponseContext {
    unsigned version = 11;        // the client's HTTP version
    bool keep_alive = false;
    std::string_view request_id;  // may be empty before one is assigned
    std::string_view route_reason; // set when the request had already been routed
    std::string_view routed_to;
    std::string_view failover_reason;     // X-Failover-Reason, when a fallback was taken
    std::string_view original_placement;  // X-Original-Placement, likewise
    std::string_view limit;               // the config field that refused the request, if one did
    unsigned retry_after_seconds = 0;     // Retry-After, when not 0
};

// A complete response with a short JSON body: {"error": code, "message": detail, "request_id"},
// plus "placement" and "limit" when a placement's limit refused the request.
http::response<http::string_body> make_local_response(LocalError error, std::string_view detail,
                                                      const LocalResponseContext& context);

}  // namespace cell::proxy
