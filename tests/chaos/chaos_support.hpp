#pragma once
// What the chaos scenarios need beyond the integration harness: a look at a process's
// descriptors and CPU time, a control plane that can be killed and restarted on its port, and
// an upstream that misbehaves on request.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "harness.hpp"

namespace cell::testing {

// Open file descriptors of process `pid` (entries of /proc/<pid>/fd); -1 when it is gone.
int open_fd_count(pid_t pid);

// CPU time (user + system) process `pid` has used so far.
std::chrono::milliseconds cpu_time(pid_t pid);

// Raises this process's soft RLIMIT_NOFILE to `wanted` (at most the hard limit); returns the
// soft limit now in force.
std::uint64_t raise_own_open_file_limit(std::uint64_t wanted);

// Sets process `pid`'s soft RLIMIT_NOFILE (prlimit); throws when that is refused.
void set_open_file_limit(pid_t pid, std::uint64_t soft);

// cell-control-plane on a fixed loopback port, so that it can be killed and started again
// where its routers expect it.
class ControlPlaneProcess {
public:
    ControlPlaneProcess(const TempDir& dir, unsigned short port);
    void start();
    void kill_hard();  // SIGKILL, and wait for the exit
    void stop();       // SIGTERM; the exit code must be 0
    void write_config(const Json& config) const;
    std::string url() const;
    Json status() const;

private:
    std::filesystem::path config_path() const { return dir_.file("control-plane.json"); }

    const TempDir& dir_;
    unsigned short port_;
    int starts_ = 0;
    std::unique_ptr<Process> process_;
};

// An upstream on a loopback port whose answer the request path chooses:
//   /ok        200 with a 2-byte body, connection kept alive
//   /reset     200 header and 100 of the 1000 announced body bytes, then a TCP reset
//   /rst       a TCP reset right after the request head
//   /garbage   bytes that are no HTTP response, then close
//   /silent    nothing, ever; the connection stays open until the other side closes it
// One thread serves every connection with poll(), so 10,000 requests cost no 10,000 threads.
class ScriptedUpstream {
public:
    ScriptedUpstream();
    ~ScriptedUpstream();
    ScriptedUpstream(const ScriptedUpstream&) = delete;
    ScriptedUpstream& operator=(const ScriptedUpstream&) = delete;

    unsigned short port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::uint64_t accepted() const { return accepted_.load(); }
    std::uint64_t open_connections() const { return open_.load(); }

private:
    void serve();

    int listen_fd_ = -1;
    int wake_fd_[2] = {-1, -1};
    unsigned short port_ = 0;
    std::atomic<std::uint64_t> accepted_{0};
    std::atomic<std::uint64_t> open_{0};
    std::thread thread_;
};

}  // namespace cell::testing
