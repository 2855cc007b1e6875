#pragma once
// What the control plane knows about its routers: one record per open connection, updated by
// hello/ack/nack messages and completed sends, and the fleet view served by GET /status.
// Pure bookkeeping: no I/O, the time is passed in, so every rule is unit-tested.
//
// Thread safety: none; the server uses one Fleet from its single event-loop thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "cell/controlplane/protocol.hpp"
#include "cell/observability/histogram.hpp"

namespace cell::routing {
class Table;
}

namespace cell::controlplane {

using WallClock = std::chrono::system_clock;

struct DeltaKeys;  // config_delta.hpp

// One config version as pushed to routers. `frame` is the exact text sent, encoded once and
// shared by every router's send queue; `content_hash` is the SHA-256 of that text, the value a
// router puts in its ack's "content_hash".
struct Snapshot {
    std::string version;
    std::string content_hash;
    std::string file_hash;  // SHA-256 of the config file it came from (the poller's hash)
    std::uint64_t generation = 0;  // 1 for the startup config, +1 per valid change
    std::uint64_t revision = 0;    // the store revision it was read at (0: a file)
    std::string frame;
    // The config document as stored (the file's or etcd's bytes), for GET /config and diffs.
    std::shared_ptr<const std::string> config_text;
    // The validated table, kept for the delta to the next version (nullptr: no delta from it).
    std::shared_ptr<const routing::Table> table;
    // The change from the snapshot whose content hash is `delta_base_hash` to this one
    // (config_delta.hpp), for routers that acked that one; "" when there is none.
    std::string delta_base_hash;
    std::string delta_frame;
};
using SnapshotConstPtr = std::shared_ptr<const Snapshot>;

// Encodes a validated config into the frame every router receives; nullptr only if `text` is
// not a JSON object, which validation has already ruled out. `source_hash` is the SHA-256 of
// `text`.
// With `table` (the validated table of `text`) and a `previous` snapshot that kept its table, the
// delta from `previous` is encoded too, when it pays; `prepared_delta`, when given, is
// delta_keys(*previous->table, *table, ...) computed ahead (config_delta.hpp).
SnapshotConstPtr make_snapshot(std::string text, std::string version, std::string source_hash,
                               std::uint64_t generation, std::uint64_t revision = 0,
                               std::shared_ptr<const routing::Table> table = nullptr,
                               const Snapshot* previous = nullptr, const DeltaKeys* prepared_delta = nullptr);

struct NackRecord {
    std::string version;
    std::string error;
    WallClock::time_point at;
    // "router" for a nack it sent; "control_plane" for a snapshot not sent to it because it is
    // over the limit the router announced.
    std::string by = "router";
};

struct RouterRecord {
    std::uint64_t connection = 0;  // the server's number for the connection, unique per process
    std::string address;           // "ip:port" of the peer
    std::string node_id;           // from hello, or from an ack/nack that names one
    WallClock::time_point connected_since;
    bool hello = false;
    std::optional<std::string> last_version_sent;  // last snapshot fully written to the socket
    std::optional<WallClock::time_point> last_sent_at;  // when it was; cleared by the ack that answers it
    std::optional<std::string> last_version_acked;
    std::optional<std::uint64_t> last_revision_acked;  // when the last ack carried one
    std::string last_ack_hash;  // "" when the last ack carried none
    std::optional<WallClock::time_point> last_ack_at;
    std::optional<NackRecord> last_nack;
    std::uint64_t max_snapshot_bytes = 0;  // from hello; 0 when the router did not announce one
    bool compression = false;              // permessage-deflate negotiated on this connection
    bool deltas = false;      // its hello said it applies deltas
    bool needs_full = false;  // it refused a delta: the next push is the whole snapshot
    std::optional<bool> last_push_delta;  // whether the last snapshot written to it was a delta
    std::vector<VersionReport> counts;  // its last report: per version, the current one first
    std::optional<WallClock::time_point> last_report_at;

    // The name shown in /status and logs: the router's node id, or its address.
    const std::string& id() const { return node_id.empty() ? address : node_id; }
};

class Fleet {
public:
    // The config published at `now` becomes current. Publishing the current version and hash
    // again changes nothing.
    void set_current(std::string version, std::string content_hash, WallClock::time_point now,
                     std::uint64_t revision = 0);
    const std::string& current_version() const { return current_version_; }
    std::uint64_t current_revision() const { return current_revision_; }
    // Who this control plane is ("host:port" it listens on) and where its config comes from
    // ("file" or "etcd"), for /status: `cellctl status` merges the views of several replicas.
    void set_identity(std::string replica, std::string store) {
        replica_ = std::move(replica);
        store_ = std::move(store);
    }
    // "ok" or "unavailable" (etcd cannot be reached: routers keep the current config), and why.
    void set_store_state(std::string state, std::string error) {
        store_state_ = std::move(state);
        store_error_ = std::move(error);
    }
    const std::string& current_hash() const { return current_hash_; }

    const RouterRecord& add(std::uint64_t connection, std::string address, WallClock::time_point now,
                            bool compression = false);
    void remove(std::uint64_t connection);
    // nullptr when the connection is unknown (already removed).
    const RouterRecord* find(std::uint64_t connection) const;

    void on_hello(std::uint64_t connection, const Hello& hello);
    void on_ack(std::uint64_t connection, const Ack& ack, WallClock::time_point now);
    void on_nack(std::uint64_t connection, const Nack& nack, WallClock::time_point now);
    void on_sent(std::uint64_t connection, const std::string& version, WallClock::time_point now, bool delta = false);
    void on_report(std::uint64_t connection, Report report, WallClock::time_point now);
    // Whether `snapshot` goes to the router as its delta: the router applies deltas, asked for
    // nothing else, and its last ack is the delta's base.
    bool takes_delta(const RouterRecord& record, const Snapshot& snapshot) const {
        return record.deltas && !record.needs_full && !snapshot.delta_frame.empty() &&
               record.last_ack_hash == snapshot.delta_base_hash;
    }
    const std::string& frame_for(const RouterRecord& record, const Snapshot& snapshot) const {
        return takes_delta(record, snapshot) ? snapshot.delta_frame : snapshot.frame;
    }
    // A snapshot not sent to a router because it is over the router's announced limit: shown as
    // its last nack, as if the router had refused it (which it would have).
    void on_not_sent(std::uint64_t connection, const std::string& version, std::string reason,
                     WallClock::time_point now);
    // Whether a snapshot frame of `bytes` may go to the router: within the limit it announced.
    bool fits(const RouterRecord& record, std::uint64_t bytes) const {
        return record.max_snapshot_bytes == 0 || bytes <= record.max_snapshot_bytes;
    }

    // The router's last ack names the current version, and the current content hash when the
    // ack carries a hash (the seed's routers send only the version).
    bool acked_current(const RouterRecord& record) const;

    // Since the start, over every connection (the /metrics counters).
    struct Totals {
        std::uint64_t pushes = 0;  // snapshots written whole to a router's socket
        std::uint64_t deltas = 0;  // of those, written as a delta
        std::uint64_t delta_refusals = 0;  // nacks asking for the full snapshot instead of a delta
        std::uint64_t acks = 0;
        std::uint64_t nacks = 0;
        std::uint64_t not_sent = 0;  // snapshots over a router's announced limit, never written
    };
    const Totals& totals() const { return totals_; }
    // Seconds from a snapshot written to a router to that router's ack of its version.
    const observability::HistogramCounts& push_to_ack() const { return push_to_ack_.counts(); }

    std::size_t connected() const { return records_.size(); }
    const std::map<std::uint64_t, RouterRecord>& records() const { return records_; }
    std::size_t acked_current_count() const;

    // How far a router is behind the current config: versions published since the one it
    // acked (nullopt when that version is unknown here: never acked, or older than the kept
    // history), and since when it has been behind (nullopt when it acked the current one).
    struct Lag {
        std::optional<std::uint64_t> versions_behind;
        std::optional<WallClock::time_point> behind_since;
    };
    Lag lag(const RouterRecord& record) const;

    // The GET /status body at `now` (see the class comment in server_state.hpp for the format).
    // `annotate` may add fields to each router's entry, `extra` members to the top level.
    using Annotate = std::function<void(const RouterRecord&, nlohmann::ordered_json& entry)>;
    std::string status_json(WallClock::time_point now, const Annotate& annotate = {},
                            const nlohmann::ordered_json* extra = nullptr) const;

private:
    // One published config, for counting how many versions a router's ack is behind.
    struct Published {
        std::uint64_t ordinal = 0;  // 0 for the first set_current, +1 per publish
        std::string version;
        std::string content_hash;
        WallClock::time_point at;
    };
    // Enough to count the lag of any router a few pushes behind; older acks show as unknown.
    static constexpr std::size_t kept_history = 64;

    RouterRecord* find_mutable(std::uint64_t connection);
    // The newest kept publish that `record`'s last ack names, or nullptr.
    const Published* acked_publish(const RouterRecord& record) const;

    std::string current_version_;
    std::string current_hash_;
    std::uint64_t current_revision_ = 0;
    std::string replica_;
    std::string store_ = "file";
    std::string store_state_ = "ok";
    std::string store_error_;
    std::deque<Published> history_;  // oldest first; back() is the current config
    std::map<std::uint64_t, RouterRecord> records_;  // by connection number: oldest first
    Totals totals_;
    observability::Histogram push_to_ack_{observability::push_to_ack_buckets};
};

}  // namespace cell::controlplane
