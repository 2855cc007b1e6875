#include "cell/observability/outcome.hpp"

namespace cell::observability {

std::string_view to_string(Outcome outcome) {
    switch (outcome) {
    case Outcome::dedicated: return "dedicated";
    case Outcome::tier: return "tier";
    case Outcome::default_: return "default";
    case Outcome::override_: return "override";
    case Outcome::failover_unhealthy: return "failover_unhealthy";
    case Outcome::failover_circuit_open: return "failover_circuit_open";
    case Outcome::failover_drained: return "failover_drained";
    case Outcome::debug_endpoint: return "debug_endpoint";
    case Outcome::bad_request: return "bad_request";
    case Outcome::header_too_large: return "header_too_large";
    case Outcome::version_not_supported: return "version_not_supported";
    case Outcome::missing_key: return "missing_key";
    case Outcome::conflicting_key: return "conflicting_key";
    case Outcome::method_not_allowed: return "method_not_allowed";
    case Outcome::expectation_failed: return "expectation_failed";
    case Outcome::too_many_connections: return "too_many_connections";
    case Outcome::circuit_open: return "circuit_open";
    case Outcome::rate_limited: return "rate_limited";
    case Outcome::concurrency_limited: return "concurrency_limited";
    case Outcome::body_too_large: return "body_too_large";
    case Outcome::paused: return "paused";
    case Outcome::connect_failed: return "connect_failed";
    case Outcome::upstream_timeout: return "upstream_timeout";
    case Outcome::upstream_reset: return "upstream_reset";
    case Outcome::bad_upstream_response: return "bad_upstream_response";
    case Outcome::client_closed: return "client_closed";
    }
    return "unknown";
}

std::string_view to_string(ErrorSource source) {
    switch (source) {
    case ErrorSource::none: return "";
    case ErrorSource::downstream: return "downstream";
    case ErrorSource::router: return "router";
    case ErrorSource::upstream: return "upstream";
    }
    return "";
}

ErrorSource source_of(Outcome outcome) {
    switch (outcome) {
    case Outcome::dedicated:
    case Outcome::tier:
    case Outcome::default_:
    case Outcome::override_:
    case Outcome::failover_unhealthy:
    case Outcome::failover_circuit_open:
    case Outcome::failover_drained:
    case Outcome::debug_endpoint: return ErrorSource::none;
    case Outcome::bad_request:
    case Outcome::header_too_large:
    case Outcome::version_not_supported:
    case Outcome::missing_key:
    case Outcome::conflicting_key:
    case Outcome::method_not_allowed:
    case Outcome::expectation_failed:
    case Outcome::body_too_large:
    case Outcome::client_closed: return ErrorSource::downstream;
    case Outcome::too_many_connections:
    case Outcome::circuit_open:
    case Outcome::rate_limited:
    case Outcome::concurrency_limited:
    case Outcome::paused: return ErrorSource::router;
    case Outcome::connect_failed:
    case Outcome::upstream_timeout:
    case Outcome::upstream_reset:
    case Outcome::bad_upstream_response: return ErrorSource::upstream;
    }
    return ErrorSource::none;
}

std::string_view status_class(unsigned status) {
    switch (status / 100) {
    case 1: return "1xx";
    case 2: return "2xx";
    case 3: return "3xx";
    case 4: return "4xx";
    case 5: return "5xx";
    default: return "other";
    }
}

}  // namespace cell::observability
