#include "cell/controlplane/server.hpp"

#include <csignal>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include "cell/config/duration.hpp"
#include "cell/controlplane/etcd_source.hpp"
#include "cell/controlplane/protocol.hpp"
#include "cell/controlplane/rollout_coordinator.hpp"
#include "cell/controlplane/server_http.hpp"
#include "cell/controlplane/server_state.hpp"
#include "cell/observability/log.hpp"
#include "cell/transport/accept.hpp"
#include "cell/util/host_name.hpp"
#include "cell/util/listen_error.hpp"
#include "cell/reload/file_poller.hpp"
#include "cell/reload/table_loader.hpp"
#include "cell/util/sha256.hpp"

namespace cell::controlplane {

// Routers take from the control plane what they would take from a file.
static_assert(default_max_snapshot_bytes == reload::max_config_file_bytes);

namespace {

using observability::Level;

// How long routers get to answer the close frame on SIGTERM before the process exits anyway.
constexpr std::chrono::milliseconds shutdown_grace{2000};

// Why a config cannot be published: its snapshot frame is over --max-snapshot-bytes, so the
// routers (which default to the same limit) would refuse it. nullopt when it fits.
std::optional<std::string> oversized_frame_reason(const std::string& text, std::uint64_t limit) {
    // The frame is the file plus the "type" field; only a file that is close to the limit
    // needs the exact size.
    constexpr std::uint64_t type_field_bytes = 32;
    if (text.size() + type_field_bytes <= limit) {
        return std::nullopt;
    }
    const std::uint64_t frame_bytes = encode_snapshot(text).size();
    if (frame_bytes <= limit) {
        return std::nullopt;
    }
    return "the snapshot frame of " + std::to_string(frame_bytes) +
           " bytes exceeds this control plane's --max-snapshot-bytes " + std::to_string(limit);
}

// A new version of the watched file: to every router, or with --rollout-canary staged (a newer
// version supersedes a rollout still running). When no rollout can start (no router to be a
// canary, or every router would be one) it goes to every router at once.
void deliver_file_change(ServerState& state, const ControlPlaneOptions& options, SnapshotConstPtr snapshot) {
    if (!options.rollout_canary) {
        state.publish(std::move(snapshot));
        return;
    }
    if (state.rollout() != nullptr && !state.rollout()->finished()) {
        state.abort_rollout("a newer version of the config file (" + snapshot->version + ")");
    }
    ServerState::RolloutRequest request{*options.rollout_canary, options.rollout_soak, options.rollout_ack_timeout,
                                        options.rollout_error_margin, options.rollout_min_requests, "config file", {}};
    const auto refused =
        state.start_rollout(snapshot, std::move(request), [&state](SnapshotConstPtr candidate) { state.publish(std::move(candidate)); });
    if (refused) {
        observability::emit_event(Level::warn, std::move(observability::event_line(Level::warn, "rollout_skipped")
                                                             .add("version", snapshot->version)
                                                             .add("reason", *refused)));
        state.publish(std::move(snapshot));
    }
}

// The file poller's sink. Runs on the poller thread: encodes and hashes the frame there (a big
// config costs the event loop nothing), then posts the snapshot to the loop for broadcast.
class BroadcastSink final : public reload::ConfigSink {
public:
    BroadcastSink(net::io_context& loop, ServerState& state, const ControlPlaneOptions& options, SnapshotConstPtr initial,
                  std::uint64_t max_snapshot_bytes)
        : loop_(loop),
          state_(state),
          options_(options),
          max_snapshot_bytes_(max_snapshot_bytes),
          version_(initial->version),
          content_hash_(initial->content_hash),
          generation_(initial->generation),
          previous_(std::move(initial)) {}

    std::string serving_version() const override {
        std::lock_guard lock(mutex_);
        return version_;
    }

    std::optional<std::string> refusal(const std::string& text) const override {
        return oversized_frame_reason(text, max_snapshot_bytes_);
    }

    std::uint64_t apply(const reload::LoadedTable& loaded, const std::string& text) override {
        std::lock_guard lock(mutex_);
        auto snapshot = make_snapshot(text, loaded.table->version(), loaded.content_hash, generation_ + 1, 0, loaded.table,
                                      previous_.get());
        if (!snapshot) {
            observability::log_event(Level::err, "internal_error", "a validated config did not encode as a snapshot");
            return 0;
        }
        if (snapshot->version == version_ && snapshot->content_hash != content_hash_) {
            // Routers that ack without a content hash cannot tell the two apart.
            observability::emit_event(Level::warn, std::move(observability::event_line(Level::warn, "config_version_unchanged")
                                                                 .add("version", snapshot->version)
                                                                 .add("snapshot_hash", snapshot->content_hash)
                                                                 .add("reason", "the content changed but the version did not")));
        }
        version_ = snapshot->version;
        content_hash_ = snapshot->content_hash;
        generation_ = snapshot->generation;
        previous_ = snapshot;
        net::post(loop_, [state = &state_, options = &options_, snapshot = std::move(snapshot)] {
            deliver_file_change(*state, *options, snapshot);
        });
        return generation_;
    }

private:
    net::io_context& loop_;
    ServerState& state_;
    const ControlPlaneOptions& options_;
    const std::uint64_t max_snapshot_bytes_;
    mutable std::mutex mutex_;  // the poller thread writes, log lines read serving_version()
    std::string version_;
    std::string content_hash_;
    std::uint64_t generation_;
    SnapshotConstPtr previous_;  // the last one published: the base of the next delta
};

class ControlPlaneApp {
public:
    // `store_revision`: in etcd mode, the store's revision the initial snapshot was read at.
    ControlPlaneApp(const ControlPlaneOptions& options, SnapshotConstPtr initial, std::uint64_t store_revision = 0)
        : options_(options),
          state_(initial),
          sink_(loop_, state_, options, initial, options.max_snapshot_bytes),
          store_revision_(store_revision) {}

    int run();

private:
    void listen(const tcp::endpoint& endpoint);
    void handle_signals();
    void shutdown();
    awaitable<void> resend_loop();
    awaitable<void> rollout_loop();
    awaitable<void> drain();

    const ControlPlaneOptions& options_;
    // NOTE: declared before the loop, so it is destroyed after it: session coroutines still
    // suspended in the loop point at it until the loop's destructor frees them.
    ServerState state_;
    net::io_context loop_{1};
    BroadcastSink sink_;
    std::optional<tcp_acceptor> acceptor_;
    std::optional<net::signal_set> signals_;
    std::optional<steady_timer> resend_timer_;
    std::optional<steady_timer> rollout_timer_;
    std::unique_ptr<reload::FilePoller> poller_;
    std::uint64_t store_revision_;
    // NOTE: declared after the loop, so it is joined (its finished jobs posted) before the loop
    // is destroyed.
    net::thread_pool config_work_{1};
    // A write's table is built here while config_work_ finishes its diff and delta keys.
    net::thread_pool table_work_{1};
    std::unique_ptr<EtcdFollower> follower_;
    std::unique_ptr<RolloutCoordinator> rollouts_;
    std::optional<ConfigApi> config_api_;
    bool shutting_down_ = false;
};

void ControlPlaneApp::listen(const tcp::endpoint& endpoint) {
    acceptor_.emplace(executor_type(loop_executor(loop_)));
    acceptor_->open(endpoint.protocol());
    acceptor_->set_option(net::socket_base::reuse_address(true));
    acceptor_->bind(endpoint);
    acceptor_->listen(net::socket_base::max_listen_connections);
    const auto bound = acceptor_->local_endpoint();
    observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "listening")
                                                         .add("listener", "control_plane")
                                                         .add("address", bound.address().to_string())
                                                         .add("port", static_cast<unsigned>(bound.port()))));
}

awaitable<void> ControlPlaneApp::resend_loop() {
    for (;;) {
        resend_timer_->expires_after(options_.resend_interval);
        auto [ec] = co_await resend_timer_->async_wait();
        if (ec || shutting_down_) {
            co_return;
        }
        state_.resend();
    }
}

// A staged rollout's soak, deadlines and error rates are checked this often.
awaitable<void> ControlPlaneApp::rollout_loop() {
    for (;;) {
        rollout_timer_->expires_after(std::chrono::milliseconds(200));
        auto [ec] = co_await rollout_timer_->async_wait();
        if (ec || shutting_down_) {
            co_return;
        }
        state_.tick_rollout();
    }
}

// Waits until every router has answered the close frame, or the grace period is over.
awaitable<void> ControlPlaneApp::drain() {
    const auto executor = co_await net::this_coro::executor;
    const auto give_up_at = std::chrono::steady_clock::now() + shutdown_grace;
    steady_timer tick(executor);
    while (state_.sessions() > 0 && std::chrono::steady_clock::now() < give_up_at) {
        tick.expires_after(std::chrono::milliseconds(20));
        co_await tick.async_wait();
    }
}

void ControlPlaneApp::handle_signals() {
    signals_->async_wait([this](const boost::system::error_code& ec, int signal) {
        if (ec) {
            return;
        }
        if (signal == SIGHUP) {
            // Handlers run inside loop_.run(), after the poller has started. With etcd the
            // watch already delivers every change.
            if (poller_) {
                poller_->trigger();
            }
            handle_signals();
            return;
        }
        observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "shutdown")
                                                             .add("signal", signal)
                                                             .add("routers_connected", state_.sessions())));
        shutdown();
    });
}

void ControlPlaneApp::shutdown() {
    if (shutting_down_) {
        return;
    }
    shutting_down_ = true;
    boost::system::error_code ignored;
    acceptor_->close(ignored);
    resend_timer_->cancel();
    rollout_timer_->cancel();
    if (follower_) {
        follower_->stop();
    }
    if (rollouts_) {
        rollouts_->stop();
    }
    state_.shutdown();
    net::co_spawn(loop_executor(loop_), drain(), [this](std::exception_ptr) {
        signals_->cancel();
        loop_.stop();
    });
}

int ControlPlaneApp::run() {
    boost::system::error_code ec;
    const auto address = net::ip::make_address(options_.listen_address, ec);
    if (ec) {
        std::cerr << "cell-control-plane: --listen " << options_.listen_address << ": not an IP address\n";
        return 2;
    }
    // Signals first: a test (or an orchestrator) may signal as soon as it reads "listening".
    signals_.emplace(loop_, SIGINT, SIGTERM, SIGHUP);
    handle_signals();
    try {
        listen(tcp::endpoint(address, options_.port));
    } catch (const boost::system::system_error& e) {
        const std::string message =
            util::describe_listen_failure("control-plane", options_.listen_address, options_.port, e.code(),
                                          {"--port", "PORT", "--listen", "LISTEN_ADDRESS", ""});
        std::cerr << "cell-control-plane: " << message << "\n";
        observability::emit_event(Level::critical, std::move(observability::event_line(Level::critical, "startup_failed")
                                                                 .add("listener", "control_plane")
                                                                 .add("reason", message)));
        return 1;
    }
    resend_timer_.emplace(loop_executor(loop_));
    net::co_spawn(loop_executor(loop_), resend_loop(),
                  [](std::exception_ptr error) { transport::log_escaped_exception(error, "resend_loop"); });
    rollout_timer_.emplace(loop_executor(loop_));
    net::co_spawn(loop_executor(loop_), rollout_loop(),
                  [](std::exception_ptr error) { transport::log_escaped_exception(error, "rollout_loop"); });
    const auto bound = acceptor_->local_endpoint();
    // Listening on every address, the address names nothing: replicas in containers all listen on
    // 0.0.0.0. The host name tells them apart in /status and `cellctl status`.
    const std::string replica = (bound.address().is_unspecified() ? util::host_name() : bound.address().to_string()) +
                                ":" + std::to_string(bound.port());
    if (options_.etcd_endpoints.empty()) {
        state_.set_identity(replica, "file");
        poller_ = std::make_unique<reload::FilePoller>(options_.config_path, options_.poll_interval, sink_,
                                                       config::ProxySettingsOverrides{}, state_.current()->file_hash);
        state_.set_config_poller(poller_.get());
        poller_->start();
    } else {
        state_.set_identity(replica, "etcd");
        follower_ = std::make_unique<EtcdFollower>(loop_, state_, config_work_, options_, store_revision_);
        net::co_spawn(loop_executor(loop_), follower_->run(),
                      [](std::exception_ptr error) { transport::log_escaped_exception(error, "etcd_follower"); });
        net::co_spawn(loop_executor(loop_), follower_->compact_periodically(),
                      [](std::exception_ptr error) { transport::log_escaped_exception(error, "etcd_compaction"); });
    }
    if (follower_) {
        rollouts_ = std::make_unique<RolloutCoordinator>(loop_, state_, config_work_, options_, follower_->store(), replica);
        net::co_spawn(loop_executor(loop_), rollouts_->follow(),
                      [](std::exception_ptr error) { transport::log_escaped_exception(error, "rollout_follow"); });
        net::co_spawn(loop_executor(loop_), rollouts_->drive(),
                      [](std::exception_ptr error) { transport::log_escaped_exception(error, "rollout_drive"); });
    }
    config_api_.emplace(loop_executor(loop_), state_, config_work_, table_work_, options_, follower_.get(), rollouts_.get());
    const SessionSettings settings{options_.keepalive_timeout, options_.send_timeout, options_.handshake_timeout,
                                   options_.compression};
    net::co_spawn(loop_executor(loop_), control_plane_accept_loop(&*acceptor_, &state_, &*config_api_, settings),
                  [](std::exception_ptr error) { transport::log_escaped_exception(error, "control_plane_accept_loop"); });
    loop_.run();
    if (poller_) {
        poller_->stop();
    }
    config_work_.join();
    observability::log_event(Level::info, "stopped", "all router connections closed");
    return 0;
}

int fail_startup(const std::string& path, const std::string& reason) {
    std::cerr << "cell-control-plane: cannot load config " << path << ": " << reason << "\n";
    observability::emit_event(Level::critical, std::move(observability::event_line(Level::critical, "startup_failed")
                                                             .add("path", path)
                                                             .add("reason", reason)));
    observability::shutdown_logging();
    return 1;
}

// etcd mode: the config comes from the store (seeded from the file when the store is empty).
int run_from_etcd(const ControlPlaneOptions& options) {
    auto startup = read_startup_config(options);
    if (auto* reason = std::get_if<std::string>(&startup)) {
        std::cerr << "cell-control-plane: cannot start from etcd (" << options.etcd_prefix << "): " << *reason << "\n";
        observability::emit_event(Level::critical, std::move(observability::event_line(Level::critical, "startup_failed")
                                                                 .add("store", "etcd")
                                                                 .add("reason", *reason)));
        observability::shutdown_logging();
        return 1;
    }
    auto& initial = std::get<EtcdStartup>(startup);
    observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "config_loaded")
                                                         .add("source", "etcd:" + options.etcd_prefix + "config")
                                                         .add("version", initial.snapshot->version)
                                                         .add("revision", initial.snapshot->revision)
                                                         .add("snapshot_hash", initial.snapshot->content_hash)
                                                         .add("bytes", initial.snapshot->frame.size())));
    int exit_code = 0;
    {
        ControlPlaneApp app(options, std::move(initial.snapshot), initial.store_revision);
        exit_code = app.run();
    }
    observability::shutdown_logging();
    return exit_code;
}

}  // namespace

int run_control_plane(const ControlPlaneOptions& options) {
    observability::init_logging(options.log_level, false);
    if (!options.etcd_endpoints.empty()) {
        return run_from_etcd(options);
    }
    auto text = reload::read_file(options.config_path);
    if (auto* failure = std::get_if<reload::LoadFailure>(&text)) {
        return fail_startup(options.config_path, failure->reason);
    }
    const auto& contents = std::get<std::string>(text);
    const std::string file_hash = util::sha256_hex(contents);
    // The same parse and validation as every reload (and as the routers' own).
    auto built = reload::build_table(contents, file_hash, options.config_path, config::ProxySettingsOverrides{});
    if (auto* failure = std::get_if<reload::LoadFailure>(&built)) {
        return fail_startup(options.config_path, failure->reason);
    }
    const auto& loaded = std::get<reload::LoadedTable>(built);
    auto initial = make_snapshot(contents, loaded.table->version(), file_hash, 1, 0, loaded.table);
    if (!initial) {
        return fail_startup(options.config_path, "not a JSON object");
    }
    if (auto refused = oversized_frame_reason(contents, options.max_snapshot_bytes)) {
        return fail_startup(options.config_path, *refused);
    }
    observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "config_loaded")
                                                         .add("path", options.config_path)
                                                         .add("version", initial->version)
                                                         .add("file_hash", file_hash)
                                                         .add("snapshot_hash", initial->content_hash)
                                                         .add("routing_keys", loaded.table->routing_key_count())
                                                         .add("bytes", initial->frame.size())
                                                         .add("max_snapshot_bytes", options.max_snapshot_bytes)
                                                         .add("ws_compression", options.compression)
                                                         .add("poll_interval", config::format_duration(options.poll_interval))
                                                         .add("resend_interval", config::format_duration(options.resend_interval))
                                                         .add("keepalive_timeout", config::format_duration(options.keepalive_timeout))
                                                         .add("send_timeout", config::format_duration(options.send_timeout))
                                                         .add("handshake_timeout", config::format_duration(options.handshake_timeout))));
    int exit_code = 0;
    {
        ControlPlaneApp app(options, std::move(initial));
        exit_code = app.run();
    }
    observability::shutdown_logging();
    return exit_code;
}

}  // namespace cell::controlplane
