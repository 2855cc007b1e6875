#pragma once
// A control plane made of raw sockets, for fault tests of the router's client: each accepted
// connection runs a script on its own thread, which decides byte by byte what the router sees:
// a 101 or a 200, no answer at all, masked, fragmented, oversized or bad-RSV frames. Accept times
// are recorded, so tests can measure the router's reconnect schedule.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "raw_websocket.hpp"

namespace cell::testing {

// The server end of one router connection. Frames sent through it are unmasked unless the
// header says otherwise.
class ScriptedConnection : public RawFrameSocket {
public:
    ScriptedConnection(int fd, int index) : RawFrameSocket(fd), index_(index) {}

    // 0 for the first connection.
    int index() const { return index_; }
    // Reads the upgrade request; "" when none came within `timeout`.
    std::string read_request(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // Reads the upgrade request and answers 101 with the matching accept key; false when no
    // request came.
    bool accept(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    bool send_text(std::string_view text);
    // Reads frames until a text frame containing `needle`; returns it, "" on timeout or EOF.
    std::string wait_for_text(std::string_view needle, std::chrono::milliseconds timeout);

private:
    int index_;
};

class ScriptedControlPlane {
public:
    using Clock = std::chrono::steady_clock;
    using Script = std::function<void(ScriptedConnection&)>;

    // Listens on an ephemeral loopback port; the connection closes when its script returns.
    explicit ScriptedControlPlane(Script script);
    // Shuts every connection down (scripts blocked in a read return) and joins their threads.
    ~ScriptedControlPlane();
    ScriptedControlPlane(const ScriptedControlPlane&) = delete;
    ScriptedControlPlane& operator=(const ScriptedControlPlane&) = delete;

    unsigned short port() const { return port_; }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/connect"; }

    int connections() const;
    std::vector<Clock::time_point> accept_times() const;
    bool wait_for_connections(int count, std::chrono::milliseconds timeout);

    // What scripts observed (a close code, a frame), for the test thread to wait on.
    void note(std::string observation);
    std::vector<std::string> notes() const;
    // Waits until a note contains `needle`; returns it, "" on timeout.
    std::string wait_for_note(std::string_view needle, std::chrono::milliseconds timeout);

private:
    void accept_loop();

    Script script_;
    int listen_fd_ = -1;
    unsigned short port_ = 0;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    bool stopping_ = false;
    std::vector<Clock::time_point> accept_times_;
    std::vector<std::shared_ptr<ScriptedConnection>> open_;
    std::vector<std::string> notes_;
    std::vector<std::thread> scripts_;
    std::thread acceptor_;
};

}  // namespace cell::testing
