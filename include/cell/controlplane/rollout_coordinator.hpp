#pragma once
// Shares staged rollouts between control-plane replicas through etcd (rollout_record.hpp): the
// replica that took a staged apply drives it and keeps its record in the store; every other
// replica follows the record (the candidate to its canaries, the stable version back after a
// halt) and reports what its own routers answered. A driver that stops is noticed by its stale
// heartbeat: the rollout halts, so no canary stays on a candidate that nobody watches.
//
// Heavy (Asio): include only from .cpp files. Thread safety: none; runs on the server's loop.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <boost/asio/thread_pool.hpp>

#include "cell/controlplane/control_plane_options.hpp"
#include "cell/controlplane/etcd_config_store.hpp"
#include "cell/controlplane/rollout_record.hpp"
#include "cell/controlplane/server_state.hpp"
#include "cell/transport/io.hpp"

namespace cell::controlplane {

class RolloutCoordinator {
public:
    // How often a driver refreshes its heartbeat, and how old one may get before the rollout is
    // taken for abandoned.
    static constexpr std::chrono::milliseconds heartbeat_interval{1000};
    static constexpr std::chrono::milliseconds abandoned_after{10'000};

    RolloutCoordinator(net::io_context& loop, ServerState& state, net::thread_pool& config_work,
                       const ControlPlaneOptions& options, EtcdConfigStore& store, std::string replica);

    // Follows the record until stop(); never throws.
    awaitable<void> follow();
    // The periodic part: the driver's writes and reads of reports, a follower's report.
    awaitable<void> drive();
    void stop();

    // A staged apply started on this replica: its candidate's text is in the store as `candidate`,
    // and the promotion writes at `stable_revision`.
    void started_here(std::uint64_t stable_revision, VersionRecord candidate);

private:
    // A record read from the store (by the watch, or after a refused write).
    awaitable<void> take(const EtcdKeyValue& stored);
    // Writes `record` if the stored one is still the one last seen; false when it was not.
    awaitable<bool> write(const RolloutRecord& record);
    // The record of the rollout this replica drives, as it stands now.
    RolloutRecord driven_record() const;
    awaitable<void> drive_once();
    awaitable<void> read_reports();
    void note_store_error(const std::string& error);

    ServerState& state_;
    net::thread_pool& config_work_;
    const ControlPlaneOptions& options_;
    EtcdConfigStore& store_;
    const std::string replica_;
    steady_timer tick_;
    bool stopping_ = false;

    std::uint64_t seen_revision_ = 0;       // the store revision the watch has seen up to
    std::uint64_t record_mod_revision_ = 0; // of the record as last read or written (0: none)
    std::optional<RolloutRecord> stored_;   // the record as last read or written
    bool dirty_ = false;                    // this replica took a step the store does not have yet
    // The rollout this replica drives: what its record needs besides the state.
    std::string driven_id_;
    std::uint64_t stable_revision_ = 0;
    VersionRecord candidate_;
    std::chrono::steady_clock::time_point last_write_{};
    std::chrono::steady_clock::time_point last_report_{};
    // The candidate of the rollout followed, built once per rollout.
    std::string followed_id_;
    SnapshotConstPtr followed_candidate_;
};

}  // namespace cell::controlplane
