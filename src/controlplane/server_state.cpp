#include "cell/controlplane/server_state.hpp"

#include <variant>
#include <vector>

#include "cell/controlplane/router_session.hpp"
#include "cell/observability/log.hpp"
#include "cell/reload/file_poller.hpp"
#include "cell/util/time_format.hpp"

#include <nlohmann/json.hpp>
#include <set>

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
        // Its node id is known now: a canary of a running rollout gets the candidate.
        if (rollout_ && rollout_->machine.canaries_on_candidate() && rollout_->machine.is_canary(record->id())) {
            if (const auto it = sessions_.find(connection); it != sessions_.end()) {
                if (const auto session = it->second.lock()) {
                    send_current(connection, *session);
                }
            }
        }
        observability::emit_event(Level::info, std::move(router_line(Level::info, "router_hello", *record)
                                                             .add("node_id", hello->node_id)
                                                             .add("version", hello->version)
                                                             .add("max_snapshot_bytes", hello->max_snapshot_bytes)));
    } else if (const auto* ack = std::get_if<Ack>(&message)) {
        fleet_.on_ack(connection, *ack, now);
        if (rollout_ && ack->version == rollout_->candidate->version &&
            (ack->content_hash.empty() || ack->content_hash == rollout_->candidate->content_hash) &&
            rollout_->machine.is_canary(record->id())) {
            rollout_->local_acked.insert(record->id());
            if (rollout_->driven_here) {
                const RolloutPhase before = rollout_->machine.phase();
                rollout_->machine.on_ack(record->id(), now);
                after_rollout_step(before);
            }
        }
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
        if (rollout_ && nack->version == rollout_->candidate->version && rollout_->machine.is_canary(record->id())) {
            rollout_->local_nacks[record->id()] = nack->error;
            if (rollout_->driven_here) {
                const RolloutPhase before = rollout_->machine.phase();
                rollout_->machine.on_nack(record->id(), nack->error, now);
                after_rollout_step(before);
            }
        }
    } else if (auto* report = std::get_if<Report>(&message)) {
        fleet_.on_report(connection, std::move(*report), now);
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
    if (rollout_ && !rollout_->machine.finished()) {
        const RolloutPhase before = rollout_->machine.phase();
        if (snapshot->file_hash == rollout_->candidate->file_hash) {
            rollout_->machine.on_promoted(WallClock::now());  // the promotion (a store write) arrived
        } else {
            rollout_->machine.abort("superseded by version " + snapshot->version, WallClock::now());
        }
        current_ = std::move(snapshot);
        fleet_.set_current(current_->version, current_->content_hash, WallClock::now(), current_->revision);
        after_rollout_step(before);
        broadcast("config_change");
        return;
    }
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
    const SnapshotConstPtr& target = target_for(*record);
    if (target != current_) {
        // A canary: the candidate. Over its limit it nacks it, which halts the rollout.
        session.send(target);
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

const SnapshotConstPtr& ServerState::target_for(const RouterRecord& record) const {
    if (rollout_ && rollout_->machine.canaries_on_candidate() && rollout_->machine.is_canary(record.id())) {
        return rollout_->candidate;
    }
    return current_;
}

std::string ServerState::status_json() const {
    const auto now = WallClock::now();
    if (!rollout_) {
        nlohmann::ordered_json extra{{"stable_version", current_->version}, {"candidate_version", nullptr},
                                     {"rollout", nullptr}};
        return fleet_.status_json(now, {}, &extra);
    }
    const Rollout& machine = rollout_->machine;
    const RolloutPlan& plan = machine.plan();
    nlohmann::ordered_json steps = nlohmann::ordered_json::array();
    for (const RolloutStep& step : machine.steps()) {
        steps.push_back({{"at", util::format_rfc3339(step.at)}, {"what", step.what}});
    }
    const auto counts = [](const RolloutCounts& c) {
        return nlohmann::ordered_json{{"requests", c.requests}, {"errors", c.errors}, {"error_rate", c.error_rate()}};
    };
    nlohmann::ordered_json rollout{
        {"id", plan.id},
        {"phase", to_string(machine.phase())},
        {"stable_version", plan.stable_version},
        {"candidate_version", plan.candidate_version},
        {"canary", plan.canary.text},
        {"canaries", plan.canaries},
        {"acked", machine.acked()},
        {"soak_seconds", std::chrono::duration<double>(plan.soak).count()},
        {"ack_timeout_seconds", std::chrono::duration<double>(plan.ack_timeout).count()},
        {"error_margin", plan.error_margin},
        {"min_requests", plan.min_requests},
        {"started_by", plan.started_by},
        {"started_at", util::format_rfc3339(machine.started_at())},
        {"soak_ends_at", machine.soak_ends_at() ? nlohmann::ordered_json(util::format_rfc3339(*machine.soak_ends_at()))
                                                : nlohmann::ordered_json(nullptr)},
        {"canary_counts", counts(machine.canary_counts())},
        {"other_counts", counts(machine.other_counts())},
        {"halt_reason", machine.halt_reason().empty() ? nlohmann::ordered_json(nullptr)
                                                      : nlohmann::ordered_json(machine.halt_reason())},
        {"steps", std::move(steps)}};
    const bool running = !machine.finished();
    nlohmann::ordered_json extra{
        {"stable_version", current_->version},
        {"candidate_version", running ? nlohmann::ordered_json(plan.candidate_version) : nlohmann::ordered_json(nullptr)},
        {"rollout", std::move(rollout)}};
    const Fleet::Annotate annotate = [&](const RouterRecord& record, nlohmann::ordered_json& entry) {
        entry["canary"] = running && machine.is_canary(record.id());
        entry["target_version"] = target_for(record)->version;
    };
    return fleet_.status_json(now, annotate, &extra);
}

std::optional<std::string> ServerState::start_rollout(SnapshotConstPtr candidate, RolloutRequest request,
                                                      Promoter promote) {
    const auto now = WallClock::now();
    if (rollout_ && !rollout_->machine.finished()) {
        return "a rollout of " + rollout_->machine.plan().candidate_version + " is running (phase " +
               std::string(to_string(rollout_->machine.phase())) + "): wait for it, or abort it";
    }
    if (candidate->file_hash == current_->file_hash) {
        return std::string("the candidate is the config routers already serve: nothing to roll out");
    }
    std::vector<std::string> connected;
    for (const auto& [connection, record] : fleet_.records()) {
        if (record.hello && !record.node_id.empty()) {
            connected.push_back(record.node_id);
        }
    }
    const std::string id = candidate->version + "@" + util::format_rfc3339(now);
    RolloutPlan plan;
    plan.id = id;
    const bool chosen_by_caller = !request.canaries.empty();
    if (chosen_by_caller) {
        plan.canaries = std::move(request.canaries);
        std::sort(plan.canaries.begin(), plan.canaries.end());
        plan.canaries.erase(std::unique(plan.canaries.begin(), plan.canaries.end()), plan.canaries.end());
    } else {
        plan.canaries = choose_canaries(request.canary, connected, id);
    }
    if (plan.canaries.empty()) {
        return connected.empty() ? std::string("no router with a node id is connected to this control plane to be a canary")
                                 : "no connected router matches the canary pattern \"" + request.canary.text + "\"";
    }
    if (!chosen_by_caller && plan.canaries.size() == std::set<std::string>(connected.begin(), connected.end()).size() &&
        connected.size() > 1) {
        return "the canary set \"" + request.canary.text + "\" is every connected router (" +
               std::to_string(connected.size()) + "): apply without --staged instead";
    }
    plan.canary = std::move(request.canary);
    plan.stable_version = current_->version;
    plan.candidate_version = candidate->version;
    plan.soak = request.soak;
    plan.ack_timeout = request.ack_timeout;
    plan.error_margin = request.error_margin;
    plan.min_requests = request.min_requests;
    plan.started_by = std::move(request.started_by);
    rollout_.emplace(ActiveRollout{Rollout(std::move(plan), now), std::move(candidate), std::move(promote), {}});
    if (rollout_listener_) {
        rollout_listener_();
    }
    const Rollout& machine = rollout_->machine;
    observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "rollout_started")
                                                         .add("rollout", machine.plan().id)
                                                         .add("candidate_version", machine.plan().candidate_version)
                                                         .add("stable_version", machine.plan().stable_version)
                                                         .add("canaries", machine.plan().canaries.size())
                                                         .add("started_by", machine.plan().started_by)));
    send_to_canaries();
    return std::nullopt;
}

void ServerState::send_to_canaries() {
    if (!rollout_) {
        return;
    }
    std::vector<std::pair<std::uint64_t, std::shared_ptr<RouterSession>>> canaries;
    for (const auto& [connection, weak] : sessions_) {
        const RouterRecord* record = fleet_.find(connection);
        if (record != nullptr && rollout_->machine.is_canary(record->id())) {
            if (auto session = weak.lock()) {
                canaries.emplace_back(connection, std::move(session));
            }
        }
    }
    for (const auto& [connection, session] : canaries) {
        send_current(connection, *session);
    }
}

void ServerState::update_rollout_counts(WallClock::time_point now) {
    auto [canaries, others] = local_rollout_counts();
    for (const RolloutReport& report : rollout_->remote) {
        canaries.requests += report.canary_counts.requests;
        canaries.errors += report.canary_counts.errors;
        others.requests += report.other_counts.requests;
        others.errors += report.other_counts.errors;
    }
    rollout_->machine.on_counts(canaries, others, now);
}

std::pair<RolloutCounts, RolloutCounts> ServerState::local_rollout_counts() {
    ActiveRollout& active = *rollout_;
    const RolloutPlan& plan = active.machine.plan();
    const auto served = [](const RouterRecord& record, const std::string& version) -> RolloutCounts {
        for (const VersionReport& counts : record.counts) {
            if (counts.version == version) {
                return RolloutCounts{counts.requests, counts.errors};
            }
        }
        return {};
    };
    RolloutCounts canaries;
    RolloutCounts others;
    for (const auto& [connection, record] : fleet_.records()) {
        if (active.machine.is_canary(record.id())) {
            const RolloutCounts on_candidate = served(record, plan.candidate_version);
            canaries.requests += on_candidate.requests;
            canaries.errors += on_candidate.errors;
            continue;
        }
        const RolloutCounts on_stable = served(record, plan.stable_version);
        // Counts since the soak began: the first one seen since then is the baseline.
        const auto [it, first] = active.baselines.try_emplace(record.id(), on_stable);
        if (on_stable.requests >= it->second.requests && on_stable.errors >= it->second.errors) {
            others.requests += on_stable.requests - it->second.requests;
            others.errors += on_stable.errors - it->second.errors;
        } else {
            it->second = on_stable;  // the router restarted its counts (reconnected, reloaded)
        }
    }
    return {canaries, others};
}

void ServerState::set_remote_rollout_reports(std::vector<RolloutReport> reports) {
    if (rollout_ && rollout_->driven_here) {
        rollout_->remote = std::move(reports);
    }
}

void ServerState::follow_rollout(Rollout machine, SnapshotConstPtr candidate) {
    if (rollout_ && rollout_->driven_here && rollout_->machine.plan().id == machine.plan().id) {
        return;  // this replica drives it: the record is its own
    }
    const bool was_on_candidate = rollout_ && rollout_->machine.canaries_on_candidate();
    const bool same = rollout_ && rollout_->machine.plan().id == machine.plan().id;
    if (same) {
        const RolloutPhase before = rollout_->machine.phase();
        rollout_->machine = std::move(machine);
        count_rollout_end(before);
        if (rollout_->machine.phase() != before) {
            observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "rollout_step")
                                                                 .add("rollout", rollout_->machine.plan().id)
                                                                 .add("phase", to_string(rollout_->machine.phase()))
                                                                 .add("driver", "another replica")));
        }
    } else {
        if (rollout_ && !rollout_->machine.finished()) {
            // Another rollout took its place (two started at once): this one's canaries go back.
            rollout_->machine.abort("superseded by rollout " + machine.plan().id, WallClock::now());
            send_to_canaries();
        }
        rollout_.emplace(ActiveRollout{std::move(machine), std::move(candidate), nullptr, {}});
        rollout_->driven_here = false;
    }
    if (rollout_->machine.canaries_on_candidate() != was_on_candidate || !same) {
        send_to_canaries();
    }
}

void ServerState::halt_rollout(std::string_view reason) {
    if (!rollout_ || rollout_->machine.finished()) {
        return;
    }
    const RolloutPhase before = rollout_->machine.phase();
    rollout_->machine.abort(reason, WallClock::now());
    after_rollout_step(before, false);
}

RolloutReport ServerState::local_rollout_report(std::string replica) {
    RolloutReport report;
    report.replica = std::move(replica);
    if (!rollout_) {
        return report;
    }
    report.acked.assign(rollout_->local_acked.begin(), rollout_->local_acked.end());
    report.nacks.insert(rollout_->local_nacks.begin(), rollout_->local_nacks.end());
    if (rollout_->machine.phase() == RolloutPhase::soaking) {
        std::tie(report.canary_counts, report.other_counts) = local_rollout_counts();
    }
    return report;
}

void ServerState::tick_rollout() {
    if (!rollout_ || !rollout_->driven_here || rollout_->machine.finished() ||
        rollout_->machine.phase() == RolloutPhase::promoting) {
        return;
    }
    const auto now = WallClock::now();
    const RolloutPhase before = rollout_->machine.phase();
    // What the other replicas' canaries answered counts as if they were connected here.
    for (const RolloutReport& report : rollout_->remote) {
        for (const auto& id : report.acked) {
            rollout_->machine.on_ack(id, now);
        }
        for (const auto& [id, error] : report.nacks) {
            rollout_->machine.on_nack(id, error, now);
        }
    }
    if (before == RolloutPhase::soaking) {
        update_rollout_counts(now);
    }
    const bool promote = rollout_->machine.tick(now);
    after_rollout_step(before);
    if (promote) {
        // The promoter may publish() at once (a file), which ends the rollout: take what it needs first.
        SnapshotConstPtr candidate = rollout_->candidate;
        Promoter promoter = rollout_->promote;
        promoter(std::move(candidate));
    }
}

void ServerState::rollout_promotion_failed(std::string_view reason) {
    if (!rollout_) {
        return;
    }
    const RolloutPhase before = rollout_->machine.phase();
    rollout_->machine.on_promotion_failed(reason, WallClock::now());
    after_rollout_step(before);
}

std::optional<std::string> ServerState::abort_rollout(std::string_view who) {
    if (!rollout_ || rollout_->machine.finished()) {
        return std::string("no rollout is running");
    }
    if (rollout_->machine.phase() == RolloutPhase::promoting) {
        return std::string("the rollout is being promoted: too late to abort");
    }
    const RolloutPhase before = rollout_->machine.phase();
    rollout_->machine.abort("aborted by " + std::string(who), WallClock::now());
    after_rollout_step(before);
    return std::nullopt;
}

void ServerState::count_rollout_end(RolloutPhase before) {
    const RolloutPhase now = rollout_->machine.phase();
    if (now == before) {
        return;
    }
    rollouts_promoted_ += now == RolloutPhase::promoted ? 1 : 0;
    rollouts_halted_ += now == RolloutPhase::halted ? 1 : 0;
}

void ServerState::after_rollout_step(RolloutPhase before, bool tell_store) {
    const Rollout& machine = rollout_->machine;
    if (machine.phase() == before) {
        return;
    }
    count_rollout_end(before);
    if (tell_store && rollout_listener_) {
        rollout_listener_();
    }
    const Level level = machine.phase() == RolloutPhase::halted ? Level::warn : Level::info;
    observability::emit_event(level, std::move(observability::event_line(level, "rollout_step")
                                                   .add("rollout", machine.plan().id)
                                                   .add("phase", to_string(machine.phase()))
                                                   .add("what", machine.steps().back().what)));
    if (machine.phase() == RolloutPhase::halted) {
        send_to_canaries();  // the current config, now that they are no longer on the candidate
    }
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
