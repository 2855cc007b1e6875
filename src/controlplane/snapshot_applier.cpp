#include "cell/controlplane/snapshot_applier.hpp"

#include "cell/config/load.hpp"
#include "cell/config/proxy_settings.hpp"
#include "cell/controlplane/config_cache.hpp"
#include "cell/controlplane/config_delta.hpp"
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

std::optional<std::string> SnapshotApplier::refuse_stale(ApplyStatus& next, const std::string& version,
                                                         std::uint64_t revision, const routing::Table& serving) {
    if (revision == 0 || revision >= next.applied_revision) {
        return std::nullopt;
    }
    ++next.rejected;
    ++next.stale;
    next.last_rejected_at = next.last_snapshot_at;
    next.last_rejected_reason = "snapshot revision " + std::to_string(revision) + " is older than the applied revision " +
                                std::to_string(next.applied_revision) +
                                ": the control plane that sent it has not seen the newer config yet";
    const std::uint64_t applied_revision = next.applied_revision;
    std::string reason = next.last_rejected_reason;
    status_.store(std::make_shared<const ApplyStatus>(std::move(next)));
    observability::emit_event(Level::warn, std::move(observability::event_line(Level::warn, "snapshot_stale")
                                                         .add("version", version)
                                                         .add("revision", revision)
                                                         .add("applied_revision", applied_revision)
                                                         .add("serving_version", serving.version())));
    return encode(Nack{version, std::move(reason), serving.version(), node_id_, revision});
}

std::string SnapshotApplier::reject_invalid(ApplyStatus next, const std::string& version, std::uint64_t revision,
                                            const std::string& content_hash, const std::string& reason,
                                            const routing::Table& serving) {
    ++next.rejected;
    next.last_rejected_at = next.last_snapshot_at;
    next.last_rejected_reason = reason;
    status_.store(std::make_shared<const ApplyStatus>(std::move(next)));
    observability::emit_event(Level::err, std::move(observability::event_line(Level::err, "snapshot_rejected")
                                                        .add("version", version)
                                                        .add("content_hash", content_hash)
                                                        .add("reason", reason)
                                                        .add("serving_version", serving.version())));
    return encode(Nack{version, reason, serving.version(), node_id_, revision});
}

std::string SnapshotApplier::publish(ApplyStatus next, routing::TableConstPtr table, const std::string& version,
                                     std::uint64_t revision, const std::string& content_hash,
                                     const std::string& cache_text, const routing::Table& previous,
                                     std::string_view kind, std::chrono::steady_clock::time_point started) {
    const std::size_t routing_keys = table->routing_key_count();
    const auto generation = publisher_.publish(std::move(table));
    ++next.applied;
    next.applied_revision = revision;
    if (!cache_path_.empty()) {
        next.last_cache_error = write_cache_atomically(cache_path_, cache_text);
        if (!next.last_cache_error.empty()) {
            observability::log_event(Level::warn, "cache_write_failed", next.last_cache_error);
        }
    }
    status_.store(std::make_shared<const ApplyStatus>(std::move(next)));
    observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "snapshot_applied")
                                                         .add("version", version)
                                                         .add("revision", revision)
                                                         .add("kind", kind)
                                                         .add("previous_version", previous.version())
                                                         .add("content_hash", content_hash)
                                                         .add("generation", generation)
                                                         .add("routing_keys", routing_keys)
                                                         .add("apply_ms", std::chrono::duration<double, std::milli>(
                                                                              std::chrono::steady_clock::now() - started)
                                                                              .count())));
    return encode(Ack{version, content_hash, node_id_, revision});
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
    if (auto stale = refuse_stale(next, snapshot.version, snapshot.revision, *serving)) {
        return std::move(*stale);
    }
    auto built = reload::build_table(snapshot.text, hash, cache_path_, flag_overrides_, "control_plane", states_);
    if (auto* failure = std::get_if<reload::LoadFailure>(&built)) {
        return reject_invalid(std::move(next), snapshot.version, snapshot.revision, hash, failure->reason, *serving);
    }
    auto& loaded = std::get<reload::LoadedTable>(built);
    return publish(std::move(next), std::move(loaded.table), snapshot.version, snapshot.revision, hash, snapshot.text,
                   *serving, "full", started);
}

std::string SnapshotApplier::apply(const ConfigDelta& delta) {
    const auto started = std::chrono::steady_clock::now();
    ApplyStatus next = *status();
    ++next.snapshots_received;
    next.last_snapshot_at = std::chrono::system_clock::now();
    next.last_snapshot_version = delta.version;
    const auto serving = publisher_.current();

    if (delta.content_hash == serving->origin().content_hash) {
        ++next.unchanged;
        status_.store(std::make_shared<const ApplyStatus>(std::move(next)));
        return encode(Ack{delta.version, delta.content_hash, node_id_, delta.revision});
    }
    if (auto stale = refuse_stale(next, delta.version, delta.revision, *serving)) {
        return std::move(*stale);
    }
    // Not a rejection of the config: the control plane sends the whole snapshot at once.
    const auto ask_for_full = [&](std::string reason) {
        ++next.deltas_refused;
        status_.store(std::make_shared<const ApplyStatus>(std::move(next)));
        observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "delta_refused")
                                                             .add("version", delta.version)
                                                             .add("revision", delta.revision)
                                                             .add("reason", reason)
                                                             .add("serving_version", serving->version())));
        Nack nack{delta.version, std::move(reason), serving->version(), node_id_, delta.revision};
        nack.need_full = true;
        return encode(nack);
    };
    if (delta.base_hash != serving->origin().content_hash) {
        return ask_for_full("the delta applies to snapshot " + delta.base_hash.substr(0, 12) +
                            ", this router serves " + serving->origin().content_hash.substr(0, 12) +
                            ": send the full snapshot");
    }
    auto assembled = apply_delta(*serving, delta.text, !cache_path_.empty());
    if (auto* refusal = std::get_if<DeltaRefusal>(&assembled)) {
        return ask_for_full(refusal->reason + ": send the full snapshot");
    }
    auto& applied = std::get<AppliedDelta>(assembled);
    auto loaded = config::load_config(std::move(applied.config));
    if (!loaded.ok()) {
        return reject_invalid(std::move(next), delta.version, delta.revision, delta.content_hash,
                              config::describe(loaded.errors), *serving);
    }
    const auto settings = config::resolve_proxy_settings(loaded.config->proxy, flag_overrides_);
    routing::TableOrigin origin{"control_plane", cache_path_, delta.content_hash, std::chrono::system_clock::now()};
    auto table = routing::Table::build(*loaded.config, settings, std::move(origin), states_);
    ++next.deltas_applied;
    return publish(std::move(next), std::move(table), delta.version, delta.revision, delta.content_hash,
                   applied.document, *serving, "delta", started);
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

namespace cell::controlplane {

std::string SnapshotApplier::report() {
    const routing::TableConstPtr serving = publisher_.current();
    if (reported_.empty() || reported_.front().counters != serving->shared_counters()) {
        reported_.insert(reported_.begin(),
                         Reported{serving->version(), serving->origin().content_hash, serving->shared_counters()});
        if (reported_.size() > 2) {
            reported_.pop_back();  // the control plane compares the current version and the one before
        }
    }
    Report message;
    message.node_id = node_id_;
    for (const Reported& table : reported_) {
        const routing::VersionTotals totals = table.counters->totals();
        message.versions.push_back(
            VersionReport{table.version, table.content_hash, totals.requests, totals.errors, totals.upstream_failures});
    }
    return encode(message);
}

}  // namespace cell::controlplane
