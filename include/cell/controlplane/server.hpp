#pragma once
// cell-control-plane: watches the routing config file and pushes every valid version to the
// routers connected over WebSocket (GET /connect); GET /status shows the fleet.

#include "cell/controlplane/control_plane_options.hpp"

namespace cell::controlplane {

// Loads the config (exit 1 with the reason on stderr when it is missing or invalid), serves
// until SIGINT or SIGTERM, and returns the process exit code. SIGHUP checks the file at once.
int run_control_plane(const ControlPlaneOptions& options);

}  // namespace cell::controlplane
