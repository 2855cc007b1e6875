#include "cell/controlplane/server_state.hpp"

#include <variant>
#include <vector>

#include "cell/controlplane/router_session.hpp"
#include "cell/observability/log.hpp"
#include "cell/reload/file_poller.hpp"

namespace cell::controlplane {
namespace {

using observability::Level;
using observability::JsonLine;

// A line about one router connection: every router event carries these fields.
JsonLine router_line(Level level, std::string_view event, const RouterRecord& record) {
    auto line = observability::event_line(level, event);
    line.add("connection", record.connection).add("id", record.id()).add("address", record.address);
    return line;
}

}  // namespace

ServerState::ServerState(SnapshotConstPtr initial) : current_(std::move(initial)) {
    fleet_.set_current(current_->version, current_->content_hash, WallClock::now(), current_->revision);
}

std::uint64_t ServerState::attach(const std::shared_ptr<RouterSession>& session, std::string address,
                                  bool compression) {
    const std::uint64_t connection = next_connection_++;
    const auto& record = fleet_.add(connection, std::move(address), WallClock::now(), compression);
    sessions_.emplace(connection, session);
    observability::emit_event(Level::info, std::move(router_line(Level::info, "router_connected", record)
                                                         .add("version", current_->version)
                                                         .add("compression", compression)
                                                         .add("routers_connected", sessions_.size())));
    // A router gets the current config at once, whatever it may already serve (its hello, with
    // the limit it may announce, has not been read yet: a router over it nacks the snapshot).
    session->send(current_);
    return connection;
}

void ServerState::detach(std::uint64_t connection, std::string_view reason, std::string_view detail,
                         std::uint64_t snapshots_dropped) {
    const RouterRecord* record = fleet_.find(connection);
    if (record == nullptr) {
        return;
    }
    const auto connected_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(WallClock::now() - record->connected_since).count();
    auto line = router_line(Level::info, "router_disconnected", *record);
    line.add("reason", reason)
        .add("error", detail)
        .add("connected_ms", static_cast<std::int64_t>(connected_ms))
        .add("last_version_sent", record->last_version_sent.value_or(""))
        .add("last_version_acked", record->last_version_acked.value_or(""))
        .add("snapshots_dropped", snapshots_dropped);
    fleet_.remove(connection);
    sessions_.erase(connection);
    line.add("routers_connected", sessions_.size());
    observability::emit_event(Level::info, std::move(line));
}

void ServerState::on_message(std::uint64_t connection, std::string_view text, bool is_text) {
    const RouterRecord* record = fleet_.find(connection);
    if (record == nullptr) {
        return;
    }
    if (!is_text) {
        observability::emit_event(Level::warn, std::move(router_line(Level::warn, "router_message_malformed", *record)
                                                             .add("reason", "binary frame")
                                                             .add("bytes", text.size())));
        return;
    }
    auto decoded = decode_message(text);
    if (const auto* error = std::get_if<DecodeError>(&decoded)) {
        observability::emit_event(Level::warn, std::move(router_line(Level::warn, "router_message_malformed", *record)
                                                             .add("reason", error->reason)
                                                             .add("bytes", text.size())));
        return;
    }
    const auto now = WallClock::now();
    auto& message = std::get<Message>(decoded);
    if (const auto* hello = std::get_if<Hello>(&message)) {
        fleet_.on_hello(connection, *hello);
        observability::emit_event(Level::info, std::move(router_line(Level::info, "router_hello", *record)
                                                             .add("node_id", hello->node_id)
                                                             .add("version", hello->version)
                                                             .add("max_snapshot_bytes", hello->max_snapshot_bytes)));
    } else if (const auto* ack = std::get_if<Ack>(&message)) {
        fleet_.on_ack(connection, *ack, now);
        observability::emit_event(Level::info, std::move(router_line(Level::info, "router_ack", *record)
                                                             .add("version", ack->version)
                                                             .add("content_hash", ack->content_hash)
                                                             .add("current", fleet_.acked_current(*record))));
    } else if (const auto* nack = std::get_if<Nack>(&message)) {
        fleet_.on_nack(connection, *nack, now);
        if (nack->need_full) {
            observability::emit_event(Level::info, std::move(router_line(Level::info, "router_delta_refused", *record)
                                                                 .add("version", nack->version)
                                                                 .add("reason", nack->error)));
            if (const auto it = sessions_.find(connection); it != sessions_.end()) {
                if (const auto session = it->second.lock()) {
                    send_current(connection, *session);
                }
            }
            return;
        }
        observability::emit_event(Level::warn, std::move(router_line(Level::warn, "router_nack", *record)
                                                             .add("version", nack->version)
                                                             .add("error", nack->error)
                                                             .add("serving_version", nack->serving_version)));
    } else {
        // Unknown types, and snapshots (which only flow the other way), are ignored.
        const std::string type = std::holds_alternative<UnknownMessage>(message)
                                     ? std::get<UnknownMessage>(message).type
                                     : std::string("a config snapshot or delta");
        observability::emit_event(Level::warn, std::move(router_line(Level::warn, "router_message_ignored", *record)
                                                             .add("type", type)
                                                             .add("reason", "not a message a router sends")));
    }
}

std::uint64_t ServerState::config_rejections() const {
    return (poller_ != nullptr ? poller_->status()->rejected : 0) + store_rejections_;
}

const std::string& ServerState::frame_for(std::uint64_t connection, const Snapshot& snapshot) const {
    const RouterRecord* record = fleet_.find(connection);
    return record != nullptr ? fleet_.frame_for(*record, snapshot) : snapshot.frame;
}

void ServerState::on_sent(std::uint64_t connection, const Snapshot& snapshot, bool delta) {
    fleet_.on_sent(connection, snapshot.version, WallClock::now(), delta);
    if (const RouterRecord* record = fleet_.find(connection); record != nullptr && observability::event_enabled(Level::debug)) {
        observability::emit_event(Level::debug, std::move(router_line(Level::debug, "snapshot_sent", *record)
                                                              .add("version", snapshot.version)
                                                              .add("kind", delta ? "delta" : "full")
                                                              .add("bytes", delta ? snapshot.delta_frame.size()
                                                                                  : snapshot.frame.size())));
    }
}

void ServerState::on_superseded(std::uint64_t connection, const Snapshot& dropped, const Snapshot& queued) {
    if (const RouterRecord* record = fleet_.find(connection)) {
        observability::emit_event(Level::info, std::move(router_line(Level::info, "snapshot_superseded", *record)
                                                             .add("dropped_version", dropped.version)
                                                             .add("version", queued.version)));
    }
}

void ServerState::publish(SnapshotConstPtr snapshot) {
    current_ = std::move(snapshot);
    fleet_.set_current(current_->version, current_->content_hash, WallClock::now(), current_->revision);
    broadcast("config_change");
}

void ServerState::resend() { broadcast("resend"); }

void ServerState::broadcast(std::string_view reason) {
    if (shutting_down_) {
        return;
    }
    std::vector<std::pair<std::uint64_t, std::shared_ptr<RouterSession>>> recipients;
    recipients.reserve(sessions_.size());
    for (const auto& [connection, weak] : sessions_) {
        if (auto session = weak.lock()) {
            recipients.emplace_back(connection, std::move(session));
        }
    }
    for (const auto& [connection, session] : recipients) {
        send_current(connection, *session);
    }
    observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "snapshot_broadcast")
                                                         .add("reason", reason)
                                                         .add("version", current_->version)
                                                         .add("snapshot_hash", current_->content_hash)
                                                         .add("generation", current_->generation)
                                                         .add("bytes", current_->frame.size())
                                                         .add("recipients", recipients.size())));
}

void ServerState::send_current(std::uint64_t connection, RouterSession& session) {
    const RouterRecord* record = fleet_.find(connection);
    if (record == nullptr) {
        return;
    }
    // The delta, when it is the frame the router will get, is all that has to fit.
    const std::size_t bytes = fleet_.frame_for(*record, *current_).size();
    if (fleet_.fits(*record, bytes)) {
        session.send(current_);
        return;
    }
    std::string reason = "snapshot of " + std::to_string(bytes) +
                         " bytes exceeds the router's --max-snapshot-bytes " +
                         std::to_string(record->max_snapshot_bytes) + " (announced in its hello): not sent";
    observability::emit_event(Level::warn, std::move(router_line(Level::warn, "snapshot_not_sent", *record)
                                                         .add("version", current_->version)
                                                         .add("bytes", bytes)
                                                         .add("max_snapshot_bytes", record->max_snapshot_bytes)
                                                         .add("reason", reason)));
    fleet_.on_not_sent(connection, current_->version, std::move(reason), WallClock::now());
}

void ServerState::shutdown() {
    shutting_down_ = true;
    std::vector<std::shared_ptr<RouterSession>> open;
    for (const auto& [connection, weak] : sessions_) {
        if (auto session = weak.lock()) {
            open.push_back(std::move(session));
        }
    }
    for (const auto& session : open) {
        session->close_going_away();
    }
}

}  // namespace cell::controlplane
