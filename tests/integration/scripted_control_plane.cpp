#include "scripted_control_plane.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "harness.hpp"

namespace cell::testing {
namespace {

// The value of header `name` in an HTTP head (case-insensitive name), "" when absent.
std::string header_value(const std::string& head, std::string_view name) {
    std::size_t line_start = head.find("\r\n");
    while (line_start != std::string::npos && line_start + 2 < head.size()) {
        line_start += 2;
        const std::size_t line_end = head.find("\r\n", line_start);
        const std::string line = head.substr(line_start, line_end - line_start);
        const std::size_t colon = line.find(':');
        if (colon == name.size() &&
            std::equal(name.begin(), name.end(), line.begin(),
                       [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
            const std::size_t value = line.find_first_not_of(' ', colon + 1);
            return value == std::string::npos ? "" : line.substr(value);
        }
        line_start = line_end;
    }
    return "";
}

}  // namespace

std::string ScriptedConnection::read_request(std::chrono::milliseconds timeout) { return read_http_head(timeout); }

bool ScriptedConnection::accept(std::chrono::milliseconds timeout) {
    const std::string request = read_request(timeout);
    if (request.empty()) {
        return false;
    }
    return send_raw("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: " +
                    websocket_accept(header_value(request, "Sec-WebSocket-Key")) + "\r\n\r\n");
}

bool ScriptedConnection::send_text(std::string_view text) {
    return send_frame(FrameHeader{.opcode = ws_opcode::text, .masked = false}, text);
}

std::string ScriptedConnection::wait_for_text(std::string_view needle, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left <= std::chrono::milliseconds(0)) {
            return "";
        }
        auto frame = read_frame(left);
        if (!frame) {
            return "";
        }
        if (frame->opcode == ws_opcode::text && frame->payload.find(needle) != std::string::npos) {
            return frame->payload;
        }
    }
}

ScriptedControlPlane::ScriptedControlPlane(Script script) : script_(std::move(script)) {
    listen_fd_ = listen_on_loopback(port_, 64, "scripted control plane");
    acceptor_ = std::thread([this] { accept_loop(); });
}

void ScriptedControlPlane::accept_loop() {
    for (;;) {
        {
            const std::lock_guard lock(mutex_);
            if (stopping_) {
                return;
            }
        }
        pollfd waiting{listen_fd_, POLLIN, 0};
        if (::poll(&waiting, 1, 50) <= 0) {
            continue;
        }
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        const auto accepted_at = Clock::now();
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const std::lock_guard lock(mutex_);
        if (stopping_) {
            ::close(fd);
            return;
        }
        auto connection = std::make_shared<ScriptedConnection>(fd, static_cast<int>(accept_times_.size()));
        accept_times_.push_back(accepted_at);
        open_.push_back(connection);
        changed_.notify_all();
        scripts_.emplace_back([this, connection] {
            try {
                script_(*connection);
            } catch (const std::exception& e) {
                note(std::string("script failed: ") + e.what());
            }
            // Closing here ends the connection as the script left it (no close frame unless sent).
            connection->shutdown();
        });
    }
}

ScriptedControlPlane::~ScriptedControlPlane() {
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
        for (const auto& connection : open_) {
            connection->shutdown();  // wakes a script blocked in a read
        }
    }
    acceptor_.join();
    ::close(listen_fd_);
    for (auto& thread : scripts_) {
        thread.join();
    }
}

int ScriptedControlPlane::connections() const {
    const std::lock_guard lock(mutex_);
    return static_cast<int>(accept_times_.size());
}

std::vector<ScriptedControlPlane::Clock::time_point> ScriptedControlPlane::accept_times() const {
    const std::lock_guard lock(mutex_);
    return accept_times_;
}

bool ScriptedControlPlane::wait_for_connections(int count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return static_cast<int>(accept_times_.size()) >= count; });
}

void ScriptedControlPlane::note(std::string observation) {
    const std::lock_guard lock(mutex_);
    notes_.push_back(std::move(observation));
    changed_.notify_all();
}

std::vector<std::string> ScriptedControlPlane::notes() const {
    const std::lock_guard lock(mutex_);
    return notes_;
}

std::string ScriptedControlPlane::wait_for_note(std::string_view needle, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::string found;
    changed_.wait_for(lock, timeout, [&] {
        for (const auto& note : notes_) {
            if (note.find(needle) != std::string::npos) {
                found = note;
                return true;
            }
        }
        return false;
    });
    return found;
}

}  // namespace cell::testing
