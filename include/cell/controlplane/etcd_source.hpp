#pragma once
// The control plane's config when etcd is the store of record: the first read at startup
// (seeding an empty store from the config file), then a watch that validates each new version
// with the router's own code and publishes it to the routers, exactly as a file change would be.
//
// etcd being down delays config, never traffic: the current snapshot keeps being served and
// pushed to routers that connect, /status shows the store as unavailable, and the watch resumes
// from the last revision seen once etcd is back (taking the current version instead if that
// revision was compacted away meanwhile). Every replica also compacts etcd's history
// periodically (compact_periodically).
//
// Heavy (Asio): include only from .cpp files. Thread safety: none; runs on the server's loop.

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <variant>

#include <boost/asio/thread_pool.hpp>

#include "cell/controlplane/control_plane_options.hpp"
#include "cell/controlplane/etcd_config_store.hpp"
#include "cell/controlplane/fleet.hpp"
#include "cell/transport/io.hpp"

namespace cell::controlplane {

class ServerState;

struct EtcdStartup {
    SnapshotConstPtr snapshot;
    std::uint64_t store_revision = 0;  // the store's revision when it was read: the watch starts after it
};

// Reads the current config from etcd on a loop of its own, retrying while etcd cannot be reached
// (SIGINT/SIGTERM give up); an empty store is seeded with the config file. Returns the reason
// when there is no valid config to start with.
std::variant<EtcdStartup, std::string> read_startup_config(const ControlPlaneOptions& options);

// Validates a stored config text with the router's own code and encodes its snapshot; the reason
// when it is not valid.
std::variant<SnapshotConstPtr, std::string> build_snapshot(const std::string& text, const ControlPlaneOptions& options,
                                                           std::uint64_t generation, std::uint64_t revision,
                                                           const Snapshot* previous = nullptr);

class EtcdFollower {
public:
    EtcdFollower(net::io_context& loop, ServerState& state, net::thread_pool& config_work,
                 const ControlPlaneOptions& options, std::uint64_t store_revision);

    // Watches until stop(); never throws.
    awaitable<void> run();
    // Compacts etcd's history every --etcd-compact-interval until stop(): each replica does,
    // which is harmless (a revision compacted already is skipped). Never throws.
    awaitable<void> compact_periodically();
    void stop();

    // This replica has just written a config (already validated) as revision `record.revision`,
    // and encoded `snapshot` for it: publish it at once instead of reading it back when the watch
    // reports it. Nothing happens when this replica already serves that revision or a newer one.
    void publish_written(SnapshotConstPtr snapshot, const VersionRecord& record);

    // Held by a write of this replica from before it reaches the store until publish_written:
    // a version with that content that the watch reports meanwhile is left to the writer, which
    // has the config parsed already, instead of being read back, parsed and built a second time.
    class OwnWrite {
    public:
        OwnWrite(OwnWrite&& other) noexcept = default;
        OwnWrite& operator=(OwnWrite&& other) = delete;
        OwnWrite(const OwnWrite&) = delete;
        OwnWrite& operator=(const OwnWrite&) = delete;
        ~OwnWrite() { end(); }

    private:
        friend class EtcdFollower;
        struct Writes;
        OwnWrite(std::weak_ptr<Writes> writes, std::string content_hash)
            : writes_(std::move(writes)), content_hash_(std::move(content_hash)) {}
        void end();
        std::weak_ptr<Writes> writes_;
        std::string content_hash_;
    };
    [[nodiscard]] OwnWrite writing(std::string content_hash);

    EtcdConfigStore& store() { return store_; }

private:
    // Reads, validates and publishes the version `record` names; false when etcd failed.
    awaitable<bool> take(VersionRecord record);
    // Logs and hands a validated version to the routers; `written_here` when this replica wrote it.
    void publish(SnapshotConstPtr snapshot, const VersionRecord& record, bool written_here);
    void note_available();
    void note_unavailable(const std::string& error);

    ServerState& state_;
    net::thread_pool& config_work_;
    const ControlPlaneOptions& options_;
    // Compresses and decompresses the store's chunks, off the loop and apart from config_work_,
    // whose table builds would hold a write's chunks back. Before store_, which uses it.
    net::thread_pool store_work_{1};
    EtcdClient client_;
    EtcdConfigStore store_;
    std::uint64_t seen_revision_;
    std::uint64_t published_revision_;
    bool available_ = true;
    bool retrying_ = false;  // the last watch failed and is being retried at once
    bool stopping_ = false;
    steady_timer pause_;
    steady_timer compact_pause_;
    std::shared_ptr<OwnWrite::Writes> own_writes_;
};

}  // namespace cell::controlplane
