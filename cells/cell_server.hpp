#pragma once

#include "cell_options.hpp"

namespace cell::demo {

// Binds, prints the listening line, serves until SIGINT/SIGTERM. Returns the process exit code.
int run_cell_server(const CellOptions& options);

}  // namespace cell::demo
