#pragma once
// Test harness for integration tests: starts the real binaries on ephemeral loopback ports,
// finds their ports in their JSON logs, and talks raw HTTP to them.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace cell::testing {

using namespace std::chrono_literals;
using Json = nlohmann::json;

// A fresh directory under the system temp dir, removed with the object.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path file(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

void write_file(const std::filesystem::path& path, const std::string& contents);
// Writes to a temporary name and renames, so a poller never sees a partial file.
void write_file_atomically(const std::filesystem::path& path, const std::string& contents);
std::string read_file(const std::filesystem::path& path);

// A child process whose stdout and stderr go to files. On destruction a process still running
// gets SIGTERM and up to 15 s to exit (SIGKILL only as a last resort); an exit code other than
// the expected one (0 unless expect_exit_code says otherwise) fails the running test, so a crash
// or a sanitizer report at shutdown is never missed.
class Process {
public:
    Process(std::vector<std::string> argv, const std::filesystem::path& log_dir, const std::string& name);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    int pid() const { return pid_; }
    const std::string& name() const { return name_; }
    void send_signal(int signal);
    // True once SIGTERM, SIGINT or SIGKILL was sent: an exit is then expected.
    bool stop_requested() const { return stop_requested_; }
    // Exit code once the process has exited (128+N for signal N), or nullopt on timeout.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    bool running();

    // For a test that means the process to exit with `code` (a usage error, a refused start, or
    // 128+N for a process that dies of signal N).
    void expect_exit_code(int code) { expected_exit_code_ = code; }
    // SIGKILL, then waits for the exit: for tests of what others do when this process vanishes.
    // Returns false when the process did not go away.
    bool kill_abruptly();
    // SIGTERM, then the exit code (nullopt when the process is still running after `timeout`).
    std::optional<int> terminate(std::chrono::milliseconds timeout = 15s);

    std::string stdout_text() const { return read_file(stdout_path_); }
    std::string stderr_text() const { return read_file(stderr_path_); }
    // Parsed JSON lines of stdout (non-JSON lines skipped).
    std::vector<Json> json_lines() const;
    // Polls stdout until a JSON line satisfies `match`.
    std::optional<Json> wait_for_line(const std::function<bool(const Json&)>& match,
                                      std::chrono::milliseconds timeout = 10s) const;
    // Resident set size in KiB, from /proc.
    long rss_kib() const;

private:
    int pid_ = -1;
    std::string name_;
    bool stop_requested_ = false;
    bool killed_abruptly_ = false;
    int expected_exit_code_ = 0;
    std::optional<int> exit_code_;
    std::filesystem::path stdout_path_;
    std::filesystem::path stderr_path_;
};

// Polls `condition` until it is true or `timeout` passes.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s);

struct Response {
    int status = 0;
    std::string reason;
    std::string version;  // "HTTP/1.1"
    std::vector<std::pair<std::string, std::string>> headers;  // in order, names as received
    std::string body;     // de-chunked
    bool chunked = false;
    std::vector<int> interim_statuses;  // 1xx seen before the final response

    // First value of a header (case-insensitive), or "" when absent.
    std::string header(const std::string& name) const;
    bool has_header(const std::string& name) const;
    Json json() const { return Json::parse(body); }
};

// One client connection to 127.0.0.1:port with blocking I/O and a per-operation timeout.
class Connection {
public:
    explicit Connection(unsigned short port, std::chrono::milliseconds timeout = 10s);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void send(const std::string& bytes);
    // Reads one response (skipping and recording 1xx). `head` for responses to HEAD.
    // Throws std::runtime_error on timeout or when the connection closes mid-response.
    Response read_response(bool head = false);
    // True when the peer has closed the connection (reads EOF or reset within `wait`).
    bool closed_by_peer(std::chrono::milliseconds wait = 2s);
    void shutdown_send();
    int fd() const { return fd_; }

private:
    bool fill();  // reads more bytes into buffer_; false on EOF
    std::string read_line();
    std::string read_exact(std::size_t n);

    int fd_ = -1;
    std::string buffer_;
};

// Sends one request on a fresh connection and reads the response.
Response request(unsigned short port, const std::string& method, const std::string& target,
                 const std::map<std::string, std::string>& headers = {}, const std::string& body = "");

// A raw request text with Host and the given headers.
std::string make_request(const std::string& method, const std::string& target,
                         const std::map<std::string, std::string>& headers = {}, const std::string& body = "",
                         bool add_content_length = true);

// Demo cells plus a router configured to route the seed's table to them.
class Deployment {
public:
    struct Options {
        std::vector<std::string> cells{"tier1", "tier2", "tier3", "visa"};
        std::vector<std::string> router_flags;  // extra flags
        bool start_router = true;
    };
    Deployment();
    explicit Deployment(Options options);
    ~Deployment();

    unsigned short cell_port(const std::string& name) const { return cell_ports_.at(name); }
    unsigned short router_port() const { return router_port_; }
    Process& router() { return *router_; }
    Process& cell(const std::string& name) { return *cells_.at(name); }
    const TempDir& dir() const { return dir_; }
    std::filesystem::path config_path() const { return dir_.file("routing.json"); }

    // The seed's table (acme->tier1, globex->tier2, initech->tier3, visa->visa, default tier3)
    // pointing at this deployment's cells; `version` names it.
    Json config(const std::string& version = "1.0.0") const;
    void write_config(const Json& config) const;

    void start_router(const std::vector<std::string>& extra_flags = {});
    // SIGTERM, then asserts a clean exit (code 0) within 15 s.
    void stop_router();
    void start_cell(const std::string& name, const std::vector<std::string>& extra_flags = {});
    // SIGTERM to cell `name`, then asserts a clean exit (unless it was killed on purpose); its
    // port stays known for a restart.
    void stop_cell(const std::string& name);
    std::vector<std::string> cell_names() const;

private:
    Options options_;
    TempDir dir_;
    std::map<std::string, std::unique_ptr<Process>> cells_;
    std::map<std::string, unsigned short> cell_ports_;
    std::unique_ptr<Process> router_;
    unsigned short router_port_ = 0;
};

// A listening socket on 127.0.0.1 at an ephemeral port, which is stored in `port`. Throws
// std::runtime_error naming `what` when it cannot listen.
int listen_on_loopback(unsigned short& port, int backlog, const std::string& what);

// A free loopback port (bound then released; a small race is acceptable in tests).
unsigned short free_port();


// ---- Helpers for the protocol, streaming and upstream-failure tests ----

// Incremental SHA-256 (OpenSSL EVP), hex digest.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(const void* data, std::size_t size);
    void update(const std::string& data) { update(data.data(), data.size()); }
    std::string final_hex();

private:
    void* context_ = nullptr;  // EVP_MD_CTX
};
std::string sha256_hex(const std::string& data);

// Sends `bytes` on a fresh connection, then returns everything received until the server closes
// the connection or `timeout` passes without a byte (whatever arrived so far is returned).
std::string raw_exchange(unsigned short port, const std::string& bytes, std::chrono::milliseconds timeout = 10s);

// Reads `connection`'s socket one byte at a time until `delimiter` has been read, bypassing its
// buffer: use it only before any read_response on that connection (e.g. for 100 Continue).
// Throws on timeout or EOF.
std::string read_until(Connection& connection, const std::string& delimiter);

// Every "event":"request" line any cell of `deployment` logged for `path` (cells restarted on the
// same name only count since their restart).
std::vector<Json> cell_request_lines(const Deployment& deployment, const std::string& path);

// For absence checks ("no cell ever logged X"): sends one request straight to every running cell
// of `deployment` and waits until each has logged it, plus a short margin, so that anything a
// cell was going to log about earlier requests has been logged. False when a cell did not answer.
bool sync_with_cells(Deployment& deployment);

// True when no cell of `deployment` logged a request for `path`, checked after sync_with_cells:
// a wrongly forwarded request would have been logged by then. A failed sync fails the test.
bool never_reaches_a_cell(Deployment& deployment, const std::string& path);

// Starts the router of a Deployment built with start_router = false, with `placement`'s
// endpoint replaced by `url` (e.g. a FakeUpstream or a port where nothing listens).
void start_router_with_endpoint(Deployment& deployment, const std::string& placement, const std::string& url,
                                const std::vector<std::string>& router_flags = {});

// Stops cell `name` and starts a new one on the same port, so pooled connections to it go stale.
void restart_cell_on_same_port(Deployment& deployment, const std::string& name);

// The far-end ports of loopback TCP connections to `port` in any state but LISTEN (TIME_WAIT
// included), from /proc/net/tcp{,6}: one entry per connection opened to `port` recently.
std::vector<unsigned short> connections_to_port(unsigned short port);

// Samples a process's RSS on a background thread (every `period`) until stop().
class RssSampler {
public:
    explicit RssSampler(const Process& process, std::chrono::milliseconds period = 10ms);
    ~RssSampler();
    RssSampler(const RssSampler&) = delete;
    RssSampler& operator=(const RssSampler&) = delete;
    // Stops sampling; returns the peak RSS in KiB seen since construction.
    long stop();
    long peak_kib() const;
    long baseline_kib() const { return baseline_kib_; }

private:
    const Process& process_;
    long baseline_kib_ = 0;
    std::atomic<long> peak_kib_{0};
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

// A scripted upstream on a loopback port: each accepted connection runs `handler(fd, index)` on
// its own thread (index 0 for the first connection); the connection is closed when the handler
// returns. For upstream behaviour the demo cell cannot produce.
class FakeUpstream {
public:
    using Handler = std::function<void(int fd, int index)>;
    explicit FakeUpstream(Handler handler);
    ~FakeUpstream();
    FakeUpstream(const FakeUpstream&) = delete;
    FakeUpstream& operator=(const FakeUpstream&) = delete;

    unsigned short port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    int connections() const { return accepted_.load(); }

private:
    void accept_loop();

    Handler handler_;
    int listen_fd_ = -1;
    unsigned short port_ = 0;
    std::atomic<int> accepted_{0};
    std::atomic<bool> stopping_{false};
    std::mutex mutex_;
    std::vector<int> fds_;  // -1 once closed
    std::vector<std::thread> handlers_;
    std::thread acceptor_;
};

// For FakeUpstream handlers: each waits at most `timeout` and returns ""/false on EOF, error or
// timeout. fake_read_head reads up to and including the blank line ending a header section.
std::string fake_read_head(int fd, std::chrono::milliseconds timeout = 10s);
std::string fake_read_exact(int fd, std::size_t n, std::chrono::milliseconds timeout = 10s);
bool fake_send(int fd, const std::string& bytes);

// ---- Helpers for the M4 resilience tests ----

// The port of the admin listener `router` reported in its "listening" line (start it with
// "--admin-port N", N != 0); throws when none is reported in time.
unsigned short admin_port_of(const Process& router);

// The port of a router's proxy listener, from its "listening" line; throws when none is reported
// in time.
unsigned short proxy_port_of(const Process& router);

// The port of a control plane's listener, from its "listening" line; throws with its output when
// none is reported in time.
unsigned short control_plane_port_of(const Process& control_plane);

// `config` (the cellEndpoints form Deployment::config returns) in the M4 "placements" form:
// each endpoint becomes {"url": ...} plus the members of `policies[name]`, if any.
Json with_placements(const Json& config, const Json& policies = Json::object());

}  // namespace cell::testing
