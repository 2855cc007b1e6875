#include "cell/controlplane/snapshot_applier.hpp"

#include "cell/controlplane/config_cache.hpp"
#include "cell/observability/log.hpp"
#include "cell/reload/table_loader.hpp"
#include "cell/util/sha256.hpp"

namespace cell::controlplane {

using observability::Level;

SnapshotApplier::SnapshotApplier(routing::TablePublisher& publisher, config::ProxySettingsOverrides flag_overrides,
                                 std::string cache_path, std::string node_id,
                                 resilience::PlacementStateRegistry* states, std::uint64_t applied_revision)
    : publisher_(publisher), flag_overrides_(flag_overrides), states_(states), cache_path_(std::move(cache_path)),
      node_id_(std::move(node_id)) {
    auto initial = std::make_shared<ApplyStatus>();
    initial->applied_revision = applied_revision;
    status_.store(std::move(initial));
}

std::string SnapshotApplier::apply(const ConfigSnapshot& snapshot) {
    const auto started = std::chrono::steady_clock::now();
    ApplyStatus next = *status();
    ++next.snapshots_received;
    next.last_snapshot_at = std::chrono::system_clock::now();
    next.last_snapshot_version = snapshot.version;
    const std::string hash = util::sha256_hex(snapshot.text);
    const auto serving = publisher_.current();

    // The periodic re-send of what we already serve: confirm it, swap nothing.
    if (hash == serving->origin().content_hash) {
        ++next.unchanged;
        status_.store(std::make_shared<const ApplyStatus>(std::move(next)));
        return encode(Ack{snapshot.version, hash, node_id_, snapshot.revision});
    }

    if (snapshot.revision != 0 && snapshot.revision < next.applied_revision) {
        ++next.rejected;
        ++next.stale;
        next.last_rejected_at = next.last_snapshot_at;
        next.last_rejected_reason = "snapshot revision " + std::to_string(snapshot.revision) +
                                    " is older than the applied revision " + std::to_string(next.applied_revision) +
                                    ": the control plane that sent it has not seen the newer config yet";
        const std::uint64_t applied_revision = next.applied_revision;
        std::string reason = next.last_rejected_reason;
        status_.store(std::make_shared<const ApplyStatus>(std::move(next)));
        observability::emit_event(Level::warn, std::move(observability::event_line(Level::warn, "snapshot_stale")
                                                             .add("version", snapshot.version)
                                                             .add("revision", snapshot.revision)
                                                             .add("applied_revision", applied_revision)
                                                             .add("serving_version", serving->version())));
        return encode(Nack{snapshot.version, std::move(reason), serving->version(), node_id_, snapshot.revision});
    }

    auto built = reload::build_table(snapshot.text, hash, cache_path_, flag_overrides_, "control_plane", states_);
    if (auto* failure = std::get_if<reload::LoadFailure>(&built)) {
        ++next.rejected;
        next.last_rejected_at = next.last_snapshot_at;
        next.last_rejected_reason = failure->reason;
        status_.store(std::make_shared<const ApplyStatus>(std::move(next)));
        observability::emit_event(Level::err, std::move(observability::event_line(Level::err, "snapshot_rejected")
                                                            .add("version", snapshot.version)
                                                            .add("content_hash", hash)
                                                            .add("reason", failure->reason)
                                                            .add("serving_version", serving->version())));
        return encode(Nack{snapshot.version, failure->reason, serving->version(), node_id_, snapshot.revision});
    }

    auto& loaded = std::get<reload::LoadedTable>(built);
    const auto generation = publisher_.publish(loaded.table);
    ++next.applied;
    next.applied_revision = snapshot.revision;
    if (!cache_path_.empty()) {
        next.last_cache_error = write_cache_atomically(cache_path_, snapshot.text);
        if (!next.last_cache_error.empty()) {
            observability::log_event(Level::warn, "cache_write_failed", next.last_cache_error);
        }
    }
    status_.store(std::make_shared<const ApplyStatus>(std::move(next)));
    observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "snapshot_applied")
                                                         .add("version", snapshot.version)
                                                         .add("revision", snapshot.revision)
                                                         .add("previous_version", serving->version())
                                                         .add("content_hash", hash)
                                                         .add("generation", generation)
                                                         .add("routing_keys", loaded.table->routing_key_count())
                                                         .add("apply_ms", std::chrono::duration<double, std::milli>(
                                                                              std::chrono::steady_clock::now() - started)
                                                                              .count())));
    return encode(Ack{snapshot.version, hash, node_id_, snapshot.revision});
}

std::string SnapshotApplier::reject_oversized(const std::string& version, std::uint64_t bytes, std::uint64_t limit) {
    ApplyStatus next = *status();
    ++next.snapshots_received;
    ++next.rejected;
    next.last_snapshot_at = std::chrono::system_clock::now();
    next.last_snapshot_version = version;
    next.last_rejected_at = next.last_snapshot_at;
    next.last_rejected_reason = oversized_snapshot_reason(bytes, limit);
    const std::string serving = serving_version();
    observability::emit_event(Level::err, std::move(observability::event_line(Level::err, "snapshot_rejected")
                                                        .add("version", version)
                                                        .add("bytes", bytes)
                                                        .add("max_snapshot_bytes", limit)
                                                        .add("reason", next.last_rejected_reason)
                                                        .add("serving_version", serving)));
    std::string nack = encode(Nack{version, next.last_rejected_reason, serving, node_id_});
    status_.store(std::make_shared<const ApplyStatus>(std::move(next)));
    return nack;
}

}  // namespace cell::controlplane
