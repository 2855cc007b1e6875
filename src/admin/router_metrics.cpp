#include "cell/admin/router_metrics.hpp"

#include <algorithm>

#include <string_view>

#include "cell/observability/exposition.hpp"

namespace cell::admin {
namespace {

using observability::Exposition;
using observability::MetricType;
using observability::Outcome;
using observability::RequestTotals;

// The placement label of the requests no placement took.
constexpr std::string_view unrouted_placement = "none";

struct PlacementTotals {
    std::string_view name;
    RequestTotals totals;
};

// One entry per placement of the table, then "none" for the requests never routed.
std::vector<PlacementTotals> sum_requests(const RouterMetricsSources& sources) {
    std::vector<PlacementTotals> all;
    all.reserve(sources.table->placements().size() + 1);
    for (const auto& placement : sources.table->placements()) {
        all.push_back({placement.name, placement.state->metrics.totals()});
    }
    PlacementTotals unrouted{unrouted_placement, {}};
    for (const auto* worker : sources.workers) {
        unrouted.totals.add(worker->unrouted());
    }
    // Refused at accept, before any request was read, by the listener: each got one 503.
    if (sources.connections != nullptr) {
        unrouted.totals.requests[static_cast<std::size_t>(Outcome::too_many_connections)]
                                [observability::status_class_index(503)] += sources.connections->refused();
    }
    all.push_back(std::move(unrouted));
    return all;
}

void write_requests(Exposition& out, const std::vector<PlacementTotals>& all) {
    out.family("cellrouter_requests_total", MetricType::counter,
               "Requests finished, by the placement that served them (else the routed one, else none), how "
               "they ended and the status class sent.");
    for (const auto& [name, totals] : all) {
        for (const Outcome outcome : observability::all_outcomes()) {
            for (std::size_t code = 0; code < observability::status_class_count; ++code) {
                const auto n = totals.requests[static_cast<std::size_t>(outcome)][code];
                if (n > 0) {
                    out.sample("cellrouter_requests_total",
                               {{"placement", name},
                                {"reason", observability::to_string(outcome)},
                                {"code", observability::status_class_label(code)}},
                               n);
                }
            }
        }
    }
    out.family("cellrouter_request_duration_seconds", MetricType::histogram,
               "Time from the request's header to the last byte of its response.");
    for (const auto& [name, totals] : all) {
        out.histogram("cellrouter_request_duration_seconds", {{"placement", name}}, totals.duration);
    }
    out.family("cellrouter_router_duration_seconds", MetricType::histogram,
               "Of each request's time, the part the router itself added (not waiting on the client or the cell).");
    for (const auto& [name, totals] : all) {
        out.histogram("cellrouter_router_duration_seconds", {{"placement", name}}, totals.router_duration);
    }
    out.family("cellrouter_request_body_bytes_total", MetricType::counter, "Request body bytes received from clients.");
    for (const auto& [name, totals] : all) {
        out.sample("cellrouter_request_body_bytes_total", {{"placement", name}}, totals.request_body_bytes);
    }
    out.family("cellrouter_response_body_bytes_total", MetricType::counter, "Response body bytes sent to clients.");
    for (const auto& [name, totals] : all) {
        out.sample("cellrouter_response_body_bytes_total", {{"placement", name}}, totals.response_body_bytes);
    }
}

// Failovers and limit refusals are counted per placement of the table only ("none" has neither).
void write_failovers_and_refusals(Exposition& out, const std::vector<PlacementTotals>& placements) {
    out.family("cellrouter_failovers_total", MetricType::counter,
               "Requests the routed placement did not take, so another placement (or nobody) served them, by why.");
    for (const auto& [name, totals] : placements) {
        if (name == unrouted_placement) {
            continue;
        }
        out.sample("cellrouter_failovers_total", {{"placement", name}, {"reason", "unhealthy"}}, totals.failovers[0]);
        out.sample("cellrouter_failovers_total", {{"placement", name}, {"reason", "circuit_open"}}, totals.failovers[1]);
        out.sample("cellrouter_failovers_total", {{"placement", name}, {"reason", "drained"}}, totals.failovers[2]);
    }
    out.family("cellrouter_limit_refusals_total", MetricType::counter,
               "Requests a placement's limit refused (429 or 413), by the config field that refused them.");
    for (const auto& [name, totals] : placements) {
        if (name == unrouted_placement) {
            continue;
        }
        out.sample("cellrouter_limit_refusals_total", {{"placement", name}, {"limit", "rate_limit"}},
                   totals.of(Outcome::rate_limited));
        out.sample("cellrouter_limit_refusals_total", {{"placement", name}, {"limit", "concurrency_limit"}},
                   totals.of(Outcome::concurrency_limited));
        out.sample("cellrouter_limit_refusals_total", {{"placement", name}, {"limit", "max_request_body_bytes"}},
                   totals.of(Outcome::body_too_large));
    }
}

void write_placement_state(Exposition& out, const routing::Table& table) {
    out.family("cellrouter_in_flight_requests", MetricType::gauge, "Requests a placement is serving right now.");
    for (const auto& placement : table.placements()) {
        out.sample("cellrouter_in_flight_requests", {{"placement", placement.name}},
                   static_cast<std::uint64_t>(placement.state->concurrency.in_flight()));
    }
    out.family("cellrouter_concurrency_limit", MetricType::gauge,
               "A placement's concurrency_limit (only placements that set one).");
    for (const auto& placement : table.placements()) {
        if (placement.policy.concurrency_limit) {
            out.sample("cellrouter_concurrency_limit", {{"placement", placement.name}},
                       static_cast<std::uint64_t>(*placement.policy.concurrency_limit));
        }
    }
    out.family("cellrouter_placement_healthy", MetricType::gauge,
               "1 unless the placement's health check says unhealthy (only placements with a health check).");
    for (const auto& placement : table.placements()) {
        if (placement.policy.health_check) {
            out.sample("cellrouter_placement_healthy", {{"placement", placement.name}},
                       std::uint64_t{placement.state->health.routable() ? 1u : 0u});
        }
    }
    out.family("cellrouter_circuit_breaker_state", MetricType::gauge,
               "1 for the current state of a placement's circuit breaker (only placements with one).");
    for (const auto& placement : table.placements()) {
        if (!placement.policy.circuit_breaker) {
            continue;
        }
        const auto current = placement.state->breaker.snapshot(*placement.policy.circuit_breaker).state;
        for (const auto state : {resilience::BreakerState::closed, resilience::BreakerState::open,
                                 resilience::BreakerState::half_open}) {
            out.sample("cellrouter_circuit_breaker_state",
                       {{"placement", placement.name}, {"state", resilience::to_string(state)}},
                       std::uint64_t{state == current ? 1u : 0u});
        }
    }
}

void write_config(Exposition& out, const RouterMetricsSources& sources) {
    const routing::Table& table = *sources.table;
    out.family("cellrouter_config_info", MetricType::gauge, "The config version being served and where it came from.");
    out.sample("cellrouter_config_info", {{"version", table.version()}, {"source", table.origin().source}},
               std::uint64_t{1});
    out.family("cellrouter_config_reloads_total", MetricType::counter,
               "New configs applied or rejected, by where they came from.");
    if (sources.poller != nullptr) {
        const auto status = sources.poller->status();
        out.sample("cellrouter_config_reloads_total", {{"source", "file"}, {"result", "applied"}}, status->applied);
        out.sample("cellrouter_config_reloads_total", {{"source", "file"}, {"result", "rejected"}}, status->rejected);
    }
    if (sources.control_plane != nullptr) {
        const auto status = sources.control_plane->applier().status();
        out.sample("cellrouter_config_reloads_total", {{"source", "control_plane"}, {"result", "applied"}},
                   status->applied);
        out.sample("cellrouter_config_reloads_total", {{"source", "control_plane"}, {"result", "rejected"}},
                   status->rejected);
    }
    out.family("cellrouter_config_age_seconds", MetricType::gauge, "Seconds since the table being served was loaded.");
    const auto age = std::chrono::duration<double>(sources.now - table.origin().loaded_at).count();
    out.sample("cellrouter_config_age_seconds", {}, age < 0 ? 0.0 : age);
}

// The operations in force (docs/operations.md): each drain's share now, and how many pins and
// pauses apply.
void write_operations(Exposition& out, const routing::Table& table, std::chrono::system_clock::time_point now) {
    const config::Operations& operations = table.operations();
    out.family("cellrouter_drain_share", MetricType::gauge,
               "The share of a drained placement's keys sent to its drain target now (0 to 1).");
    for (const auto& placement : table.placements()) {
        if (const routing::DrainRule* drain = table.drain_of(placement)) {
            out.sample("cellrouter_drain_share",
                       {{"placement", placement.name}, {"to", table.placements()[drain->target].name}},
                       drain->share_at(now));
        }
    }
    out.family("cellrouter_pins_active", MetricType::gauge, "Routing keys a pin sends to another placement now.");
    out.sample("cellrouter_pins_active", {},
               static_cast<std::uint64_t>(std::count_if(operations.pins.begin(), operations.pins.end(),
                                                        [&](const config::Pin& pin) { return now < pin.expires; })));
    out.family("cellrouter_pauses_active", MetricType::gauge, "Routing keys answered 503 by a pause now.");
    out.sample("cellrouter_pauses_active", {},
               static_cast<std::uint64_t>(std::count_if(operations.pauses.begin(), operations.pauses.end(),
                                                        [&](const config::Pause& pause) { return now < pause.until; })));
}

void write_control_plane(Exposition& out, const controlplane::ControlPlaneClient& client) {
    const auto link = client.status();
    const auto applied = client.applier().status();
    out.family("cellrouter_control_plane_connected", MetricType::gauge, "1 while the control-plane link is up.");
    out.sample("cellrouter_control_plane_connected", {}, std::uint64_t{link->state == "connected" ? 1u : 0u});
    out.family("cellrouter_control_plane_reconnects_total", MetricType::counter,
               "Control-plane connections established after the first.");
    out.sample("cellrouter_control_plane_reconnects_total", {}, link->connections > 0 ? link->connections - 1 : 0);
    out.family("cellrouter_control_plane_snapshots_applied_total", MetricType::counter,
               "Snapshots from the control plane that became the served table.");
    out.sample("cellrouter_control_plane_snapshots_applied_total", {}, applied->applied);
    out.family("cellrouter_control_plane_acks_total", MetricType::counter,
               "Snapshots acked (applied, or already served).");
    out.sample("cellrouter_control_plane_acks_total", {}, applied->applied + applied->unchanged);
    out.family("cellrouter_control_plane_nacks_total", MetricType::counter, "Snapshots nacked as invalid.");
    out.sample("cellrouter_control_plane_nacks_total", {}, applied->rejected);
}

}  // namespace

std::string render_router_metrics(const RouterMetricsSources& sources) {
    Exposition out;
    const auto all = sum_requests(sources);
    write_requests(out, all);
    write_failovers_and_refusals(out, all);
    write_placement_state(out, *sources.table);
    write_config(out, sources);
    write_operations(out, *sources.table, sources.now);
    if (sources.control_plane != nullptr) {
        write_control_plane(out, *sources.control_plane);
    }
    if (sources.connections != nullptr) {
        out.family("cellrouter_open_connections", MetricType::gauge, "Client connections open now.");
        out.sample("cellrouter_open_connections", {}, sources.connections->open());
        out.family("cellrouter_max_connections", MetricType::gauge, "The max_connections limit in force.");
        out.sample("cellrouter_max_connections", {},
                   static_cast<std::uint64_t>(sources.table->settings().max_connections));
    }
    if (sources.process) {
        observability::write_process_metrics(out, *sources.process);
    }
    return out.take();
}

}  // namespace cell::admin
