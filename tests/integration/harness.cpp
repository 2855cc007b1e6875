#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

extern char** environ;

namespace cell::testing {
namespace {

std::string lower(std::string text) {
    for (auto& c : text) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return text;
}

std::string trim(const std::string& text) {
    const auto begin = text.find_first_not_of(" \t");
    if (begin == std::string::npos) {
        return "";
    }
    const auto end = text.find_last_not_of(" \t");
    return text.substr(begin, end - begin + 1);
}

// The end of a long log: enough to show a sanitizer report without drowning the failure.
std::string tail(const std::string& text, std::size_t size = 6000) {
    return text.size() <= size ? text : "[...]\n" + text.substr(text.size() - size);
}

unsigned short wait_for_port(const Process& process, const std::function<bool(const Json&)>& match,
                             const std::string& what) {
    const auto line = process.wait_for_line(match, 15s);
    if (!line) {
        throw std::runtime_error(what + " did not report a listening port; stdout: " + process.stdout_text() +
                                 " stderr: " + process.stderr_text());
    }
    return static_cast<unsigned short>((*line)["port"].get<int>());
}

}  // namespace

TempDir::TempDir() {
    std::random_device random;
    const auto base = std::filesystem::temp_directory_path();
    for (int attempt = 0; attempt < 100; ++attempt) {
        auto candidate = base / ("cellrouter-test-" + std::to_string(random()));
        if (std::filesystem::create_directory(candidate)) {
            path_ = candidate;
            return;
        }
    }
    throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

void write_file(const std::filesystem::path& path, const std::string& contents) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << contents;
    if (!out) {
        throw std::runtime_error("cannot write " + path.string());
    }
}

void write_file_atomically(const std::filesystem::path& path, const std::string& contents) {
    auto temporary = path;
    temporary += ".tmp";
    write_file(temporary, contents);
    std::filesystem::rename(temporary, path);
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

Process::Process(std::vector<std::string> argv, const std::filesystem::path& log_dir, const std::string& name)
    : name_(name), stdout_path_(log_dir / (name + ".stdout")), stderr_path_(log_dir / (name + ".stderr")) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> args;
    for (auto& arg : argv) {
        args.push_back(arg.data());
    }
    args.push_back(nullptr);
    const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
}

Process::~Process() {
    if (pid_ <= 0) {
        return;
    }
    if (!terminate()) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        ADD_FAILURE() << name_ << " did not exit within 15 s of SIGTERM; stderr:\n" << tail(stderr_text());
        return;
    }
    if (!killed_abruptly_ && *exit_code_ != expected_exit_code_) {
        ADD_FAILURE() << name_ << " exited with code " << *exit_code_ << ", expected " << expected_exit_code_
                      << "; stderr:\n" << tail(stderr_text());
    }
}

void Process::send_signal(int signal) {
    stop_requested_ = stop_requested_ || signal == SIGTERM || signal == SIGINT || signal == SIGKILL;
    ::kill(pid_, signal);
}

bool Process::kill_abruptly() {
    killed_abruptly_ = true;
    if (exit_code_) {
        return true;
    }
    send_signal(SIGKILL);
    return wait_exit(10s).has_value();
}

std::optional<int> Process::terminate(std::chrono::milliseconds timeout) {
    if (!exit_code_ && !stop_requested_) {
        send_signal(SIGTERM);
    }
    return wait_exit(timeout);
}

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
    if (exit_code_) {
        return exit_code_;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int status = 0;
        const int rc = ::waitpid(pid_, &status, WNOHANG);
        if (rc == pid_) {
            exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return exit_code_;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(10ms);
    }
}

bool Process::running() { return !wait_exit(0ms).has_value(); }

std::vector<Json> Process::json_lines() const {
    std::vector<Json> lines;
    std::istringstream text(stdout_text());
    std::string line;
    while (std::getline(text, line)) {
        auto parsed = Json::parse(line, nullptr, false);
        if (!parsed.is_discarded() && parsed.is_object()) {
            lines.push_back(std::move(parsed));
        }
    }
    return lines;
}

std::optional<Json> Process::wait_for_line(const std::function<bool(const Json&)>& match,
                                           std::chrono::milliseconds timeout) const {
    std::optional<Json> found;
    eventually(
        [&] {
            for (const auto& line : json_lines()) {
                if (match(line)) {
                    found = line;
                    return true;
                }
            }
            return false;
        },
        timeout);
    return found;
}

long Process::rss_kib() const {
    std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stol(line.substr(6));
        }
    }
    return -1;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (condition()) {
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(20ms);
    }
}

std::string Response::header(const std::string& name) const {
    const auto wanted = lower(name);
    for (const auto& [key, value] : headers) {
        if (lower(key) == wanted) {
            return value;
        }
    }
    return "";
}

bool Response::has_header(const std::string& name) const {
    const auto wanted = lower(name);
    for (const auto& [key, value] : headers) {
        if (lower(key) == wanted) {
            return true;
        }
    }
    return false;
}

Connection::Connection(unsigned short port, std::chrono::milliseconds timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) {
        throw std::runtime_error("socket failed");
    }
    timeval tv{};
    tv.tv_sec = static_cast<long>(timeout.count() / 1000);
    tv.tv_usec = static_cast<long>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        const std::string reason = std::strerror(errno);
        ::close(fd_);
        throw std::runtime_error("connect to port " + std::to_string(port) + " failed: " + reason);
    }
}

Connection::~Connection() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

void Connection::send(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            throw std::runtime_error(std::string("send failed: ") + std::strerror(errno));
        }
        sent += static_cast<std::size_t>(n);
    }
}

void Connection::shutdown_send() { ::shutdown(fd_, SHUT_WR); }

bool Connection::fill() {
    char chunk[65536];
    const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            throw std::runtime_error("timed out reading from the server");
        }
        if (errno == ECONNRESET) {
            return false;
        }
        throw std::runtime_error(std::string("recv failed: ") + std::strerror(errno));
    }
    if (n == 0) {
        return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
}

std::string Connection::read_line() {
    for (;;) {
        const auto end = buffer_.find("\r\n");
        if (end != std::string::npos) {
            std::string line = buffer_.substr(0, end);
            buffer_.erase(0, end + 2);
            return line;
        }
        if (!fill()) {
            throw std::runtime_error("connection closed mid-response");
        }
    }
}

std::string Connection::read_exact(std::size_t n) {
    while (buffer_.size() < n) {
        if (!fill()) {
            throw std::runtime_error("connection closed mid-body");
        }
    }
    std::string data = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return data;
}

Response Connection::read_response(bool head) {
    Response response;
    for (;;) {
        const std::string status_line = read_line();
        std::istringstream parts(status_line);
        parts >> response.version >> response.status;
        std::getline(parts, response.reason);
        response.reason = trim(response.reason);
        response.headers.clear();
        for (std::string line = read_line(); !line.empty(); line = read_line()) {
            const auto colon = line.find(':');
            response.headers.emplace_back(line.substr(0, colon), trim(line.substr(colon + 1)));
        }
        if (response.status >= 200 || response.status == 101) {
            break;
        }
        response.interim_statuses.push_back(response.status);
    }
    const bool bodiless = head || response.status == 204 || response.status == 304;
    if (bodiless) {
        return response;
    }
    if (lower(response.header("Transfer-Encoding")).find("chunked") != std::string::npos) {
        response.chunked = true;
        for (;;) {
            const std::string size_line = read_line();
            const std::size_t size = std::stoul(size_line, nullptr, 16);
            if (size == 0) {
                while (!read_line().empty()) {
                }
                break;
            }
            response.body += read_exact(size);
            read_line();
        }
    } else if (response.has_header("Content-Length")) {
        response.body = read_exact(std::stoul(response.header("Content-Length")));
    } else {
        while (fill()) {
        }
        response.body = std::move(buffer_);
        buffer_.clear();
    }
    return response;
}

bool Connection::closed_by_peer(std::chrono::milliseconds wait) {
    pollfd descriptor{fd_, POLLIN, 0};
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < deadline) {
        const int rc = ::poll(&descriptor, 1, 50);
        if (rc > 0) {
            char byte = 0;
            const auto n = ::recv(fd_, &byte, 1, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno == ECONNRESET)) {
                return true;
            }
            if (n > 0) {
                buffer_.push_back(byte);
            }
        }
    }
    return false;
}

std::string make_request(const std::string& method, const std::string& target,
                         const std::map<std::string, std::string>& headers, const std::string& body,
                         bool add_content_length) {
    std::string text = method + " " + target + " HTTP/1.1\r\n";
    if (headers.find("Host") == headers.end()) {
        text += "Host: test.local\r\n";
    }
    for (const auto& [name, value] : headers) {
        text += name + ": " + value + "\r\n";
    }
    if (add_content_length && (!body.empty() || method == "POST" || method == "PUT")) {
        text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    text += "\r\n";
    text += body;
    return text;
}

Response request(unsigned short port, const std::string& method, const std::string& target,
                 const std::map<std::string, std::string>& headers, const std::string& body) {
    // The request in the message: a test that fails on a timeout says which call it was.
    try {
        Connection connection(port);
        connection.send(make_request(method, target, headers, body));
        return connection.read_response(method == "HEAD");
    } catch (const std::runtime_error& error) {
        throw std::runtime_error(std::string(error.what()) + " (" + method + " " + target + " on port " +
                                 std::to_string(port) + ")");
    }
}

unsigned short free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return ntohs(address.sin_port);
}

Deployment::Deployment() : Deployment(Options{}) {}

Deployment::Deployment(Options options) : options_(std::move(options)) {
    for (const auto& name : options_.cells) {
        start_cell(name);
    }
    write_config(config());
    if (options_.start_router) {
        start_router(options_.router_flags);
    }
}

Deployment::~Deployment() {
    // A server that exited on its own during the test (whatever its code) fails the test too.
    const auto expect_still_running = [](Process& process) {
        if (!process.stop_requested() && !process.running()) {
            ADD_FAILURE() << process.name() << " exited on its own with code " << process.wait_exit(0ms).value_or(-1)
                          << "; stderr:\n" << process.stderr_text();
        }
    };
    if (router_) {
        expect_still_running(*router_);
    }
    for (auto& [name, cell] : cells_) {
        expect_still_running(*cell);
    }
    // The router goes first, so it never sees its cells vanish; each Process asserts its clean exit.
    router_.reset();
    cells_.clear();
}

void Deployment::start_cell(const std::string& name, const std::vector<std::string>& extra_flags) {
    std::vector<std::string> argv{CELL_BINARY, "--name", name, "--port", "0", "--listen", "127.0.0.1"};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    stop_cell(name);
    auto process = std::make_unique<Process>(argv, dir_.path(), "cell-" + name);
    cell_ports_[name] = wait_for_port(
        *process, [](const Json& line) { return line.value("event", "") == "listening"; }, "cell " + name);
    cells_[name] = std::move(process);
}

Json Deployment::config(const std::string& version) const {
    Json endpoints = Json::object();
    for (const auto& [name, port] : cell_ports_) {
        endpoints[name] = "http://127.0.0.1:" + std::to_string(port);
    }
    return Json{{"version", version},
                {"routingTable", {{"acme", "tier1"}, {"globex", "tier2"}, {"initech", "tier3"}, {"visa", "visa"}}},
                {"cellEndpoints", endpoints},
                {"defaultPlacement", "tier3"}};
}

void Deployment::write_config(const Json& config) const { write_file_atomically(config_path(), config.dump(2)); }

void Deployment::start_router(const std::vector<std::string>& extra_flags) {
    std::vector<std::string> argv{CELL_ROUTER_BINARY, "--config", config_path().string(), "--port", "0",
                                  "--listen", "127.0.0.1", "--admin-port", "0", "--threads", "2",
                                  "--reload-interval", "200ms"};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    router_ = std::make_unique<Process>(argv, dir_.path(), "router");
    router_port_ = proxy_port_of(*router_);
}

void Deployment::stop_router() {
    if (router_) {
        EXPECT_TRUE(router_->terminate().has_value()) << "the router did not stop on SIGTERM";
        router_.reset();  // fails the test unless the exit code was 0 (or the one the test expects)
    }
}

std::vector<std::string> Deployment::cell_names() const {
    std::vector<std::string> names;
    for (const auto& [name, process] : cells_) {
        names.push_back(name);
    }
    return names;
}

void Deployment::stop_cell(const std::string& name) {
    const auto found = cells_.find(name);
    if (found != cells_.end()) {
        EXPECT_TRUE(found->second->terminate().has_value()) << "cell " << name << " did not stop on SIGTERM";
        cells_.erase(found);  // fails the test unless the exit code was 0 (or it was killed on purpose)
    }
}


// ---- Helpers for the protocol, streaming and upstream-failure tests ----

namespace {

// Waits until `fd` is readable; false on timeout.
bool wait_readable(int fd, std::chrono::milliseconds timeout) {
    pollfd descriptor{fd, POLLIN, 0};
    return ::poll(&descriptor, 1, static_cast<int>(timeout.count())) > 0;
}

}  // namespace

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
    if (context_ == nullptr || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(context_), EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("cannot initialise SHA-256");
    }
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(context_)); }

void Sha256::update(const void* data, std::size_t size) {
    if (size > 0 && EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(context_), data, size) != 1) {
        throw std::runtime_error("SHA-256 update failed");
    }
}

std::string Sha256::final_hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(context_), digest, &length) != 1) {
        throw std::runtime_error("SHA-256 final failed");
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string text;
    for (unsigned int i = 0; i < length; ++i) {
        text += hex[digest[i] >> 4];
        text += hex[digest[i] & 0xf];
    }
    return text;
}

std::string sha256_hex(const std::string& data) {
    Sha256 sha;
    sha.update(data);
    return sha.final_hex();
}

std::string raw_exchange(unsigned short port, const std::string& bytes, std::chrono::milliseconds timeout) {
    Connection connection(port, timeout);
    connection.send(bytes);
    std::string received;
    char chunk[65536];
    for (;;) {
        const auto n = ::recv(connection.fd(), chunk, sizeof chunk, 0);
        if (n <= 0) {
            break;  // EOF, reset or timeout
        }
        received.append(chunk, static_cast<std::size_t>(n));
    }
    return received;
}

std::string read_until(Connection& connection, const std::string& delimiter) {
    std::string received;
    while (received.size() < delimiter.size() ||
           received.compare(received.size() - delimiter.size(), delimiter.size(), delimiter) != 0) {
        char byte = 0;
        const auto n = ::recv(connection.fd(), &byte, 1, 0);
        if (n <= 0) {
            throw std::runtime_error("read_until: connection closed or timed out after '" + received + "'");
        }
        received.push_back(byte);
    }
    return received;
}

std::vector<Json> cell_request_lines(const Deployment& deployment, const std::string& path) {
    std::vector<Json> lines;
    for (const auto& entry : std::filesystem::directory_iterator(deployment.dir().path())) {
        const auto name = entry.path().filename().string();
        if (name.rfind("cell-", 0) != 0 || entry.path().extension() != ".stdout") {
            continue;
        }
        std::istringstream text(read_file(entry.path()));
        std::string line;
        while (std::getline(text, line)) {
            auto parsed = Json::parse(line, nullptr, false);
            if (!parsed.is_discarded() && parsed.is_object() && parsed.value("event", "") == "request" &&
                parsed.value("path", "") == path) {
                lines.push_back(std::move(parsed));
            }
        }
    }
    return lines;
}

bool sync_with_cells(Deployment& deployment) {
    // Unique across calls: the clock never repeats a reading within one process.
    const auto stamp = std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
    bool all_answered = true;
    for (const auto& name : deployment.cell_names()) {
        const std::string path = "/sync-with-cell-" + name + "-" + stamp;
        try {
            all_answered = request(deployment.cell_port(name), "GET", path).status == 200 && all_answered;
        } catch (const std::runtime_error&) {
            all_answered = false;
            continue;
        }
        all_answered = eventually([&] { return !cell_request_lines(deployment, path).empty(); }, 5s) && all_answered;
    }
    std::this_thread::sleep_for(200ms);
    return all_answered;
}

bool never_reaches_a_cell(Deployment& deployment, const std::string& path) {
    EXPECT_TRUE(sync_with_cells(deployment)) << "a cell did not answer the sync request";
    return cell_request_lines(deployment, path).empty();
}

void start_router_with_endpoint(Deployment& deployment, const std::string& placement, const std::string& url,
                                const std::vector<std::string>& router_flags) {
    auto config = deployment.config();
    config["cellEndpoints"][placement] = url;
    deployment.write_config(config);
    deployment.start_router(router_flags);
}

void restart_cell_on_same_port(Deployment& deployment, const std::string& name) {
    // start_cell stops the old process first; the last --port wins over the harness's "--port 0".
    deployment.start_cell(name, {"--port", std::to_string(deployment.cell_port(name))});
}

std::vector<unsigned short> connections_to_port(unsigned short port) {
    std::vector<unsigned short> ports;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // column titles
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string slot, local, remote, state;
            fields >> slot >> local >> remote >> state;
            if (state == "0A") {  // LISTEN
                continue;
            }
            const auto port_of = [](const std::string& address) {
                return static_cast<unsigned short>(std::stoul(address.substr(address.find(':') + 1), nullptr, 16));
            };
            const auto local_port = port_of(local);
            const auto remote_port = port_of(remote);
            unsigned short far_end = 0;
            if (local_port == port && remote_port != 0) {
                far_end = remote_port;
            } else if (remote_port == port) {
                far_end = local_port;
            }
            if (far_end != 0 && std::find(ports.begin(), ports.end(), far_end) == ports.end()) {
                ports.push_back(far_end);
            }
        }
    }
    return ports;
}

RssSampler::RssSampler(const Process& process, std::chrono::milliseconds period)
    : process_(process), baseline_kib_(process.rss_kib()) {
    peak_kib_ = baseline_kib_;
    thread_ = std::thread([this, period] {
        while (!stopping_) {
            const long rss = process_.rss_kib();
            long peak = peak_kib_.load();
            while (rss > peak && !peak_kib_.compare_exchange_weak(peak, rss)) {
            }
            std::this_thread::sleep_for(period);
        }
    });
}

RssSampler::~RssSampler() { stop(); }

long RssSampler::stop() {
    stopping_ = true;
    if (thread_.joinable()) {
        thread_.join();
    }
    return peak_kib_.load();
}

long RssSampler::peak_kib() const { return peak_kib_.load(); }

int listen_on_loopback(unsigned short& port, int backlog, const std::string& what) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        throw std::runtime_error(what + ": socket failed");
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd, backlog) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        const std::string reason = std::strerror(errno);
        ::close(fd);
        throw std::runtime_error(what + " cannot listen: " + reason);
    }
    port = ntohs(address.sin_port);
    return fd;
}

FakeUpstream::FakeUpstream(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = listen_on_loopback(port_, 64, "fake upstream");
    acceptor_ = std::thread([this] { accept_loop(); });
}

void FakeUpstream::accept_loop() {
    while (!stopping_) {
        if (!wait_readable(listen_fd_, 50ms)) {
            continue;
        }
        const int fd = ::accept(listen_fd_, nullptr, nullptr);
        if (fd < 0) {
            continue;
        }
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const std::lock_guard lock(mutex_);
        if (stopping_) {
            ::close(fd);
            return;
        }
        const int index = accepted_++;
        const std::size_t slot = fds_.size();
        fds_.push_back(fd);
        handlers_.emplace_back([this, fd, index, slot] {
            try {
                handler_(fd, index);
            } catch (...) {
                // A handler's failure shows up as the router's error response.
            }
            const std::lock_guard lock(mutex_);
            ::close(fd);
            fds_[slot] = -1;
        });
    }
}

FakeUpstream::~FakeUpstream() {
    stopping_ = true;
    if (acceptor_.joinable()) {
        acceptor_.join();
    }
    ::close(listen_fd_);
    {
        const std::lock_guard lock(mutex_);
        for (const int fd : fds_) {
            if (fd >= 0) {
                ::shutdown(fd, SHUT_RDWR);  // wakes a handler blocked in a read
            }
        }
    }
    for (auto& thread : handlers_) {
        thread.join();
    }
}

std::string fake_read_head(int fd, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string head;
    while (head.size() < 4 || head.compare(head.size() - 4, 4, "\r\n\r\n") != 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left <= 0ms || !wait_readable(fd, left)) {
            return "";
        }
        char byte = 0;
        if (::recv(fd, &byte, 1, 0) != 1) {
            return "";
        }
        head.push_back(byte);
    }
    return head;
}

std::string fake_read_exact(int fd, std::size_t n, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string data;
    char chunk[65536];
    while (data.size() < n) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left <= 0ms || !wait_readable(fd, left)) {
            return "";
        }
        const auto got = ::recv(fd, chunk, std::min(sizeof chunk, n - data.size()), 0);
        if (got <= 0) {
            return "";
        }
        data.append(chunk, static_cast<std::size_t>(got));
    }
    return data;
}

bool fake_send(int fd, const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            return false;
        }
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

// ---- Helpers for the M4 resilience tests ----

unsigned short admin_port_of(const Process& router) {
    return wait_for_port(
        router,
        [](const Json& line) { return line.value("event", "") == "listening" && line.value("listener", "") == "admin"; },
        "router admin listener");
}

unsigned short proxy_port_of(const Process& router) {
    return wait_for_port(
        router,
        [](const Json& line) { return line.value("event", "") == "listening" && line.value("listener", "") == "proxy"; },
        "router");
}

unsigned short control_plane_port_of(const Process& control_plane) {
    return wait_for_port(
        control_plane,
        [](const Json& line) {
            return line.value("event", "") == "listening" && line.value("listener", "") == "control_plane";
        },
        "control plane");
}

Json with_placements(const Json& config, const Json& policies) {
    Json converted = config;
    Json placements = Json::object();
    for (const auto& [name, url] : config.at("cellEndpoints").items()) {
        Json placement{{"url", url}};
        if (policies.contains(name)) {
            placement.update(policies.at(name));
        }
        placements[name] = std::move(placement);
    }
    converted.erase("cellEndpoints");
    converted["placements"] = std::move(placements);
    return converted;
}

}  // namespace cell::testing
