#pragma once
// GET /metrics on the router's admin port: the Prometheus exposition of the router's requests
// (summed over the workers' shards), its placements' live state, its config and control-plane
// link, its connections and the process. docs/observability.md lists every metric.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "cell/controlplane/client.hpp"
#include "cell/observability/process_metrics.hpp"
#include "cell/metrics/request_metrics.hpp"
#include "cell/resilience/connection_limit.hpp"
#include "cell/reload/file_poller.hpp"
#include "cell/routing/table.hpp"

namespace cell::admin {

// What a scrape reads. Every member is safe to read from the admin thread while workers run.
struct RouterMetricsSources {
    const routing::Table* table = nullptr;                          // the published table
    std::vector<const metrics::WorkerMetrics*> workers;       // for placement="none"
    const reload::FilePoller* poller = nullptr;                     // null with a control plane
    const controlplane::ControlPlaneClient* control_plane = nullptr;  // null without one
    const resilience::ConnectionLimit* connections = nullptr;
    std::optional<observability::ProcessMetrics> process;           // nullopt without /proc
    std::chrono::system_clock::time_point now;
};

std::string render_router_metrics(const RouterMetricsSources& sources);

}  // namespace cell::admin
