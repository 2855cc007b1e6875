#include "metrics_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <sstream>
#include <thread>

namespace cell::testing {

std::string scrape_metrics(unsigned short port) {
    const Response response = request(port, "GET", "/metrics");
    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    return response.body;
}

std::map<std::string, double> parse_exposition(const std::string& body) {
    std::map<std::string, double> samples;
    std::istringstream lines(body);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        const auto space = line.rfind(' ');
        if (space == std::string::npos) {
            continue;
        }
        const std::string value = line.substr(space + 1);
        samples[line.substr(0, space)] = value == "+Inf" ? HUGE_VAL : std::stod(value);
    }
    return samples;
}

std::optional<double> metric_value(const std::string& body, const std::string& series) {
    const auto samples = parse_exposition(body);
    const auto found = samples.find(series);
    return found == samples.end() ? std::nullopt : std::optional<double>(found->second);
}

std::string find_prometheus_tool(const std::string& name) {
    for (const char* dir : {"/usr/bin", "/usr/local/bin"}) {
        const std::filesystem::path path = std::filesystem::path(dir) / name;
        if (::access(path.c_str(), X_OK) == 0) {
            return path.string();
        }
    }
    return "";
}

ToolRun run_tool(const std::vector<std::string>& argv, const std::filesystem::path& stdin_file,
                 std::chrono::milliseconds timeout) {
    const TempDir out_dir;
    const auto out_path = out_dir.file("output");
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int in = stdin_file.empty() ? ::open("/dev/null", O_RDONLY) : ::open(stdin_file.c_str(), O_RDONLY);
        const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        std::vector<char*> args;
        for (const auto& arg : argv) {
            args.push_back(const_cast<char*>(arg.c_str()));
        }
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ToolRun run;
    const auto give_up_at = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
        const pid_t done = ::waitpid(pid, &status, WNOHANG);
        if (done == pid) {
            run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        if (std::chrono::steady_clock::now() > give_up_at) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    run.output = read_file(out_path);
    return run;
}

ControlPlaneProcess::ControlPlaneProcess(const std::filesystem::path& config_path,
                                         const std::filesystem::path& log_dir) {
    process_ = std::make_unique<Process>(
        std::vector<std::string>{CELL_CONTROL_PLANE_BINARY, "--config", config_path.string(), "--port", "0", "--listen",
                                 "127.0.0.1", "--poll-interval", "100ms"},
        log_dir, "control-plane");
    port_ = control_plane_port_of(*process_);
}

std::filesystem::path alert_rules_path() {
    return std::filesystem::path(CELLROUTER_SOURCE_DIR) / "docs" / "alerts" / "cellrouter-rules.yml";
}

}  // namespace cell::testing
