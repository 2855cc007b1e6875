#pragma once
// The router's control-plane client: keeps a WebSocket to the control plane, hands every
// snapshot to the SnapshotApplier and answers with its ack or nack, and reconnects with
// jittered exponential backoff. It runs on its own thread and event loop, never on a worker:
// a control-plane outage delays config, never traffic.
//
// Thread safety: start()/stop() from the owning thread; status() from any thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <functional>
#include <thread>

#include "cell/controlplane/snapshot_applier.hpp"

namespace cell::controlplane {

struct ControlPlaneUrl {
    std::string host;
    std::uint16_t port = 80;
    std::string target;  // path and query, at least "/"
};

// Accepts ws://host[:port][/path]; nullopt for anything else (wss is not supported).
std::optional<ControlPlaneUrl> parse_control_plane_url(std::string_view url);

struct ClientSettings {
    std::string url;
    ControlPlaneUrl endpoint;
    std::chrono::milliseconds keepalive_timeout{30000};  // pings at half of it
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds initial_backoff{1000};
    std::chrono::milliseconds max_backoff{60000};
    // Only a connection that stayed up this long starts the delays over: one that is accepted and
    // then fails at once (a crashing control plane, a proxy in between) keeps backing off.
    std::chrono::milliseconds backoff_reset{10000};
    // A bigger snapshot is read without being kept and nacked; the connection stays up. Sent in
    // the hello, so the control plane does not send one in the first place.
    std::uint64_t max_snapshot_bytes = default_max_snapshot_bytes;
    // Offer permessage-deflate in the handshake; the control plane decides whether it is used.
    bool compression = true;
};

struct ClientStatus {
    std::string url;
    std::string state = "starting";  // connecting, connected, waiting (backoff), stopped
    std::optional<std::chrono::system_clock::time_point> connected_since;
    std::optional<std::chrono::system_clock::time_point> next_attempt_at;
    std::uint64_t connections = 0;         // successful handshakes
    std::uint64_t reconnect_attempts = 0;  // attempts since the last healthy connection
    std::string last_error;
};

class ControlPlaneClient {
public:
    ControlPlaneClient(ClientSettings settings, SnapshotApplier& applier);
    ~ControlPlaneClient();
    ControlPlaneClient(const ControlPlaneClient&) = delete;
    ControlPlaneClient& operator=(const ControlPlaneClient&) = delete;

    void start();
    void stop();

    std::shared_ptr<const ClientStatus> status() const { return status_.load(std::memory_order_acquire); }
    const SnapshotApplier& applier() const { return applier_; }

private:
    class Loop;  // the Asio side, kept out of this header
    void update_status(const std::function<void(ClientStatus&)>& change);

    ClientSettings settings_;
    SnapshotApplier& applier_;
    std::atomic<std::shared_ptr<const ClientStatus>> status_;
    std::unique_ptr<Loop> loop_;
    std::thread thread_;
};

}  // namespace cell::controlplane
