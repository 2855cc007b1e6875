#include "cell/proxy/error_response.hpp"

#include "cell/observability/json_line.hpp"

namespace cell::proxy {

http::status status_for(Outcome outcome) {
    switch (outcome) {
    case Outcome::bad_request:
    case Outcome::missing_key:
    case Outcome::conflicting_key: return http::status::bad_request;
    case Outcome::header_too_large: return http::status::request_header_fields_too_large;
    case Outcome::version_not_supported: return http::status::http_version_not_supported;
    case Outcome::method_not_allowed: return http::status::method_not_allowed;
    case Outcome::expectation_failed: return http::status::expectation_failed;
    case Outcome::too_many_connections:
    case Outcome::circuit_open:
    case Outcome::paused: return http::status::service_unavailable;
    case Outcome::rate_limited:
    case Outcome::concurrency_limited: return http::status::too_many_requests;
    case Outcome::body_too_large: return http::status::payload_too_large;
    case Outcome::connect_failed:
    case Outcome::upstream_reset:
    case Outcome::bad_upstream_response: return http::status::bad_gateway;
    case Outcome::upstream_timeout: return http::status::gateway_timeout;
    case Outcome::dedicated:
    case Outcome::tier:
    case Outcome::default_:
    case Outcome::override_:
    case Outcome::failover_unhealthy:
    case Outcome::failover_circuit_open:
    case Outcome::failover_drained:
    case Outcome::debug_endpoint: return http::status::ok;
    case Outcome::client_closed: break;
    }
    return http::status::internal_server_error;
}

std::string_view proxy_error_for(Outcome outcome) {
    switch (outcome) {
    case Outcome::bad_request:
    case Outcome::header_too_large:
    case Outcome::version_not_supported:
    case Outcome::missing_key:
    case Outcome::conflicting_key:
    case Outcome::method_not_allowed:
    case Outcome::expectation_failed: return "http_request_error";
    case Outcome::too_many_connections:
    case Outcome::rate_limited:
    case Outcome::body_too_large:
    case Outcome::paused: return "http_request_denied";
    case Outcome::concurrency_limited: return "connection_limit_reached";
    case Outcome::circuit_open: return "destination_unavailable";
    case Outcome::connect_failed: return "destination_unavailable";
    case Outcome::upstream_timeout: return "http_response_timeout";
    case Outcome::upstream_reset: return "connection_terminated";
    case Outcome::bad_upstream_response: return "http_protocol_error";
    case Outcome::dedicated:
    case Outcome::tier:
    case Outcome::default_:
    case Outcome::override_:
    case Outcome::failover_unhealthy:
    case Outcome::failover_circuit_open:
    case Outcome::failover_drained:
    case Outcome::debug_endpoint:
    case Outcome::client_closed: break;
    }
    return {};
}

std::string proxy_status_value(std::string_view error_type, std::string_view details) {
    std::string value = "cellrouter; error=";
    value += error_type;
    if (!details.empty()) {
        value += "; details=\"";
        for (const char c : details) {
            if (c == '"' || c == '\\') {
                value += '\\';
                value += c;
            } else if (c >= 0x20 && c <= 0x7e) {
                value += c;
            } else {
                value += '?';
            }
        }
        value += '"';
    }
    return value;
}

http::response<http::string_body> make_local_response(const LocalAnswer& answer, const RouteHeaders& route,
                                                      unsigned version, bool keep_alive) {
    observability::JsonLine body;
    body.add("error", observability::to_string(answer.outcome)).add("message", answer.detail);
    if (!route.request_id.empty()) {
        body.add("request_id", route.request_id);
    }
    if (!answer.limit.empty()) {
        body.add("placement", route.routed_to).add("limit", answer.limit);
    }
    http::response<http::string_body> response{status_for(answer.outcome), version};
    response.set(http::field::server, "cell-router");
    response.set(http::field::content_type, "application/json");
    if (!route.request_id.empty()) {
        response.set(request_id_header, route.request_id);
    }
    if (!route.routed_to.empty()) {
        response.set(routed_to_header, route.routed_to);
    }
    if (!route.route_reason.empty()) {
        response.set(route_reason_header, route.route_reason);
    }
    if (!route.failover_reason.empty()) {
        response.set(failover_reason_header, route.failover_reason);
        response.set(original_placement_header, route.original_placement);
    }
    const std::string_view proxy_error =
        answer.proxy_error.empty() ? proxy_error_for(answer.outcome) : answer.proxy_error;
    if (!proxy_error.empty()) {
        response.set(proxy_status_header, proxy_status_value(proxy_error, answer.detail));
    }
    if (answer.retry_after_seconds > 0) {
        response.set(http::field::retry_after, std::to_string(answer.retry_after_seconds));
    }
    if (answer.outcome == Outcome::method_not_allowed) {
        response.set(http::field::allow, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE");
    }
    response.body() = std::move(body).finish();
    response.body() += '\n';
    response.keep_alive(keep_alive);
    response.prepare_payload();
    return response;
}

}  // namespace cell::proxy
