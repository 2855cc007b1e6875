#pragma once
// What the proxy checks and rewrites in request and response headers, as pure functions over
// Beast headers: RFC 9110/9112 hop-by-hop rules, X-Forwarded-*, the routing headers.
// Include only from .cpp files (pulls in Beast).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>

#include "cell/proxy/wire_format.hpp"
#include "cell/routing/table.hpp"

namespace cell::proxy {

namespace http = boost::beast::http;
using RequestHeader = http::request_header<>;
using ResponseHeader = http::response_header<>;

inline constexpr std::string_view routing_key_header = "X-Routing-Key";
inline constexpr std::string_view request_id_header = "X-Request-Id";
inline constexpr std::string_view routed_to_header = "X-Routed-To";
inline constexpr std::string_view route_reason_header = "X-Route-Reason";
inline constexpr std::string_view failover_reason_header = "X-Failover-Reason";
inline constexpr std::string_view original_placement_header = "X-Original-Placement";
inline constexpr std::string_view proxy_status_header = "Proxy-Status";  // RFC 9209
inline constexpr std::string_view traceparent_header = "traceparent";    // W3C Trace Context

// Why a request is answered by the router itself instead of being forwarded.
enum class RequestProblem {
    none,
    missing_host,              // HTTP/1.1 without Host
    duplicate_host,            // more than one Host field
    bad_host,                  // a Host value that is not uri-host [":" port]
    bad_transfer_encoding,     // anything but exactly "chunked"
    transfer_encoding_in_http10,  // faulty framing from an HTTP/1.0 sender (RFC 9112 §6.1)
    content_length_too_large,  // Content-Length over max_content_length
    bad_target,                // not origin-, absolute- or asterisk-form
    method_not_allowed,        // CONNECT: this is a reverse proxy, not a tunnel
    unsupported_expectation,   // Expect other than 100-continue
};

// The largest Content-Length accepted: a body size must fit a signed 64-bit count, as file
// offsets do; nginx and HAProxy draw the same line. Larger values get 400.
inline constexpr std::uint64_t max_content_length = 0x7fff'ffff'ffff'ffffULL;

struct RequestCheck {
    RequestProblem problem = RequestProblem::none;
    std::string detail;            // human-readable reason for the error body
    std::string upstream_target;   // origin-form target, byte-exact from the client
    // Host to send upstream (absolute-form authority wins); empty when the client sent none or
    // an empty one, and the cell's own authority goes instead.
    std::string upstream_host;
    bool expects_continue = false; // Expect: 100-continue
};

// Framing, Host and target checks that Beast's parser leaves to the application.
RequestCheck check_request(const RequestHeader& header);

// True for a valid Host field value: uri-host [":" port] (RFC 9112 §3.2, RFC 3986 §3.2.2),
// or empty.
bool is_valid_host(std::string_view value);

enum class RoutingKeyProblem { none, missing, empty, conflicting };

struct RoutingKey {
    RoutingKeyProblem problem = RoutingKeyProblem::none;
    std::string_view value;  // points into the header; valid while it lives
};

// Repeated X-Routing-Key fields are accepted only when they all carry the same value.
RoutingKey find_routing_key(const RequestHeader& header);

// The client's X-Request-Id when present and sane (1..128 visible ASCII characters), else a
// fresh 128-bit id.
std::string request_id_for(const RequestHeader& header);

// The trace id of a valid W3C `traceparent` (version 00: "00-<32 hex>-<16 hex>-<2 hex>", ids
// not all zeros; a later version only needs that prefix), else empty. The field itself passes
// to the cell untouched, like `tracestate`.
std::string_view trace_id_of(const RequestHeader& header);

// True for the connection-specific fields of RFC 9110 §7.6.1 plus the ones `connection_value`
// names, none of which may cross the proxy in either direction.
bool is_hop_by_hop(std::string_view field_name, std::string_view connection_value);

struct ForwardedFor {
    std::string request_id;
    std::string client_address;  // appended to X-Forwarded-For
    std::string_view proto;      // X-Forwarded-Proto
};

// Copies end-to-end fields of `in` into `out` (method, target, Host as decided by
// check_request, else `cell_authority`) for an HTTP/1.1 upstream request, which therefore always
// carries exactly one Host. Body framing is left to the caller. The WireHead form writes the
// same head straight into bytes; the caller adds framing and finishes.
void build_upstream_request(const RequestHeader& in, const RequestCheck& check,
                            const ForwardedFor& forwarded, std::string_view cell_authority, RequestHeader& out);
void build_upstream_request(const RequestHeader& in, const RequestCheck& check,
                            const ForwardedFor& forwarded, std::string_view cell_authority, WireHead& out);

struct RouteHeaders {
    std::string_view routed_to;
    std::string_view route_reason;
    std::string_view request_id;
    std::string_view failover_reason;     // empty unless a fallback served
    std::string_view original_placement;  // likewise
};

// Copies end-to-end fields of the upstream response into `out` and adds the routing headers
// (replacing a cell's own). Body framing (Content-Length / chunked / close) is left to the
// caller. The WireHead form writes the same head, as HTTP/`version`, straight into bytes.
void build_downstream_response(const ResponseHeader& in, const RouteHeaders& route,
                               ResponseHeader& out);
void build_downstream_response(const ResponseHeader& in, const RouteHeaders& route, unsigned version,
                               WireHead& out);

// True for a status code a response may carry, 100..599 (RFC 9110 §15). Beast reads any three
// digits; passing on, say, "020" would have the client take it for a final response and the
// cell's real answer, which follows, for the answer to its next request.
bool is_valid_response_status(unsigned status);

// Copies end-to-end fields of an interim (1xx) response.
void build_interim_response(const ResponseHeader& in, ResponseHeader& out);

}  // namespace cell::proxy
