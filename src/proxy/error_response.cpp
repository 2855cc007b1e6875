#include "cell/proxy/error_response.hpp"

#include "cell/observability/json_line.hpp"
#include "cell/proxy/headers.hpp"

namespace cell::proxy {

http::status status_for(LocalError error) {
    switch (error) {
    case LocalError::bad_request: return http::status::bad_request;
    case LocalError::header_too_large: return http::status::request_header_fields_too_large;
    case LocalError::version_not_supported: return http::status::http_version_not_supported;
    case LocalError::missing_routing_key: return http::status::bad_request;
    case LocalError::conflicting_routing_key: return http::status::bad_request;
    case LocalError::method_not_allowed: return http::status::method_not_allowed;
    case LocalError::expectation_failed: return http::status::expectation_failed;
    case LocalError::no_endpoint: return http::status::internal_server_error;
    case LocalError::upstream_unreachable: return http::status::bad_gateway;
    case LocalError::upstream_timeout: return http::status::gateway_timeout;
    case LocalError::upstream_bad_response: return http::status::bad_gateway;
    case LocalError::circuit_open: return http::status::service_unavailable;
    case LocalError::rate_limited: return http::status::too_many_requests;
    case LocalError::concurrency_limited: return http::status::too_many_requests;
    case LocalError::body_too_large: return http::status::payload_too_large;
    case LocalError::too_many_connections: return http::status::service_unavailable;
    }
    return http::status::internal_server_error;
}

std::string_view code_for(LocalError error) {
    switch (error) {
    case LocalError::bad_request: return "bad_request";
    case LocalError::header_too_large: return "header_too_large";
    case LocalError::version_not_supported: return "http_version_not_supported";
    case LocalError::missing_routing_key: return "missing_routing_key";
    case LocalError::conflicting_routing_key: return "conflicting_routing_key";
    case LocalError::method_not_allowed: return "method_not_allowed";
    case LocalError::expectation_failed: return "expectation_failed";
    case LocalError::no_endpoint: return "no_endpoint";
    case LocalError::upstream_unreachable: return "upstream_unreachable";
    case LocalError::upstream_timeout: return "upstream_timeout";
    case LocalError::upstream_bad_response: return "upstream_bad_response";
    case LocalError::circuit_open: return "circuit_open";
    case LocalError::rate_limited: return "rate_limited";
    case LocalError::concurrency_limited: return "concurrency_limited";
    case LocalError::body_too_large: return "body_too_large";
    case LocalError::too_many_connections: return "too_many_connections";
    }
    return "internal_error";
}

http::response<http::string_body> make_local_response(LocalError error, std::string_view detail,
                                                      const LocalResponseContext& context) {
    observability::JsonLine body;
    body.add("error", code_for(error)).add("message", detail);
    if (!context.request_id.empty()) {
        body.add("request_id", context.request_id);
    }
    if (!context.limit.empty()) {
        body.add("placement", context.routed_to).add("limit", context.limit);
    }
    http::response<http::string_body> response{status_for(error), context.version};
    response.set(http::field::server, "cell-router");
    response.set(http::field::content_type, "application/json");
    if (!context.request_id.empty()) {
        response.set(request_id_header, context.request_id);
    }
    if (!context.routed_to.empty()) {
        response.set(routed_to_header, context.routed_to);
    }
    if (!context.route_reason.empty()) {
        response.set(route_reason_header, context.route_reason);
    }
    if (!context.failover_reason.empty()) {
        response.set(failover_reason_header, context.failover_reason);
        response.set(original_placement_header, context.original_placement);
    }
    if (context.retry_after_seconds > 0) {
        response.set(http::field::retry_after, std::to_string(context.retry_after_seconds));
    }
    if (error == LocalError::method_not_allowed) {
        response.set(http::field::allow, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE");
    }
    response.body() = std::move(body).finish();
    response.body() += '\n';
    response.keep_alive(context.keep_alive);
    response.prepare_payload();
    return response;
}

}  // namespace cell::proxy
