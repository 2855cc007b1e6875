#include "chaos_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace cell::testing {

int open_fd_count(pid_t pid) {
    std::error_code ec;
    std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec);
    if (ec) {
        return -1;
    }
    int count = 0;
    for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
        if (ec) {
            return -1;
        }
        ++count;
    }
    return count;
}

std::chrono::milliseconds cpu_time(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // The command name may hold spaces: fields are counted from the ')' that ends it.
    const auto end_of_name = text.rfind(')');
    if (end_of_name == std::string::npos) {
        return std::chrono::milliseconds(0);
    }
    std::istringstream fields(text.substr(end_of_name + 2));
    std::string field;
    long long utime = 0;
    long long stime = 0;
    // Fields 3..13 come first; utime and stime are fields 14 and 15.
    for (int i = 3; i <= 15 && fields >> field; ++i) {
        if (i == 14) {
            utime = std::stoll(field);
        } else if (i == 15) {
            stime = std::stoll(field);
        }
    }
    const long ticks = ::sysconf(_SC_CLK_TCK);
    return std::chrono::milliseconds((utime + stime) * 1000 / ticks);
}

std::uint64_t raise_own_open_file_limit(std::uint64_t wanted) {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < wanted) {
        limit.rlim_cur = std::min<rlim_t>(wanted, limit.rlim_max);
        ::setrlimit(RLIMIT_NOFILE, &limit);
        ::getrlimit(RLIMIT_NOFILE, &limit);
    }
    return limit.rlim_cur;
}

void set_open_file_limit(pid_t pid, std::uint64_t soft) {
    rlimit current{};
    if (::prlimit(pid, RLIMIT_NOFILE, nullptr, &current) != 0) {
        throw std::runtime_error(std::string("prlimit: ") + std::strerror(errno));
    }
    rlimit wanted{static_cast<rlim_t>(soft), current.rlim_max};
    if (::prlimit(pid, RLIMIT_NOFILE, &wanted, nullptr) != 0) {
        throw std::runtime_error(std::string("prlimit: ") + std::strerror(errno));
    }
}

ControlPlaneProcess::ControlPlaneProcess(const TempDir& dir, unsigned short port) : dir_(dir), port_(port) {}

void ControlPlaneProcess::start() {
    process_ = std::make_unique<Process>(
        std::vector<std::string>{CELL_CONTROL_PLANE_BINARY, "--config", config_path().string(), "--port",
                                 std::to_string(port_), "--listen", "127.0.0.1", "--poll-interval", "100ms"},
        dir_.path(), "control-plane-" + std::to_string(++starts_));
    const auto line =
        process_->wait_for_line([](const Json& l) { return l.value("event", "") == "listening"; }, 15s);
    if (!line) {
        throw std::runtime_error("control plane did not start: " + process_->stderr_text());
    }
}

void ControlPlaneProcess::kill_hard() {
    if (!process_->kill_abruptly()) {
        throw std::runtime_error("control plane survived SIGKILL");
    }
}

void ControlPlaneProcess::stop() {
    process_->send_signal(SIGTERM);
    const auto code = process_->wait_exit(10s);
    if (code != 0) {
        throw std::runtime_error("control plane did not exit cleanly: " + process_->stderr_text());
    }
}

void ControlPlaneProcess::write_config(const Json& config) const {
    write_file_atomically(config_path(), config.dump());
}

std::string ControlPlaneProcess::url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/connect"; }

Json ControlPlaneProcess::status() const { return request(port_, "GET", "/status").json(); }

namespace {

struct UpstreamConnection {
    int fd = -1;
    std::string buffer;
    bool silent = false;  // answered nothing; waits for the router to give up
};

void send_all(int fd, const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            return;
        }
        sent += static_cast<std::size_t>(n);
    }
}

void close_with_reset(int fd) {
    const linger abort_on_close{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    ::close(fd);
}

std::string target_of(const std::string& head) {
    const auto first_space = head.find(' ');
    const auto second_space = head.find(' ', first_space + 1);
    std::string target = head.substr(first_space + 1, second_space - first_space - 1);
    return target.substr(0, target.find('?'));
}

// Acts on every complete request head in the connection's buffer; false when the connection
// is finished (and closed).
bool answer(UpstreamConnection& connection) {
    for (;;) {
        if (connection.silent) {
            connection.buffer.clear();
            return true;
        }
        const auto end = connection.buffer.find("\r\n\r\n");
        if (end == std::string::npos) {
            return true;
        }
        const std::string head = connection.buffer.substr(0, end + 4);
        connection.buffer.erase(0, end + 4);
        const std::string target = target_of(head);
        if (target == "/reset") {
            send_all(connection.fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(100, 'x'));
            close_with_reset(connection.fd);
            return false;
        }
        if (target == "/rst") {
            close_with_reset(connection.fd);
            return false;
        }
        if (target == "/garbage") {
            static constexpr char garbage[] = "\x16\x03\x01 garbage, not HTTP \x00\xff\r\n\r\n";
            send_all(connection.fd, std::string(garbage, sizeof garbage - 1));
            ::close(connection.fd);
            return false;
        }
        if (target == "/silent") {
            connection.silent = true;
            continue;
        }
        send_all(connection.fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
}

}  // namespace

ScriptedUpstream::ScriptedUpstream() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listen_fd_, 1024) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0 || ::pipe(wake_fd_) != 0) {
        throw std::runtime_error(std::string("scripted upstream cannot listen: ") + std::strerror(errno));
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
}

ScriptedUpstream::~ScriptedUpstream() {
    const char stop = 's';
    (void)!::write(wake_fd_[1], &stop, 1);
    thread_.join();
    ::close(listen_fd_);
    ::close(wake_fd_[0]);
    ::close(wake_fd_[1]);
}

void ScriptedUpstream::serve() {
    std::vector<UpstreamConnection> connections;
    std::vector<pollfd> descriptors;
    for (;;) {
        descriptors.clear();
        descriptors.push_back({wake_fd_[0], POLLIN, 0});
        descriptors.push_back({listen_fd_, POLLIN, 0});
        for (const auto& connection : connections) {
            descriptors.push_back({connection.fd, POLLIN, 0});
        }
        if (::poll(descriptors.data(), descriptors.size(), 1000) < 0) {
            continue;
        }
        if (descriptors[0].revents != 0) {
            break;
        }
        std::vector<UpstreamConnection> still_open;
        for (std::size_t i = 0; i < connections.size(); ++i) {
            UpstreamConnection& connection = connections[i];
            if (descriptors[i + 2].revents == 0) {
                still_open.push_back(std::move(connection));
                continue;
            }
            char chunk[16384];
            const auto n = ::recv(connection.fd, chunk, sizeof chunk, 0);
            if (n <= 0) {
                ::close(connection.fd);
                continue;
            }
            connection.buffer.append(chunk, static_cast<std::size_t>(n));
            if (answer(connection)) {
                still_open.push_back(std::move(connection));
            }
        }
        connections = std::move(still_open);
        if (descriptors[1].revents != 0) {
            const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd >= 0) {
                const int one = 1;
                ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                ++accepted_;
                connections.push_back(UpstreamConnection{fd, {}, false});
            }
        }
        open_ = connections.size();
    }
    for (const auto& connection : connections) {
        ::close(connection.fd);
    }
}

}  // namespace cell::testing
