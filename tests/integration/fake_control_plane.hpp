#pragma once
// A scripted control plane for router-side tests: accepts WebSocket connections on loopback,
// sends the frames a test gives it, and records what routers send back. Unlike the real
// control plane it can send invalid snapshots and garbage, and it can go silent.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cell::testing {

class FakeControlPlane {
public:
    FakeControlPlane();
    ~FakeControlPlane();

    unsigned short port() const { return port_; }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/connect"; }

    // Frames sent to each router right after it connects, in order.
    void set_greeting(std::vector<std::string> frames);
    // Sends a frame to the most recent connection. Returns false when there is none.
    bool send(const std::string& frame);
    // A silent fake sends its greeting and then never reads again, so it answers no pings:
    // to a router it looks like a half-open connection. Call before the router connects.
    void go_silent();

    int connections() const;
    // Every text frame received so far, across connections.
    std::vector<std::string> received() const;
    // Waits until a received frame contains `needle`; returns it, or "" on timeout.
    std::string wait_for_frame(const std::string& needle, std::chrono::milliseconds timeout);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    unsigned short port_ = 0;
};

}  // namespace cell::testing
