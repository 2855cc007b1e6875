#pragma once
// The control plane's shared state: the current snapshot, the open router sessions and the
// fleet bookkeeping behind GET /status. Sessions report to it (attach, frames received, sends
// completed, detach); it pushes snapshots to them (on a config change and every resend
// interval) and answers /status.
//
// GET /status body:
//   {"current_version":"..","current_hash":"<sha256 of the snapshot frame>",
//    "current_since":"<RFC 3339: when it was published>","routers_connected":N,"acked_current":K,
//    "routers":[{"id":"<node_id or ip:port>","address":"ip:port","connected_since":"<RFC 3339>",
//                "connected_seconds":S,"hello":bool,"last_version_sent":".."|null,
//                "last_version_acked":".."|null,"last_ack_at":"<RFC 3339>"|null,"acked_current":bool,
//                "versions_behind":N|null (null: the acked version is not among the last 64 published),
//                "behind_seconds":S (0 when current; else since the first publish after its ack,
//                                    or since it connected when that is unknown),
//                "last_nack":{"version":"..","error":"..","at":"<RFC 3339>",
//                             "by":"router"|"control_plane" (a snapshot over the router's
//                                                             announced limit, not sent)}|null,
//                "max_snapshot_bytes":N|null (what the router announced in its hello),
//                "compression":bool (permessage-deflate negotiated on this connection),
//                "deltas":bool (its hello said it applies deltas),
//                "last_push":"full"|"delta"|null (how the last snapshot written to it went)}, ...]}
//
// Thread safety: none. Everything runs on the server's single event-loop thread (the file
// poller posts new snapshots there), so no lock is needed; broadcasts still copy the session
// list before sending, because a send may end a session and change the list.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>
#include <memory>
#include <string>
#include <string_view>

#include "cell/controlplane/fleet.hpp"
#include "cell/controlplane/rollout.hpp"

namespace cell::reload {
class FilePoller;
}

namespace cell::controlplane {

class RouterSession;

struct SessionSettings {
    std::chrono::milliseconds keepalive_timeout{30'000};
    std::chrono::milliseconds send_timeout{10'000};
    std::chrono::milliseconds handshake_timeout{10'000};  // opening request and closing handshake
    bool compression = true;  // accept permessage-deflate when the router offers it
};

class ServerState {
public:
    explicit ServerState(SnapshotConstPtr initial);
    ServerState(const ServerState&) = delete;
    ServerState& operator=(const ServerState&) = delete;

    const SnapshotConstPtr& current() const { return current_; }
    std::size_t sessions() const { return sessions_.size(); }
    bool shutting_down() const { return shutting_down_; }

    // A router completed the WebSocket handshake (with permessage-deflate or not): registers
    // it, queues the current snapshot for it and returns its connection number.
    std::uint64_t attach(const std::shared_ptr<RouterSession>& session, std::string address, bool compression);
    // The connection ended; `reason` is a short code, `detail` the error text (may be empty).
    void detach(std::uint64_t connection, std::string_view reason, std::string_view detail,
                std::uint64_t snapshots_dropped);
    // One WebSocket message from a router; never throws, whatever the content.
    void on_message(std::uint64_t connection, std::string_view text, bool is_text);
    // The frame to write for `snapshot` to this router: its delta or the whole snapshot.
    const std::string& frame_for(std::uint64_t connection, const Snapshot& snapshot) const;
    void on_sent(std::uint64_t connection, const Snapshot& snapshot, bool delta);
    void on_superseded(std::uint64_t connection, const Snapshot& dropped, const Snapshot& queued);

    // A valid new config: makes it current and sends it to every router.
    void publish(SnapshotConstPtr snapshot);
    // Sends the current snapshot again to every router (the resend interval).
    void resend();
    // Asks every session to close with "going away"; new handshakes are refused from now on.
    void shutdown();

    std::string status_json() const;

    // ---- Staged rollouts (rollout.hpp). The promoter makes the candidate current for every
    // router: publish() it (a file), or write it to the store, which publishes it (etcd);
    // failing that it calls rollout_promotion_failed().
    using Promoter = std::function<void(SnapshotConstPtr candidate)>;
    struct RolloutRequest {
        CanarySpec canary;
        std::chrono::milliseconds soak{60'000};
        std::chrono::milliseconds ack_timeout{60'000};
        double error_margin = 0.05;
        std::uint64_t min_requests = 20;
        std::string started_by;
        // Chosen by the caller (cellctl resolves the set against every replica's routers); empty:
        // chosen here among the routers connected to this replica.
        std::vector<std::string> canaries;
    };
    // Pushes `candidate` to the canaries; the reason when it cannot start (another rollout
    // runs, no connected router qualifies as a canary, the candidate is what routers serve).
    std::optional<std::string> start_rollout(SnapshotConstPtr candidate, RolloutRequest request, Promoter promote);
    // Checks the rollout's deadlines and counts; the server calls it a few times a second.
    void tick_rollout();
    void rollout_promotion_failed(std::string_view reason);
    // The reason when there is no running rollout to abort.
    std::optional<std::string> abort_rollout(std::string_view who);
    const Rollout* rollout() const { return rollout_ ? &rollout_->machine : nullptr; }
    // Rollouts this replica saw end, since it started (the /metrics counters).
    std::uint64_t rollouts_promoted() const { return rollouts_promoted_; }
    std::uint64_t rollouts_halted() const { return rollouts_halted_; }

    // ---- A rollout shared by replicas through the store (rollout_record.hpp).
    // Called after every step this replica takes (the driver's, or an abort here): the store
    // gets the new state.
    void set_rollout_listener(std::function<void()> listener) { rollout_listener_ = std::move(listener); }
    // Whether the running (or last) rollout is driven by this replica.
    bool rollout_driven_here() const { return rollout_ && rollout_->driven_here; }
    // The driver: what the other replicas reported of their routers.
    void set_remote_rollout_reports(std::vector<RolloutReport> reports);
    // A replica that does not drive it: the rollout as stored, and its candidate.
    void follow_rollout(Rollout machine, SnapshotConstPtr candidate);
    // Stopped elsewhere (an abort on another replica, a lost driver): halts it here too.
    void halt_rollout(std::string_view reason);
    // What this replica sees of its own routers, for its report to the driver.
    RolloutReport local_rollout_report(std::string replica);
    // The snapshot `record`'s router is to serve: the candidate for a canary during a rollout.
    const SnapshotConstPtr& target_for(const RouterRecord& record) const;
    const Fleet& fleet() const { return fleet_; }

    // The poller watching the config file, whose rejections /metrics counts. NOTE: set before
    // the event loop runs; it must outlive every call of config_rejections().
    void set_config_poller(const reload::FilePoller* poller) { poller_ = poller; }
    // Config file contents (or stored versions) rejected as invalid or unreadable since the start.
    std::uint64_t config_rejections() const;
    // A version read from the store failed validation; the current config keeps being served.
    void count_store_rejection() { ++store_rejections_; }

    // Who this replica is and how its store is doing, for /status.
    void set_identity(std::string replica, std::string store) { fleet_.set_identity(std::move(replica), std::move(store)); }
    void set_store_state(std::string state, std::string error) { fleet_.set_store_state(std::move(state), std::move(error)); }

private:
    struct ActiveRollout {
        Rollout machine;
        SnapshotConstPtr candidate;
        Promoter promote;
        // The stable-version counts of every other router when the soak began.
        std::map<std::string, RolloutCounts, std::less<>> baselines;
        bool driven_here = true;
        // What this replica's own canaries answered (its report, when another replica drives).
        std::set<std::string, std::less<>> local_acked;
        std::map<std::string, std::string, std::less<>> local_nacks;
        std::vector<RolloutReport> remote;  // the driver: the other replicas' latest reports
    };
    // This replica's canaries on the candidate and other routers on the stable version since the
    // soak began.
    std::pair<RolloutCounts, RolloutCounts> local_rollout_counts();
    // After the machine halted: the canaries get the current config back.
    void after_rollout_step(RolloutPhase before, bool tell_store = true);
    void send_to_canaries();
    void update_rollout_counts(WallClock::time_point now);

    void broadcast(std::string_view reason);
    // Queues the current snapshot for one router, unless it is over the limit the router
    // announced: then records why in its /status entry instead.
    void send_current(std::uint64_t connection, RouterSession& session);

    SnapshotConstPtr current_;
    Fleet fleet_;
    std::map<std::uint64_t, std::weak_ptr<RouterSession>> sessions_;
    std::uint64_t next_connection_ = 1;
    const reload::FilePoller* poller_ = nullptr;
    std::uint64_t store_rejections_ = 0;
    bool shutting_down_ = false;
    std::optional<ActiveRollout> rollout_;  // the running one, or the last one (finished)
    std::function<void()> rollout_listener_;
    std::uint64_t rollouts_promoted_ = 0;
    std::uint64_t rollouts_halted_ = 0;
    void count_rollout_end(RolloutPhase before);
};

}  // namespace cell::controlplane
