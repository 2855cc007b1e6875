#include "cell/proxy/access_log.hpp"

#include "cell/observability/log.hpp"

namespace cell::proxy {
namespace {

double milliseconds(std::chrono::nanoseconds duration) {
    return std::chrono::duration<double, std::milli>(duration).count();
}

bool happened(ExchangeClock::time_point moment) { return moment != ExchangeClock::time_point{}; }

}  // namespace

void write_access_log(const Exchange& exchange) {
    if (!observability::access_log_enabled()) {
        return;
    }
    const routing::PlacementTarget* placement = exchange.placement();
    const Outcome outcome = exchange.outcome.value_or(Outcome::client_closed);
    const ExchangeTimings& at = exchange.at;
    observability::JsonLine line = observability::event_line(observability::Level::info, "access");
    line.add("request_id", exchange.request_id)
        .add("client", exchange.client_address)
        .add("method", exchange.method)
        .add("path", exchange.path)
        .add("routing_key", exchange.routing_key)
        .add("placement_key", placement != nullptr ? std::string_view(placement->name) : std::string_view())
        .add("route_reason", exchange.routed != nullptr ? routing::to_string(exchange.route_reason)
                                                        : std::string_view())
        .add("upstream_url", placement != nullptr ? std::string_view(placement->endpoint.url) : std::string_view())
        .add("status_code", exchange.status)
        .add("outcome", observability::to_string(outcome))
        .add("bytes_in", exchange.bytes_in)
        .add("bytes_out", exchange.bytes_out)
        .add("duration_ms", milliseconds(exchange.total()))
        .add("router_ms", milliseconds(exchange.router_added()));
    if (happened(at.routed)) {
        line.add("route_ms", milliseconds(at.routed - at.started));
    }
    if (happened(at.connected)) {
        line.add("connect_ms", milliseconds(at.connected - at.connect_started))
            .add("upstream_reused", exchange.upstream_reused);
    }
    if (happened(at.response_head_received)) {
        line.add("upstream_head_ms", milliseconds(at.response_head_received - at.request_head_sent));
    }
    if (exchange.failover != routing::FailoverReason::none) {
        line.add("failover_reason", routing::to_string(exchange.failover))
            .add("original_placement", exchange.routed->name);
    }
    if (exchange.fail_open) {
        line.add("fail_open", true);
    }
    if (const auto source = observability::source_of(outcome); source != observability::ErrorSource::none) {
        line.add("error_source", observability::to_string(source)).add("error", exchange.error);
    }
    if (!exchange.trace_id.empty()) {
        line.add("trace_id", exchange.trace_id);
    }
    observability::emit_access(std::move(line));
}

}  // namespace cell::proxy
