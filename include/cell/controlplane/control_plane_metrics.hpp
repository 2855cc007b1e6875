#pragma once
// GET /metrics on the control plane: the fleet (routers connected, on the current version),
// pushes, acks and nacks, push-to-ack times, rejected config files, and the process.
// docs/observability.md lists every metric.

#include <optional>
#include <string>

#include "cell/controlplane/server_state.hpp"
#include "cell/observability/process_metrics.hpp"

namespace cell::controlplane {

// On the server's event-loop thread, like everything that reads `state`.
std::string render_control_plane_metrics(const ServerState& state,
                                         const std::optional<observability::ProcessMetrics>& process);

}  // namespace cell::controlplane
