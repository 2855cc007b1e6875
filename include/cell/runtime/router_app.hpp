#pragma once
// Wires the router together: load the config, start the workers, the admin listener and the
// file poller, handle signals, and shut down in order.

#include "cell/runtime/router_options.hpp"

namespace cell::runtime {

// Runs until SIGTERM/SIGINT. Returns the process exit code: 0 after a clean shutdown,
// 1 when the config or a listener cannot be set up (the reason goes to stderr).
int run_router(const RouterOptions& options);

}  // namespace cell::runtime
