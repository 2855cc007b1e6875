#include "cell/controlplane/etcd_source.hpp"

#include <csignal>
#include <optional>
#include <random>

#include <boost/asio/signal_set.hpp>

#include "cell/config/load.hpp"
#include "cell/controlplane/backoff.hpp"
#include "cell/controlplane/off_loop.hpp"
#include "cell/controlplane/server_state.hpp"
#include "cell/observability/log.hpp"
#include "cell/reload/table_loader.hpp"
#include "cell/util/host_name.hpp"
#include "cell/util/sha256.hpp"

namespace cell::controlplane {
namespace {

using observability::Level;

// A watch silent this long is opened again from the same revision: it may be half-open.
constexpr std::chrono::seconds watch_idle_timeout{60};
constexpr std::chrono::milliseconds retry_initial{250};
constexpr std::chrono::milliseconds retry_max{5000};

std::vector<EtcdEndpoint> endpoints_of(const ControlPlaneOptions& options) {
    std::vector<EtcdEndpoint> endpoints;
    for (const auto& url : options.etcd_endpoints) {
        if (auto endpoint = parse_etcd_endpoint(url)) {  // validated with the flags already
            endpoints.push_back(std::move(*endpoint));
        }
    }
    return endpoints;
}

std::string source_label(const ControlPlaneOptions& options) { return "etcd:" + options.etcd_prefix + "config"; }

// The startup read, as a coroutine on a loop of its own.
awaitable<std::variant<EtcdStartup, std::string>> startup_read(EtcdConfigStore& store,
                                                               const ControlPlaneOptions& options, bool& stopping) {
    Backoff backoff(retry_initial, retry_max, std::random_device{}());
    steady_timer pause(co_await net::this_coro::executor);
    std::string last_error;
    while (!stopping) {
        auto current = co_await store.read_current();
        if (auto* failure = std::get_if<EtcdFailure>(&current)) {
            if (failure->message != last_error) {
                observability::emit_event(Level::warn, std::move(observability::event_line(Level::warn, "store_unavailable")
                                                                     .add("store", "etcd")
                                                                     .add("detail", failure->message)
                                                                     .add("action", "retrying; not listening until the config is read")));
                last_error = failure->message;
            }
            pause.expires_after(backoff.next_delay());
            co_await pause.async_wait();
            continue;
        }
        auto& stored = std::get<std::optional<StoredConfig>>(current);
        if (!stored) {
            // An empty store: the config file becomes its first version. Two replicas starting
            // together both try; the compare-and-swap lets one win and the other reads it.
            auto text = reload::read_file(options.config_path);
            if (auto* failure = std::get_if<reload::LoadFailure>(&text)) {
                co_return "etcd has no config under " + options.etcd_prefix + " and " + options.config_path +
                    " cannot seed it: " + failure->reason;
            }
            const auto& contents = std::get<std::string>(text);
            auto checked = build_snapshot(contents, options, 1, 0);
            if (auto* reason = std::get_if<std::string>(&checked)) {
                co_return "etcd has no config under " + options.etcd_prefix + " and " + options.config_path +
                    " cannot seed it: " + *reason;
            }
            VersionRecord record;
            record.version = std::get<SnapshotConstPtr>(checked)->version;
            if (const auto loaded = config::load_config(contents); loaded.ok()) {
                record.routing_keys = loaded.config->routing_table.size();
            }
            record.applied_by = "cell-control-plane@" + util::host_name();
            record.reason = "seeded from " + options.config_path;
            auto written = co_await store.write(contents, 0, record);
            if (auto* failure = std::get_if<EtcdFailure>(&written)) {
                last_error = failure->message;
                observability::log_event(Level::warn, "store_seed_failed", failure->message);
                pause.expires_after(backoff.next_delay());
                co_await pause.async_wait();
                continue;
            }
            if (std::get<WriteOutcome>(written).applied) {
                observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "store_seeded")
                                                                     .add("store", "etcd")
                                                                     .add("path", options.config_path)
                                                                     .add("revision", std::get<WriteOutcome>(written).revision)));
            }
            continue;  // read what is there now, ours or the other replica's
        }
        auto checked = build_snapshot(stored->text, options, 1, stored->record.revision);
        if (auto* reason = std::get_if<std::string>(&checked)) {
            co_return "the config in etcd at revision " + std::to_string(stored->record.revision) +
                " is not valid: " + *reason + " (apply a valid one with cellctl from a control plane that runs)";
        }
        // Watch from the manifest's own revision: a change written since is seen by the watch.
        co_return EtcdStartup{std::get<SnapshotConstPtr>(std::move(checked)), stored->record.revision};
    }
    co_return std::string("stopped by a signal before the config was read");
}

}  // namespace

std::variant<SnapshotConstPtr, std::string> build_snapshot(const std::string& text, const ControlPlaneOptions& options,
                                                           std::uint64_t generation, std::uint64_t revision,
                                                           const Snapshot* previous) {
    const std::string hash = util::sha256_hex(text);
    auto built = reload::build_table(text, hash, source_label(options), config::ProxySettingsOverrides{});
    if (auto* failure = std::get_if<reload::LoadFailure>(&built)) {
        return failure->reason;
    }
    const auto& loaded = std::get<reload::LoadedTable>(built);
    auto snapshot = make_snapshot(text, loaded.table->version(), hash, generation, revision, loaded.table, previous);
    if (!snapshot) {
        return std::string("not a JSON object");
    }
    if (snapshot->frame.size() > options.max_snapshot_bytes) {
        return "the snapshot frame of " + std::to_string(snapshot->frame.size()) +
               " bytes exceeds this control plane's --max-snapshot-bytes " + std::to_string(options.max_snapshot_bytes);
    }
    return snapshot;
}

std::variant<EtcdStartup, std::string> read_startup_config(const ControlPlaneOptions& options) {
    net::io_context loop{1};
    EtcdClient client(loop_executor(loop), endpoints_of(options), options.etcd_timeout);
    EtcdConfigStore store(client, options.etcd_prefix, options.etcd_history, options.etcd_chunk_encoding);
    bool stopping = false;
    net::signal_set signals(loop, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (!ec) {
            stopping = true;
            loop.stop();
        }
    });
    std::optional<std::variant<EtcdStartup, std::string>> outcome;
    net::co_spawn(loop_executor(loop), startup_read(store, options, stopping),
                  [&](std::exception_ptr error, std::variant<EtcdStartup, std::string> result) {
                      if (error) {
                          outcome = std::string("unexpected error while reading etcd");
                      } else {
                          outcome = std::move(result);
                      }
                      signals.cancel();
                  });
    loop.run();
    if (!outcome) {
        return std::string("stopped by a signal before the config was read");
    }
    return std::move(*outcome);
}

EtcdFollower::EtcdFollower(net::io_context& loop, ServerState& state, net::thread_pool& config_work,
                           const ControlPlaneOptions& options, std::uint64_t store_revision)
    : state_(state),
      config_work_(config_work),
      options_(options),
      client_(loop_executor(loop), endpoints_of(options), options.etcd_timeout),
      store_(client_, options.etcd_prefix, options.etcd_history, options.etcd_chunk_encoding, &store_work_),
      seen_revision_(store_revision),
      published_revision_(store_revision),
      pause_(loop_executor(loop)),
      compact_pause_(loop_executor(loop)),
      own_writes_(std::make_shared<OwnWrite::Writes>(loop_executor(loop))) {}

struct EtcdFollower::OwnWrite::Writes {
    explicit Writes(io_executor executor) : ended(executor) {}
    std::multiset<std::string> content_hashes;
    steady_timer ended;  // cancelled whenever a write ends
};

void EtcdFollower::OwnWrite::end() {
    if (auto writes = writes_.lock()) {
        if (const auto found = writes->content_hashes.find(content_hash_); found != writes->content_hashes.end()) {
            writes->content_hashes.erase(found);
        }
        writes->ended.cancel();
    }
    writes_.reset();
}

EtcdFollower::OwnWrite EtcdFollower::writing(std::string content_hash) {
    own_writes_->content_hashes.insert(content_hash);
    return OwnWrite(own_writes_, std::move(content_hash));
}

void EtcdFollower::stop() {
    stopping_ = true;
    pause_.cancel();
    compact_pause_.cancel();
    own_writes_->ended.cancel();
}

void EtcdFollower::note_available() {
    if (available_) {
        return;
    }
    available_ = true;
    state_.set_store_state("ok", "");
    observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "store_available")
                                                         .add("store", "etcd")
                                                         .add("endpoint", client_.current_endpoint())
                                                         .add("revision", seen_revision_)));
}

void EtcdFollower::note_unavailable(const std::string& error) {
    state_.set_store_state("unavailable", error);
    if (!available_) {
        return;
    }
    available_ = false;
    observability::emit_event(Level::warn, std::move(observability::event_line(Level::warn, "store_unavailable")
                                                         .add("store", "etcd")
                                                         .add("detail", error)
                                                         .add("serving_version", state_.current()->version)
                                                         .add("serving_revision", state_.current()->revision)));
}

void EtcdFollower::publish(SnapshotConstPtr snapshot, const VersionRecord& record, bool written_here) {
    observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "config_loaded")
                                                         .add("source", source_label(options_))
                                                         .add("version", snapshot->version)
                                                         .add("revision", snapshot->revision)
                                                         .add("applied_by", record.applied_by)
                                                         .add("reason", record.reason)
                                                         .add("bytes", snapshot->frame.size())
                                                         .add("written_here", written_here)));
    state_.publish(std::move(snapshot));
}

void EtcdFollower::publish_written(SnapshotConstPtr snapshot, const VersionRecord& record) {
    if (record.revision <= published_revision_) {
        return;
    }
    published_revision_ = record.revision;
    publish(std::move(snapshot), record, true);
}

awaitable<bool> EtcdFollower::take(VersionRecord record) {
    // Written by this replica: wait for its writer, which publishes it (or fails to, and then it
    // is read back below like any other version).
    while (!stopping_ && own_writes_->content_hashes.contains(record.content_hash)) {
        own_writes_->ended.expires_at(steady_timer::time_point::max());
        [[maybe_unused]] auto [ec] = co_await own_writes_->ended.async_wait();
    }
    if (stopping_ || record.revision <= published_revision_) {
        co_return true;  // this replica already serves it (or something newer)
    }
    observability::emit_event(Level::debug, std::move(observability::event_line(Level::debug, "store_version_read")
                                                          .add("revision", record.revision)
                                                          .add("content_hash", record.content_hash)));
    auto text = co_await store_.read_text(record);
    if (auto* failure = std::get_if<EtcdFailure>(&text)) {
        note_unavailable(failure->message);
        co_return false;
    }
    const std::uint64_t generation = state_.current()->generation + 1;
    auto job = [text = std::move(std::get<std::string>(text)), this, generation, revision = record.revision,
                previous = state_.current()] { return build_snapshot(text, options_, generation, revision, previous.get()); };
    auto checked = co_await run_off_loop<std::variant<SnapshotConstPtr, std::string>>(config_work_, std::move(job));
    // This replica may have written that revision itself meanwhile and published it: publishing
    // it again would send every router the same config a second time.
    if (stopping_ || record.revision <= published_revision_) {
        co_return true;
    }
    published_revision_ = record.revision;
    if (auto* reason = std::get_if<std::string>(&checked)) {
        // Written past the control plane's validation (etcdctl by hand): keep the last good one.
        state_.count_store_rejection();
        observability::emit_event(Level::err, std::move(observability::event_line(Level::err, "config_rejected")
                                                            .add("source", source_label(options_))
                                                            .add("revision", record.revision)
                                                            .add("reason", *reason)
                                                            .add("serving_version", state_.current()->version)));
        co_return true;
    }
    auto snapshot = std::get<SnapshotConstPtr>(std::move(checked));
    publish(std::move(snapshot), record, false);
    co_return true;
}

awaitable<void> EtcdFollower::compact_periodically() {
    // etcd keeps every superseded value until it is compacted, and each version of a large
    // table is tens of megabytes: without compaction its database reaches the space quota
    // (2 GiB by default) and etcd refuses writes. Compacting to the revision seen one interval
    // ago leaves a watch that lagged less than that able to resume; one that lagged more is told
    // "compacted" and takes the current version instead (run()).
    if (options_.etcd_compact_interval.count() <= 0) {
        co_return;
    }
    std::uint64_t seen_before = 0;
    while (!stopping_) {
        compact_pause_.expires_after(options_.etcd_compact_interval);
        [[maybe_unused]] auto [ec] = co_await compact_pause_.async_wait();
        if (stopping_) {
            co_return;
        }
        auto now = co_await client_.range(store_.config_key(), {}, 1, false, true);
        if (auto* failure = std::get_if<EtcdFailure>(&now)) {
            continue;  // the watch reports an unavailable store
        }
        if (seen_before != 0) {
            if (auto failure = co_await client_.compact(seen_before)) {
                observability::emit_event(Level::warn, std::move(observability::event_line(Level::warn, "store_compaction_failed")
                                                                     .add("revision", seen_before)
                                                                     .add("detail", failure->message)));
            } else {
                observability::emit_event(Level::debug, std::move(observability::event_line(Level::debug, "store_compacted")
                                                                      .add("revision", seen_before)));
            }
        }
        seen_before = std::get<EtcdRange>(now).revision;
    }
}

awaitable<void> EtcdFollower::run() {
    using Kind = EtcdWatchResult::Kind;
    Backoff backoff(retry_initial, retry_max, std::random_device{}());
    while (!stopping_) {
        bool failed = false;
        if (!available_) {
            // Back from an outage: say so at once (a watch may stay quiet for long), and take a
            // version written meanwhile if the watch below would not see it.
            auto manifest = co_await store_.read_manifest();
            if (stopping_) {
                co_return;
            }
            if (auto* failure = std::get_if<EtcdFailure>(&manifest)) {
                note_unavailable(failure->message);
                pause_.expires_after(backoff.next_delay());
                co_await pause_.async_wait();
                continue;
            }
            note_available();
            if (auto& record = std::get<std::optional<VersionRecord>>(manifest); record && record->revision > seen_revision_) {
                seen_revision_ = record->revision;
                if (!co_await take(std::move(*record))) {
                    pause_.expires_after(backoff.next_delay());
                    co_await pause_.async_wait();
                    continue;
                }
            }
        }
        auto change = co_await store_.wait_for_change(seen_revision_, watch_idle_timeout);
        if (stopping_) {
            co_return;
        }
        switch (change.kind) {
            case Kind::idle:
                break;
            case Kind::failed:
                // A watch that broke (its member died) is opened again at once on the next
                // member; only a second failure in a row says the store is unavailable.
                if (!retrying_) {
                    retrying_ = true;
                    continue;
                }
                note_unavailable(change.error);
                failed = true;
                break;
            case Kind::compacted: {
                // The revisions after ours are gone: take the current version instead (its
                // manifest first: the text only when it is not the one served already).
                auto current = co_await store_.read_manifest();
                if (auto* failure = std::get_if<EtcdFailure>(&current)) {
                    note_unavailable(failure->message);
                    failed = true;
                    break;
                }
                note_available();
                observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "store_watch_compacted")
                                                                     .add("seen_revision", seen_revision_)
                                                                     .add("compact_revision", change.revision)));
                seen_revision_ = std::max(seen_revision_, change.revision);
                if (auto& record = std::get<std::optional<VersionRecord>>(current)) {
                    seen_revision_ = std::max(seen_revision_, record->revision);
                    failed = !co_await take(*record);
                }
                break;
            }
            case Kind::changed: {
                note_available();
                if (change.puts.empty()) {
                    // The manifest was deleted by hand: nothing to serve instead, keep the current.
                    observability::log_event(Level::warn, "store_config_deleted",
                                             "the manifest key was deleted; the current config stays");
                    seen_revision_ = std::max(seen_revision_, change.revision);
                    break;
                }
                const EtcdKeyValue& newest = change.puts.back();
                seen_revision_ = std::max(seen_revision_, newest.mod_revision);
                auto record = version_record_from(newest.value);
                if (!record) {
                    state_.count_store_rejection();
                    observability::log_event(Level::err, "config_rejected",
                                             "the manifest in etcd is not one cell-control-plane wrote");
                    break;
                }
                record->revision = newest.mod_revision;
                failed = !co_await take(std::move(*record));
                break;
            }
        }
        if (failed) {
            pause_.expires_after(backoff.next_delay());
            co_await pause_.async_wait();
        } else {
            backoff.reset();
            retrying_ = false;
        }
    }
}

}  // namespace cell::controlplane
