#pragma once
// The routing config in etcd (docs/milestones/m6-control-plane-ha.md, "Layout"):
//
//   <prefix>config                  the manifest of the current version (small JSON, below)
//   <prefix>history/<sequence>      a copy of each applied version's manifest, the last N kept
//   <prefix>blobs/<sha256>/<index>  the config text, cut into chunks of at most 1 MiB
//   <prefix>blobs/<sha256>.zst/<index>  or the text compressed with zstd, cut the same way
//
// etcd refuses requests over 1.5 MiB and transactions over 128 operations by default, so a
// 30 MB config cannot be one value nor one transaction. The chunks are written first, under a
// name derived from their content; the manifest that points at them is written last, in one
// compare-and-swap transaction together with its history entry. A version therefore appears
// whole or not at all, and its store revision is the manifest's mod_revision.
//
// Heavy (Asio): include only from .cpp files. Thread safety: none; one event loop uses it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <boost/asio/thread_pool.hpp>

#include "cell/controlplane/chunk_encoding.hpp"
#include "cell/controlplane/etcd_client.hpp"

namespace cell::controlplane {

// What the store says about one applied version (the manifest's content plus its revision).
struct VersionRecord {
    std::uint64_t revision = 0;  // etcd's revision of the write (the manifest's mod_revision)
    std::uint64_t sequence = 0;  // 1 for the first version ever applied, +1 per version
    std::string version;         // the config's own "version"
    std::string content_hash;    // SHA-256 of the config text, names its chunks
    std::uint64_t bytes = 0;   // of the text
    std::uint64_t chunks = 0;  // of the stored bytes
    ChunkEncoding encoding = ChunkEncoding::identity;
    std::uint64_t routing_keys = 0;
    std::string applied_by;
    std::string applied_at;  // RFC 3339
    std::string reason;
    bool forced = false;     // applied over the blast-radius guard
    std::optional<std::uint64_t> rollback_of;  // the revision whose config this restored
};

nlohmann::json to_json(const VersionRecord& record);
// nullopt when `manifest` is not a manifest this code wrote (the revision is not set).
std::optional<VersionRecord> version_record_from(const std::string& manifest);

struct StoredConfig {
    VersionRecord record;
    std::string text;
};

// Chunks put into the store ahead of the write that names them.
struct StoredBlob {
    ChunkEncoding encoding = ChunkEncoding::identity;
    std::uint64_t chunks = 0;
    std::string content_hash;  // the SHA-256 of the text the chunks hold
};

struct WriteOutcome {
    bool applied = false;
    std::uint64_t revision = 0;  // applied: the new version's; else the revision found instead
};

class EtcdConfigStore {
public:
    static constexpr std::size_t chunk_bytes = 1024 * 1024;

    // New versions are stored with `encoding`; both encodings are read. `cpu`, when given, runs
    // compression and decompression off the caller's loop.
    EtcdConfigStore(EtcdClient& client, std::string prefix, std::size_t history_limit,
                    ChunkEncoding encoding = ChunkEncoding::identity, net::thread_pool* cpu = nullptr);

    // The current version and its text; nullopt when the store holds none yet.
    awaitable<EtcdResult<std::optional<StoredConfig>>> read_current();
    // The current version's manifest only (cheap); nullopt when the store holds none yet.
    awaitable<EtcdResult<std::optional<VersionRecord>>> read_manifest();
    // The text of `record`, checked against its content hash.
    awaitable<EtcdResult<std::string>> read_text(const VersionRecord& record);

    // Writes `text` as the new current version if the current one is still at
    // `expected_revision` (0: the store is empty). `record` gives the who/why fields; the rest is
    // filled here. Old history entries and the chunks no kept version uses are removed after.
    // `stored`: put_chunks_of(text) gave it moments ago, so only the manifest is left.
    awaitable<EtcdResult<WriteOutcome>> write(const std::string& text, std::uint64_t expected_revision,
                                              VersionRecord record, std::optional<StoredBlob> stored = std::nullopt);

    // Puts the chunks of `text`, whose SHA-256 is `content_hash` (computed here when empty), with
    // the store's encoding (hashed and compressed off the loop when the store has `cpu`);
    // write() and stage_text() do, and a diff that `cellctl apply` follows with its PUT does
    // while it analyses the change. Chunks no version comes to name are removed by a later
    // write's prune, once the history has moved past them.
    awaitable<EtcdResult<StoredBlob>> put_chunks_of(std::string_view text, std::string content_hash);

    // Removes the chunks put_chunks_of() gave `blob`: only for a text no version can ever name
    // (an invalid config), since a write of the same content could be using them otherwise.
    awaitable<std::optional<EtcdFailure>> remove_chunks(const StoredBlob& blob);

    // Puts the chunks of `text` (a staged rollout's candidate) without making it current; the
    // record gets its hash, size and chunk count.
    awaitable<EtcdResult<VersionRecord>> stage_text(const std::string& text, VersionRecord record);

    // Kept versions, newest first.
    awaitable<EtcdResult<std::vector<VersionRecord>>> history(std::size_t limit);

    // Waits for the manifest to change after `revision` (see EtcdClient::wait_for_change).
    awaitable<EtcdWatchResult> wait_for_change(std::uint64_t after_revision, std::chrono::milliseconds idle_timeout);

    const std::string& prefix() const { return prefix_; }
    std::string rollout_key() const { return prefix_ + "rollout"; }
    std::string rollout_reports_prefix(const std::string& rollout_id) const {
        return prefix_ + "rollout-reports/" + rollout_id + "/";
    }
    EtcdClient& client() { return client_; }
    std::string config_key() const { return prefix_ + "config"; }

private:
    std::string history_prefix() const { return prefix_ + "history/"; }
    std::string blobs_prefix() const { return prefix_ + "blobs/"; }
    std::string blob_prefix(const std::string& content_hash, ChunkEncoding encoding) const {
        return blobs_prefix() + content_hash + (encoding == ChunkEncoding::zstd ? ".zst/" : "/");
    }

    // Removes history entries past the limit and the chunks of versions no longer kept.
    awaitable<void> prune();
    // Puts the chunks of `text` under `prefix`, a few at once; the first failure, if any.
    awaitable<std::optional<EtcdFailure>> put_chunks(const std::string& prefix, std::string_view text,
                                                     std::uint64_t chunks);

    EtcdClient& client_;
    const std::string prefix_;
    const std::size_t history_limit_;
    const ChunkEncoding encoding_;
    net::thread_pool* cpu_;
};

}  // namespace cell::controlplane
