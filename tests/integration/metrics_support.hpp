#pragma once
// Helpers for the /metrics tests: scrape and parse an exposition, run promtool, and start the
// real control plane on a loopback port.

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness.hpp"

namespace cell::testing {

// GET /metrics on 127.0.0.1:port; the body, after checking the status and the content type
// (a failed check fails the running test).
std::string scrape_metrics(unsigned short port);

// Every sample of an exposition: "name{labels}" exactly as written -> value.
std::map<std::string, double> parse_exposition(const std::string& body);

// The value of one series, or nullopt when the body has no such series.
std::optional<double> metric_value(const std::string& body, const std::string& series);

// The full path of a tool from Debian's prometheus package, or "" when it is not installed.
std::string find_prometheus_tool(const std::string& name);
inline constexpr const char* prometheus_missing =
    "not installed: run scripts/install-deps.sh (Debian package `prometheus`); this test needs it";

struct ToolRun {
    int exit_code = -1;
    std::string output;  // stdout and stderr together
};

// Runs `argv` (argv[0] a full path) with `stdin_file` as standard input when given; bounded by
// `timeout` (then killed, exit_code -1).
ToolRun run_tool(const std::vector<std::string>& argv, const std::filesystem::path& stdin_file = {},
                 std::chrono::milliseconds timeout = 30s);

// cell-control-plane on an ephemeral loopback port, watching `config_path`.
class ControlPlaneProcess {
public:
    ControlPlaneProcess(const std::filesystem::path& config_path, const std::filesystem::path& log_dir);
    unsigned short port() const { return port_; }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/connect"; }
    Process& process() { return *process_; }

private:
    std::unique_ptr<Process> process_;
    unsigned short port_ = 0;
};

// The repository's alert rules.
std::filesystem::path alert_rules_path();

}  // namespace cell::testing
