#include "cell/controlplane/fleet.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "cell/controlplane/config_delta.hpp"
#include "cell/util/sha256.hpp"
#include "cell/util/time_format.hpp"

namespace cell::controlplane {
namespace {

// Ordered, so /status reads top-down: the fleet summary first, then each router.
using json = nlohmann::ordered_json;

json optional_string(const std::optional<std::string>& value) { return value ? json(*value) : json(nullptr); }

json optional_time(const std::optional<WallClock::time_point>& value) {
    return value ? json(util::format_rfc3339(*value)) : json(nullptr);
}

json seconds_between(WallClock::time_point from, WallClock::time_point to) {
    return std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(to - from).count());
}

}  // namespace

SnapshotConstPtr make_snapshot(std::string text, std::string version, std::string source_hash,
                               std::uint64_t generation, std::uint64_t revision,
                               std::shared_ptr<const routing::Table> table, const Snapshot* previous,
                               const DeltaKeys* prepared_delta) {
    auto snapshot = std::make_shared<Snapshot>();
    snapshot->frame = encode_snapshot(text, revision);
    if (snapshot->frame.empty()) {
        return nullptr;
    }
    snapshot->content_hash = util::sha256_hex(snapshot->frame);
    snapshot->version = std::move(version);
    snapshot->file_hash = std::move(source_hash);
    snapshot->generation = generation;
    snapshot->revision = revision;
    auto config_text = std::make_shared<const std::string>(std::move(text));
    snapshot->config_text = config_text;
    if (table && previous != nullptr && previous->table && previous->content_hash != snapshot->content_hash) {
        DeltaSource source{previous->table.get(), previous->content_hash, table.get(),       *config_text,
                           snapshot->content_hash, snapshot->version,     snapshot->revision};
        if (auto delta = encode_delta(source, snapshot->frame.size(), prepared_delta)) {
            snapshot->delta_base_hash = previous->content_hash;
            snapshot->delta_frame = std::move(*delta);
        }
    }
    snapshot->table = std::move(table);
    return snapshot;
}

void Fleet::set_current(std::string version, std::string content_hash, WallClock::time_point now,
                        std::uint64_t revision) {
    current_revision_ = revision;
    if (!history_.empty() && version == current_version_ && content_hash == current_hash_) {
        return;
    }
    const std::uint64_t ordinal = history_.empty() ? 0 : history_.back().ordinal + 1;
    history_.push_back(Published{ordinal, version, content_hash, now});
    if (history_.size() > kept_history) {
        history_.pop_front();
    }
    current_version_ = std::move(version);
    current_hash_ = std::move(content_hash);
}

const RouterRecord& Fleet::add(std::uint64_t connection, std::string address, WallClock::time_point now,
                               bool compression) {
    RouterRecord record;
    record.compression = compression;
    record.connection = connection;
    record.address = std::move(address);
    record.connected_since = now;
    return records_.insert_or_assign(connection, std::move(record)).first->second;
}

void Fleet::remove(std::uint64_t connection) { records_.erase(connection); }

const RouterRecord* Fleet::find(std::uint64_t connection) const {
    const auto it = records_.find(connection);
    return it == records_.end() ? nullptr : &it->second;
}

RouterRecord* Fleet::find_mutable(std::uint64_t connection) {
    const auto it = records_.find(connection);
    return it == records_.end() ? nullptr : &it->second;
}

void Fleet::on_hello(std::uint64_t connection, const Hello& hello) {
    if (auto* record = find_mutable(connection)) {
        record->hello = true;
        record->max_snapshot_bytes = hello.max_snapshot_bytes;
        record->deltas = hello.deltas;
        if (!hello.node_id.empty()) {
            record->node_id = hello.node_id;
        }
    }
}

void Fleet::on_ack(std::uint64_t connection, const Ack& ack, WallClock::time_point now) {
    if (auto* record = find_mutable(connection)) {
        ++totals_.acks;
        // The answer to the last push: how long the router took to apply it.
        if (record->last_sent_at && record->last_version_sent == ack.version) {
            push_to_ack_.observe(std::chrono::duration<double>(now - *record->last_sent_at).count());
            record->last_sent_at.reset();
        }
        record->last_version_acked = ack.version;
        record->last_revision_acked =
            ack.revision != 0 ? std::optional<std::uint64_t>(ack.revision) : std::nullopt;
        record->last_ack_hash = ack.content_hash;
        record->last_ack_at = now;
        if (!ack.node_id.empty()) {
            record->node_id = ack.node_id;
        }
    }
}

void Fleet::on_nack(std::uint64_t connection, const Nack& nack, WallClock::time_point now) {
    if (auto* record = find_mutable(connection)) {
        if (nack.need_full) {
            // Not a refusal of the config: the router could not use a delta, the whole snapshot follows.
            ++totals_.delta_refusals;
            record->needs_full = true;
            return;
        }
        ++totals_.nacks;
        // A nack does not touch the last ack: the router keeps serving what it acked before.
        record->last_nack = NackRecord{nack.version, nack.error, now};
        if (!nack.node_id.empty()) {
            record->node_id = nack.node_id;
        }
    }
}

void Fleet::on_sent(std::uint64_t connection, const std::string& version, WallClock::time_point now, bool delta) {
    if (auto* record = find_mutable(connection)) {
        ++totals_.pushes;
        if (delta) {
            ++totals_.deltas;
        } else {
            record->needs_full = false;
        }
        record->last_push_delta = delta;
        record->last_version_sent = version;
        record->last_sent_at = now;
    }
}

void Fleet::on_not_sent(std::uint64_t connection, const std::string& version, std::string reason,
                        WallClock::time_point now) {
    if (auto* record = find_mutable(connection)) {
        ++totals_.not_sent;
        record->last_nack = NackRecord{version, std::move(reason), now, "control_plane"};
    }
}

bool Fleet::acked_current(const RouterRecord& record) const {
    if (!record.last_version_acked || *record.last_version_acked != current_version_) {
        return false;
    }
    return record.last_ack_hash.empty() || record.last_ack_hash == current_hash_;
}

std::size_t Fleet::acked_current_count() const {
    std::size_t count = 0;
    for (const auto& [connection, record] : records_) {
        if (acked_current(record)) {
            ++count;
        }
    }
    return count;
}

const Fleet::Published* Fleet::acked_publish(const RouterRecord& record) const {
    if (!record.last_version_acked) {
        return nullptr;
    }
    for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
        if (it->version == *record.last_version_acked &&
            (record.last_ack_hash.empty() || record.last_ack_hash == it->content_hash)) {
            return &*it;
        }
    }
    return nullptr;
}

Fleet::Lag Fleet::lag(const RouterRecord& record) const {
    if (acked_current(record)) {
        return Lag{0, std::nullopt};
    }
    const Published* acked = acked_publish(record);
    if (acked == nullptr || history_.empty()) {
        // As far as this control plane knows, the router has been behind since it connected.
        return Lag{std::nullopt, record.connected_since};
    }
    if (acked == &history_.back()) {
        return Lag{0, std::nullopt};  // acked_current() agrees; kept so `next` below always exists
    }
    const std::uint64_t behind = history_.back().ordinal - acked->ordinal;
    // The first publish after the acked one is when the router fell behind; it may be older
    // than the connection when the router reconnected with an old config.
    const Published& next = history_[static_cast<std::size_t>(acked->ordinal - history_.front().ordinal) + 1];
    return Lag{behind, next.at};
}

void Fleet::on_report(std::uint64_t connection, Report report, WallClock::time_point now) {
    RouterRecord* record = find_mutable(connection);
    if (record == nullptr) {
        return;
    }
    if (record->node_id.empty() && !report.node_id.empty()) {
        record->node_id = std::move(report.node_id);
    }
    record->counts = std::move(report.versions);
    record->last_report_at = now;
}

std::string Fleet::status_json(WallClock::time_point now, const Annotate& annotate, const json* extra) const {
    json routers = json::array();
    for (const auto& [connection, record] : records_) {
        json last_nack = nullptr;
        if (record.last_nack) {
            last_nack = json{{"version", record.last_nack->version},
                             {"error", record.last_nack->error},
                             {"at", util::format_rfc3339(record.last_nack->at)},
                             {"by", record.last_nack->by}};
        }
        const Lag behind = lag(record);
        json counts = json::array();
        for (const VersionReport& served : record.counts) {
            counts.push_back(json{{"version", served.version},
                                  {"requests", served.requests},
                                  {"errors", served.errors},
                                  {"upstream_failures", served.upstream_failures}});
        }
        routers.push_back(json{{"id", record.id()},
                               {"address", record.address},
                               {"connected_since", util::format_rfc3339(record.connected_since)},
                               {"connected_seconds", seconds_between(record.connected_since, now)},
                               {"hello", record.hello},
                               {"last_version_sent", optional_string(record.last_version_sent)},
                               {"last_version_acked", optional_string(record.last_version_acked)},
                               {"last_revision_acked", record.last_revision_acked ? json(*record.last_revision_acked) : json(nullptr)},
                               {"last_ack_at", optional_time(record.last_ack_at)},
                               {"acked_current", acked_current(record)},
                               {"versions_behind", behind.versions_behind ? json(*behind.versions_behind) : json(nullptr)},
                               {"behind_seconds", behind.behind_since ? seconds_between(*behind.behind_since, now) : json(0)},
                               {"last_nack", std::move(last_nack)},
                               {"max_snapshot_bytes",
                                record.max_snapshot_bytes != 0 ? json(record.max_snapshot_bytes) : json(nullptr)},
                               {"compression", record.compression},
                               {"deltas", record.deltas},
                               {"last_push", record.last_push_delta ? json(*record.last_push_delta ? "delta" : "full")
                                                                    : json(nullptr)},
                               {"counts", std::move(counts)},
                               {"last_report_at", optional_time(record.last_report_at)}});
        if (annotate) {
            annotate(record, routers.back());
        }
    }
    json status{{"replica", replica_},
                      {"store", store_},
                      {"store_state", store_state_},
                      {"store_error", store_error_},
                      {"current_version", current_version_},
                      {"current_revision", current_revision_},
                      {"current_hash", current_hash_},
                      {"current_since", history_.empty() ? json(nullptr) : json(util::format_rfc3339(history_.back().at))},
                      {"routers_connected", records_.size()},
                      {"acked_current", acked_current_count()},
                      {"routers", std::move(routers)}};
    if (extra != nullptr) {
        status.update(*extra);
    }
    // Replace, not throw, on invalid UTF-8 from a router's node id or error text.
    return status.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace cell::controlplane
