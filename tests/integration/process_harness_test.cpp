// The harness's Process fails a test when a child ends badly, so a crash or a sanitizer report
// at shutdown can never pass unseen; and stays quiet when the test meant the exit.

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include "harness.hpp"

namespace cell::testing {
namespace {

// Runs `script` with /bin/sh as a Process named `name`, destroyed at the end of the call.
void run_shell(const std::string& script, const std::string& name, const std::function<void(Process&)>& act = {}) {
    TempDir dir;
    Process process({"/bin/sh", "-c", script}, dir.path(), name);
    if (act) {
        act(process);
    }
}

void wait_for_exit(Process& process) { process.wait_exit(5s); }

TEST(ProcessHarness, NonZeroExitFailsTheTest) {
    EXPECT_NONFATAL_FAILURE(run_shell("echo broken >&2; exit 3", "exits-3", wait_for_exit),
                            "exits-3 exited with code 3, expected 0");
}

TEST(ProcessHarness, CrashFailsTheTest) {
    EXPECT_NONFATAL_FAILURE(run_shell("kill -SEGV $$", "crashes", wait_for_exit), "crashes exited with code 139");
}

// A process still running at the end gets SIGTERM; one that dies of it (no handler) did not
// exit cleanly.
TEST(ProcessHarness, DeathBySigtermFailsTheTest) {
    EXPECT_NONFATAL_FAILURE(run_shell("exec sleep 30", "sleeper"), "sleeper exited with code 143");
}

TEST(ProcessHarness, ExpectedExitCodeAndAbruptKillPass) {
    run_shell("exit 3", "exits-3-on-purpose", [](Process& process) {
        process.expect_exit_code(3);
        EXPECT_EQ(process.wait_exit(5s), 3);
    });
    run_shell("exec sleep 30", "killed-on-purpose", [](Process& process) { EXPECT_TRUE(process.kill_abruptly()); });
    // A SIGTERM handler that exits 0 is a clean stop; the line says the handler is in place.
    run_shell("trap 'exit 0' TERM; echo '{\"event\":\"ready\"}'; while :; do sleep 0.05; done", "stops-cleanly",
              [](Process& process) {
                  EXPECT_TRUE(process.wait_for_line([](const Json& line) { return line.value("event", "") == "ready"; }));
              });
}

}  // namespace
}  // namespace cell::testing
