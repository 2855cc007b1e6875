#pragma once
// One request's trip to its cell and back: connect (or reuse), send the rewritten header,
// stream the request body up, relay interim responses, stream the response down.
// Include only from .cpp files (pulls in Asio/Beast).

#include <cstdint>
#include <string>
#include <string_view>

#include "cell/config/proxy_settings.hpp"
#include "cell/proxy/headers.hpp"
#include "cell/proxy/worker_state.hpp"
#include "cell/resilience/circuit_breaker.hpp"
#include "cell/routing/table.hpp"
#include "cell/runtime/io.hpp"

namespace cell::proxy {

using RequestParser = http::request_parser<http::buffer_body>;

// What the access log reports about one exchange.
struct ExchangeRecord {
    unsigned status = 0;             // status sent to the client; 499 when the client left first
    std::uint64_t bytes_in = 0;      // request body bytes received from the client
    std::uint64_t bytes_out = 0;     // response body bytes sent to the client
    std::string_view error_source;   // "", "downstream", "upstream" or "internal"
    std::string error;               // what went wrong, when something did
    bool upstream_reused = false;
    // What the exchange says about the cell, for its circuit breaker: failure for connect
    // errors, timeouts, broken responses and 5xx; neutral when the client or a router limit
    // ended it first.
    resilience::Outcome upstream_outcome = resilience::Outcome::neutral;
};

// The placement that serves the request and what the answer says about the choice.
struct Destination {
    const routing::PlacementTarget& serving;
    std::string_view route_reason;        // X-Route-Reason of the routed placement
    std::string_view failover_reason;     // X-Failover-Reason; empty when the routed placement serves
    std::string_view original_placement;  // X-Original-Placement; likewise
};

// How the client connection continues after the exchange.
enum class ConnectionVerdict {
    keep_alive,  // ready for the next request
    close,       // response complete; close gracefully
    abort,       // response incomplete or client gone; close at once
};

// NOTE: every reference must outlive the co_await of forward_request; the session coroutine
// owns them all and awaits the call directly.
struct ForwardRequest {
    tcp_stream& client;
    beast::flat_buffer& client_buffer;
    RequestParser& parser;
    const RequestCheck& check;
    const Destination& destination;
    std::string_view request_id;
    std::string_view client_address;
    const config::ProxySettings& settings;
    WorkerState& worker;
    SessionRegistration& registration;
    ExchangeRecord& record;
};

awaitable<ConnectionVerdict> forward_request(ForwardRequest request);

// Answers the client with a router-made response (errors, /debug/config) and decides whether
// the connection can go on: only when the request body has been read completely.
awaitable<ConnectionVerdict> send_local_response(tcp_stream& client, const RequestParser& parser,
                                                 http::response<http::string_body> response,
                                                 bool draining, config::Duration write_timeout);

}  // namespace cell::proxy
