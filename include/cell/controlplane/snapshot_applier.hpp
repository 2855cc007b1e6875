#pragma once
// What a router does with a snapshot from the control plane, without any networking:
// validate it with the same code as the file reload, swap the table atomically, persist it to
// the cache, and say what to answer (ack or nack). Used by the WebSocket client.
//
// Thread safety: apply() is called from the client's thread only; status() from any thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cell/config/types.hpp"
#include "cell/controlplane/protocol.hpp"
#include "cell/routing/snapshot.hpp"
#include "cell/util/atomic_shared_ptr.hpp"

namespace cell::controlplane {

struct ApplyStatus {
    std::uint64_t snapshots_received = 0;
    std::uint64_t applied = 0;     // new tables published
    std::uint64_t unchanged = 0;   // same content as served: acked without a swap
    std::uint64_t rejected = 0;    // nacked (stale ones included)
    std::uint64_t stale = 0;       // of those, older than the applied revision
    std::uint64_t deltas_applied = 0;  // of `applied`, tables put together from a delta
    std::uint64_t deltas_refused = 0;  // deltas answered with a request for the full snapshot
    std::uint64_t applied_revision = 0;  // store revision of the table served (0: none, a file)
    std::optional<std::chrono::system_clock::time_point> last_snapshot_at;
    std::string last_snapshot_version;
    std::optional<std::chrono::system_clock::time_point> last_rejected_at;
    std::string last_rejected_reason;
    std::string last_cache_error;  // "" when the last write succeeded
};

class SnapshotApplier {
public:
    // `states` (optional) carries placement state from one table to the next (routing::Table::build).
    // `applied_revision`: the store revision of the table served at startup (a cached snapshot's),
    // below which no snapshot is applied.
    SnapshotApplier(routing::TablePublisher& publisher, config::ProxySettingsOverrides flag_overrides,
                    std::string cache_path, std::string node_id,
                    resilience::PlacementStateRegistry* states = nullptr, std::uint64_t applied_revision = 0);

    // Returns the frame to send back: an encoded Ack or Nack for `snapshot.version`. A snapshot
    // whose revision is below the applied one is nacked and changes nothing: a control plane with
    // an old view of the store (a lagging replica) cannot move this router back in time. A
    // snapshot without a revision (a control plane watching a file) is not ordered.
    std::string apply(const ConfigSnapshot& snapshot);
    // The same for a delta: applied to the table served when that is its base, else answered
    // with a nack asking for the full snapshot (as is a delta whose result is not the control
    // plane's). The table swapped in and the ack are those the full snapshot would give.
    std::string apply(const ConfigDelta& delta);
    std::uint64_t applied_revision() const { return status()->applied_revision; }
    // A snapshot of `bytes` was over this router's `limit` and was read without being kept:
    // counts it as rejected and returns the Nack to send (its version read from the first
    // bytes, "" when they do not name one).
    std::string reject_oversized(const std::string& version, std::uint64_t bytes, std::uint64_t limit);

    // What the requests served under the current table, then the one before, came to: the
    // report frame to send. Call from the client's thread only.
    std::string report();

    std::shared_ptr<const ApplyStatus> status() const { return status_.load(std::memory_order_acquire); }
    const std::string& node_id() const { return node_id_; }
    std::string serving_version() const { return publisher_.current()->version(); }

private:
    // The nack for a snapshot or delta older than the applied revision, or nullopt.
    std::optional<std::string> refuse_stale(ApplyStatus& next, const std::string& version, std::uint64_t revision,
                                            const routing::Table& serving);
    std::string reject_invalid(ApplyStatus next, const std::string& version, std::uint64_t revision,
                               const std::string& content_hash, const std::string& reason,
                               const routing::Table& serving);
    // Publishes `table`, caches `cache_text` and returns the ack.
    std::string publish(ApplyStatus next, routing::TableConstPtr table, const std::string& version,
                        std::uint64_t revision, const std::string& content_hash, const std::string& cache_text,
                        const routing::Table& previous, std::string_view kind,
                        std::chrono::steady_clock::time_point started);

    routing::TablePublisher& publisher_;
    const config::ProxySettingsOverrides flag_overrides_;
    resilience::PlacementStateRegistry* const states_;
    const std::string cache_path_;
    const std::string node_id_;
    util::AtomicSharedPtr<const ApplyStatus> status_;

    // The tables report() saw last, newest first: their counters outlive the tables themselves.
    struct Reported {
        std::string version;
        std::string content_hash;
        std::shared_ptr<routing::VersionCounters> counters;
    };
    std::vector<Reported> reported_;
};

}  // namespace cell::controlplane
