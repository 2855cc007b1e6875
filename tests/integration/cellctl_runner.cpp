#include "cellctl_runner.hpp"

#include <gtest/gtest.h>

#include <csignal>

namespace cell::testing {

CellctlResult run_cellctl(const std::vector<std::string>& args, const TempDir& dir) {
    static int runs = 0;
    std::vector<std::string> argv{CELLCTL_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    Process process(argv, dir.path(), "cellctl-" + std::to_string(++runs));
    const auto code = process.wait_exit(30s);
    CellctlResult result;
    if (!code) {
        ADD_FAILURE() << "cellctl did not exit within 30 s";
        process.expect_exit_code(128 + SIGTERM);
        return result;
    }
    process.expect_exit_code(*code);
    result.exit_code = *code;
    result.out = process.stdout_text();
    result.err = process.stderr_text();
    return result;
}

}  // namespace cell::testing
