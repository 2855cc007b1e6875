#include "cell/controlplane/control_plane_metrics.hpp"

#include "cell/observability/exposition.hpp"

namespace cell::controlplane {

using observability::MetricType;

std::string render_control_plane_metrics(const ServerState& state,
                                         const std::optional<observability::ProcessMetrics>& process) {
    const Fleet& fleet = state.fleet();
    observability::Exposition out;
    out.family("cellcp_connected_routers", MetricType::gauge, "Routers connected over WebSocket now.");
    out.sample("cellcp_connected_routers", {}, static_cast<std::uint64_t>(fleet.connected()));
    out.family("cellcp_routers_on_current_version", MetricType::gauge,
               "Connected routers whose last ack names the current config.");
    out.sample("cellcp_routers_on_current_version", {}, static_cast<std::uint64_t>(fleet.acked_current_count()));
    out.family("cellcp_config_info", MetricType::gauge, "The config version being pushed.");
    out.sample("cellcp_config_info", {{"version", fleet.current_version()}}, std::uint64_t{1});
    out.family("cellcp_pushes_total", MetricType::counter, "Snapshots written whole to a router.");
    out.sample("cellcp_pushes_total", {}, fleet.totals().pushes);
    out.family("cellcp_delta_pushes_total", MetricType::counter,
               "Of the snapshots written to a router, those written as a delta from the one it acked.");
    out.sample("cellcp_delta_pushes_total", {}, fleet.totals().deltas);
    out.family("cellcp_delta_refusals_total", MetricType::counter,
               "Deltas a router could not apply (it asked for the whole snapshot, which followed).");
    out.sample("cellcp_delta_refusals_total", {}, fleet.totals().delta_refusals);
    out.family("cellcp_acks_total", MetricType::counter, "Acks received from routers.");
    out.sample("cellcp_acks_total", {}, fleet.totals().acks);
    out.family("cellcp_nacks_total", MetricType::counter, "Nacks received from routers (a snapshot they refused).");
    out.sample("cellcp_nacks_total", {}, fleet.totals().nacks);
    out.family("cellcp_snapshots_not_sent_total", MetricType::counter,
               "Snapshots not sent to a router because they are over the limit it announced in its hello.");
    out.sample("cellcp_snapshots_not_sent_total", {}, fleet.totals().not_sent);
    out.family("cellcp_push_to_ack_seconds", MetricType::histogram,
               "From a snapshot written to a router to its ack of that version.");
    out.histogram("cellcp_push_to_ack_seconds", {}, fleet.push_to_ack());
    out.family("cellcp_config_rejections_total", MetricType::counter,
               "Config file contents rejected as invalid, unreadable or over --max-snapshot-bytes (nothing was pushed).");
    out.sample("cellcp_config_rejections_total", {}, state.config_rejections());
    const Rollout* rollout = state.rollout();
    const bool running = rollout != nullptr && !rollout->finished();
    out.family("cellcp_rollout_running", MetricType::gauge,
               "1 while a staged rollout runs (its canaries serve the candidate), else 0.");
    out.sample("cellcp_rollout_running", {}, std::uint64_t{running ? 1u : 0u});
    out.family("cellcp_rollout_canaries", MetricType::gauge, "Canaries of the running staged rollout.");
    out.sample("cellcp_rollout_canaries", {}, static_cast<std::uint64_t>(running ? rollout->plan().canaries.size() : 0));
    out.family("cellcp_rollouts_total", MetricType::counter, "Staged rollouts this control plane saw end, by outcome.");
    out.sample("cellcp_rollouts_total", {{"outcome", "promoted"}}, state.rollouts_promoted());
    out.sample("cellcp_rollouts_total", {{"outcome", "halted"}}, state.rollouts_halted());
    if (process) {
        observability::write_process_metrics(out, *process);
    }
    return out.take();
}

}  // namespace cell::controlplane
