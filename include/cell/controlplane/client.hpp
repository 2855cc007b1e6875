#pragma once
// The router's control-plane client: keeps a WebSocket to one control-plane replica, hands
// every snapshot to the SnapshotApplier and answers with its ack or nack, and when the
// connection fails or ends moves on to the next replica of its list (replica_rotation.hpp:
// at once within a round, jittered exponential backoff between rounds). It runs on its own
// thread and event loop, never on a worker: a control-plane outage delays config, never traffic.
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
#include <variant>
#include <vector>

#include "cell/controlplane/snapshot_applier.hpp"
#include "cell/util/atomic_shared_ptr.hpp"

namespace cell::controlplane {

struct ControlPlaneUrl {
    std::string host;
    std::uint16_t port = 80;
    std::string target;  // path and query, at least "/"
};

// Accepts ws://host[:port][/path]; nullopt for anything else (wss is not supported).
std::optional<ControlPlaneUrl> parse_control_plane_url(std::string_view url);

// One replica of the control plane: the URL as given, and its parts.
struct ControlPlaneReplica {
    std::string url;
    ControlPlaneUrl endpoint;
};

// A comma-separated list of replicas, "ws://a:8081/connect,ws://b:8081/connect" (spaces around
// entries are ignored). The error names the entry that is empty, not a ws:// URL, or repeated.
std::variant<std::vector<ControlPlaneReplica>, std::string> parse_control_plane_urls(std::string_view list);

struct ClientSettings {
    std::vector<ControlPlaneReplica> replicas;  // at least one, in the order given
    std::chrono::milliseconds keepalive_timeout{30000};  // pings at half of it
    std::chrono::milliseconds connect_timeout{5000};
    // Per-version request and error counts go to the control plane after each ack and this often.
    std::chrono::milliseconds report_interval{5000};
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

// What the client last saw of one replica.
struct ReplicaStatus {
    std::string url;
    std::string last_error;  // why the last connection to it failed or ended; "" before any did
    std::optional<std::chrono::system_clock::time_point> last_error_at;
    std::optional<std::chrono::system_clock::time_point> last_connected_at;  // last completed handshake
};

struct ClientStatus {
    std::string url;  // the replica connected to, being connected to, or to be tried next
    std::vector<ReplicaStatus> replicas;  // every replica, in the order given
    std::string state = "starting";  // connecting, connected, waiting (backoff), stopped
    std::optional<std::chrono::system_clock::time_point> connected_since;
    std::optional<std::chrono::system_clock::time_point> next_attempt_at;
    std::uint64_t connections = 0;         // successful handshakes
    std::uint64_t reconnect_attempts = 0;  // attempts since the last healthy connection
    std::string last_error;  // the most recent failure, whichever replica it came from
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
    util::AtomicSharedPtr<const ClientStatus> status_;
    std::unique_ptr<Loop> loop_;
    std::thread thread_;
};

}  // namespace cell::controlplane
