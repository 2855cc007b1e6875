#pragma once
// Runs the cellctl binary to completion for a test and keeps what it printed.

#include <string>
#include <vector>

#include "harness.hpp"

namespace cell::testing {

struct CellctlResult {
    int exit_code = -1;  // -1 when it did not exit within 30 s (a failure of the running test)
    std::string out;
    std::string err;
};

// Runs `cellctl ARGS...` with its output in `dir`, bounded to 30 s.
CellctlResult run_cellctl(const std::vector<std::string>& args, const TempDir& dir);

}  // namespace cell::testing
