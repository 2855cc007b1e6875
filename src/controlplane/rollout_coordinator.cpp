#include "cell/controlplane/rollout_coordinator.hpp"

#include <nlohmann/json.hpp>

#include "cell/controlplane/etcd_source.hpp"
#include "cell/controlplane/off_loop.hpp"
#include "cell/observability/log.hpp"
#include "cell/util/base64.hpp"

namespace cell::controlplane {
namespace {

using json = nlohmann::json;
using observability::Level;

constexpr std::chrono::milliseconds tick_interval{250};
constexpr std::chrono::milliseconds report_interval{500};
constexpr std::chrono::milliseconds watch_idle_timeout{5000};

bool running(RolloutPhase phase) { return phase != RolloutPhase::promoted && phase != RolloutPhase::halted; }

}  // namespace

RolloutCoordinator::RolloutCoordinator(net::io_context& loop, ServerState& state, net::thread_pool& config_work,
                                       const ControlPlaneOptions& options, EtcdConfigStore& store, std::string replica)
    : state_(state),
      config_work_(config_work),
      options_(options),
      store_(store),
      replica_(std::move(replica)),
      tick_(loop_executor(loop)) {
    state_.set_rollout_listener([this] { dirty_ = true; });
}

void RolloutCoordinator::stop() {
    stopping_ = true;
    tick_.cancel();
}

void RolloutCoordinator::started_here(std::uint64_t stable_revision, VersionRecord candidate) {
    driven_id_ = state_.rollout()->plan().id;
    stable_revision_ = stable_revision;
    candidate_ = std::move(candidate);
    dirty_ = true;
}

RolloutRecord RolloutCoordinator::driven_record() const {
    const Rollout& rollout = *state_.rollout();
    return RolloutRecord{rollout.plan(), rollout.state(), replica_, stable_revision_, candidate_, WallClock::now()};
}

void RolloutCoordinator::note_store_error(const std::string& error) {
    observability::emit_event(Level::warn, std::move(observability::event_line(Level::warn, "rollout_store_failed")
                                                         .add("store", "etcd")
                                                         .add("detail", error)));
}

awaitable<bool> RolloutCoordinator::write(const RolloutRecord& record) {
    const std::string key = store_.rollout_key();
    const json compare =
        record_mod_revision_ == 0
            ? json{{"key", util::base64_encode(key)}, {"target", "CREATE"}, {"result", "EQUAL"}, {"create_revision", "0"}}
            : json{{"key", util::base64_encode(key)}, {"target", "MOD"}, {"result", "EQUAL"},
                   {"mod_revision", std::to_string(record_mod_revision_)}};
    const std::string text = encode_rollout_record(record);
    const json request{
        {"compare", json::array({compare})},
        {"success", json::array({json{{"request_put", {{"key", util::base64_encode(key)},
                                                        {"value", util::base64_encode(text)}}}}})}};
    auto result = co_await store_.client().txn(request);
    if (auto* failure = std::get_if<EtcdFailure>(&result)) {
        note_store_error(failure->message);
        co_return false;
    }
    const auto& txn = std::get<EtcdTxnResult>(result);
    if (txn.succeeded) {
        record_mod_revision_ = txn.revision;
        stored_ = record;
        co_return true;
    }
    // Someone else wrote it meanwhile: take theirs (a halt from another replica, another rollout).
    auto current = co_await store_.client().range(key);
    if (auto* found = std::get_if<EtcdRange>(&current); found != nullptr && !found->kvs.empty()) {
        co_await take(found->kvs.front());
    }
    co_return false;
}

awaitable<void> RolloutCoordinator::take(const EtcdKeyValue& stored) {
    auto record = decode_rollout_record(stored.value);
    if (!record) {
        observability::log_event(Level::warn, "rollout_record_ignored", "not a rollout record this code wrote");
        co_return;
    }
    record_mod_revision_ = stored.mod_revision;
    stored_ = record;
    const Rollout* local = state_.rollout();
    if (record->driver == replica_) {
        if (local != nullptr && state_.rollout_driven_here() && local->plan().id == record->plan.id) {
            if (record->state.phase == RolloutPhase::halted && !local->finished()) {
                state_.halt_rollout(record->state.halt_reason);  // aborted on another replica
            }
            co_return;
        }
        if (running(record->state.phase)) {
            // This replica drove it before it restarted: nobody watches it now.
            Rollout orphan(record->plan, record->state);
            orphan.abort("the control plane driving it (" + replica_ + ") restarted", WallClock::now());
            RolloutRecord halted = *record;
            halted.state = orphan.state();
            co_await write(halted);
        }
        co_return;
    }
    if (followed_id_ != record->plan.id) {
        SnapshotConstPtr candidate = state_.current();  // a finished rollout needs none
        if (running(record->state.phase)) {
            auto text = co_await store_.read_text(record->candidate);
            if (auto* failure = std::get_if<EtcdFailure>(&text)) {
                note_store_error(failure->message);
                co_return;  // the next change or the heartbeat brings it again
            }
            auto job = [text = std::move(std::get<std::string>(text)), this,
                        generation = state_.current()->generation + 1, previous = state_.current()] {
                return build_snapshot(text, options_, generation, 0, previous.get());
            };
            auto built = co_await run_off_loop<std::variant<SnapshotConstPtr, std::string>>(config_work_, std::move(job));
            if (auto* reason = std::get_if<std::string>(&built)) {
                observability::emit_event(Level::err, std::move(observability::event_line(Level::err, "rollout_candidate_rejected")
                                                                    .add("rollout", record->plan.id)
                                                                    .add("reason", *reason)));
                co_return;
            }
            candidate = std::get<SnapshotConstPtr>(std::move(built));
        }
        followed_id_ = record->plan.id;
        followed_candidate_ = std::move(candidate);
    }
    state_.follow_rollout(Rollout(record->plan, record->state), followed_candidate_);
}

awaitable<void> RolloutCoordinator::follow() {
    using Kind = EtcdWatchResult::Kind;
    const std::string key = store_.rollout_key();
    bool fresh = true;  // read the record whole (at start, after a compaction or a failure)
    while (!stopping_) {
        if (fresh) {
            auto current = co_await store_.client().range(key);
            if (stopping_) {
                co_return;
            }
            if (auto* failure = std::get_if<EtcdFailure>(&current)) {
                note_store_error(failure->message);
                steady_timer pause(co_await net::this_coro::executor, std::chrono::seconds(1));
                co_await pause.async_wait();
                continue;
            }
            const auto& found = std::get<EtcdRange>(current);
            seen_revision_ = found.revision;
            if (!found.kvs.empty()) {
                co_await take(found.kvs.front());
            }
            fresh = false;
        }
        auto change = co_await store_.client().wait_for_change(key, {}, seen_revision_ + 1, watch_idle_timeout);
        if (stopping_) {
            co_return;
        }
        switch (change.kind) {
            case Kind::changed:
                seen_revision_ = change.revision;
                for (const auto& put : change.puts) {
                    co_await take(put);
                }
                break;
            case Kind::idle:
                break;
            case Kind::compacted:
            case Kind::failed:
                fresh = true;
                break;
        }
    }
}

awaitable<void> RolloutCoordinator::read_reports() {
    const std::string prefix = store_.rollout_reports_prefix(driven_id_);
    auto found = co_await store_.client().range(prefix, EtcdClient::prefix_end(prefix));
    if (auto* failure = std::get_if<EtcdFailure>(&found)) {
        note_store_error(failure->message);
        co_return;
    }
    std::vector<RolloutReport> reports;
    for (const auto& entry : std::get<EtcdRange>(found).kvs) {
        if (auto report = decode_rollout_report(entry.value); report && report->replica != replica_) {
            reports.push_back(std::move(*report));
        }
    }
    state_.set_remote_rollout_reports(std::move(reports));
}

awaitable<void> RolloutCoordinator::drive_once() {
    const Rollout* rollout = state_.rollout();
    if (rollout == nullptr) {
        co_return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (state_.rollout_driven_here()) {
        if (rollout->plan().id != driven_id_) {
            co_return;
        }
        const bool live = !rollout->finished();
        if (dirty_ || (live && now - last_write_ >= heartbeat_interval)) {
            dirty_ = false;
            last_write_ = now;
            if (!co_await write(driven_record())) {
                dirty_ = true;  // again at the next tick, over what is stored now
            } else if (!live) {
                const std::string prefix = store_.rollout_reports_prefix(driven_id_);
                co_await store_.client().delete_range(prefix, EtcdClient::prefix_end(prefix));
            }
        }
        if (live && now - last_report_ >= report_interval) {
            last_report_ = now;
            co_await read_reports();
        }
        co_return;
    }
    if (!stored_ || stored_->plan.id != rollout->plan().id) {
        co_return;
    }
    if (dirty_) {
        dirty_ = false;
        if (rollout->phase() == RolloutPhase::halted && running(stored_->state.phase)) {
            RolloutRecord halted = *stored_;  // halted here: an abort, or a driver that stopped
            halted.state = rollout->state();
            co_await write(halted);
        }
    }
    if (rollout->finished()) {
        co_return;
    }
    if (now - last_report_ >= report_interval) {
        last_report_ = now;
        const std::string key = store_.rollout_reports_prefix(rollout->plan().id) + replica_;
        auto put = co_await store_.client().put(key, encode_rollout_report(state_.local_rollout_report(replica_)));
        if (auto* failure = std::get_if<EtcdFailure>(&put)) {
            note_store_error(failure->message);
        }
    }
    if (WallClock::now() - stored_->heartbeat > abandoned_after) {
        state_.halt_rollout("the control plane driving it (" + stored_->driver + ") stopped: no heartbeat for " +
                            std::to_string(abandoned_after.count() / 1000) + " s");
        dirty_ = true;
    }
}

awaitable<void> RolloutCoordinator::drive() {
    while (!stopping_) {
        tick_.expires_after(tick_interval);
        co_await tick_.async_wait();
        if (stopping_) {
            co_return;
        }
        co_await drive_once();
    }
}

}  // namespace cell::controlplane
