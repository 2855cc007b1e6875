#include "cell/runtime/router_app.hpp"

#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>
#include <vector>

#include <boost/asio/signal_set.hpp>

#include "cell/admin/admin_server.hpp"
#include "cell/admin/debug_endpoints.hpp"
#include "cell/admin/router_metrics.hpp"
#include "cell/admin/router_page.hpp"
#include "cell/config/duration.hpp"
#include "cell/controlplane/client.hpp"
#include "cell/controlplane/config_cache.hpp"
#include "cell/health/health_checker.hpp"
#include "cell/observability/log.hpp"
#include "cell/proxy/listener.hpp"
#include "cell/proxy/upstream_pool.hpp"
#include "cell/reload/file_poller.hpp"
#include "cell/reload/table_loader.hpp"
#include "cell/runtime/worker.hpp"
#include "cell/transport/accept.hpp"
#include "cell/transport/tls_client.hpp"
#include "cell/util/listen_error.hpp"
#include "cell/util/open_file_limit.hpp"

namespace cell::runtime {
namespace {

using observability::Level;
using Clock = std::chrono::steady_clock;

void log_listening(std::string_view listener, const tcp::endpoint& endpoint, unsigned threads) {
    observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "listening")
                                                         .add("listener", listener)
                                                         .add("address", endpoint.address().to_string())
                                                         .add("port", static_cast<unsigned>(endpoint.port()))
                                                         .add("threads", threads)));
}

// Replaced tables are freed here, on the main thread, once their last request is done; never
// on a worker, where freeing a large table would stall every connection it serves.
awaitable<void> release_retired_tables(routing::TablePublisher* publisher) {
    const auto executor = co_await net::this_coro::executor;
    steady_timer timer(executor);
    for (;;) {
        timer.expires_after(std::chrono::seconds(1));
        auto [ec] = co_await timer.async_wait();
        if (ec) {
            co_return;
        }
        publisher->release_retired();
    }
}

std::size_t live_sessions(const std::vector<std::unique_ptr<Worker>>& workers) {
    std::size_t total = 0;
    for (const auto& worker : workers) {
        total += worker->live_sessions();
    }
    return total;
}

// Waits on the main loop until every worker has finished its sessions or the deadline passes.
awaitable<void> drain(std::vector<std::unique_ptr<Worker>>* workers, config::Duration deadline) {
    const auto executor = co_await net::this_coro::executor;
    const auto give_up_at = Clock::now() + deadline;
    steady_timer tick(executor);
    while (live_sessions(*workers) > 0 && Clock::now() < give_up_at) {
        tick.expires_after(std::chrono::milliseconds(20));
        co_await tick.async_wait();
    }
    const auto left = live_sessions(*workers);
    if (left > 0) {
        observability::emit_event(Level::warn, std::move(observability::event_line(Level::warn, "drain_deadline")
                                                             .add("connections_closed", left)));
        for (auto& worker : *workers) {
            worker->close_all();
        }
    }
}

class RouterApp {
public:
    RouterApp(const RouterOptions& options, reload::LoadedTable initial)
        : options_(options), publisher_(initial.table), initial_hash_(std::move(initial.content_hash)) {
        // Later tables continue with the startup table's placement state.
        for (const auto& placement : initial.table->placements()) {
            placement_states_.adopt(placement.name, placement.state, placement.policy.health_check.has_value());
        }
    }

    int run();

private:
    void create_workers(const tcp::endpoint& endpoint);
    void start_workers();
    void open_admin(const net::ip::address& address);
    void start_admin();
    void start_health_checks();
    admin::AdminAnswer answer_admin(std::string_view path, std::string_view query) const;
    void create_config_source();
    bool open_listeners(const net::ip::address& address, const net::ip::address& admin_address);
    void start_config_source();
    void handle_signals();
    void shutdown();
    std::string render_metrics() const;

    const RouterOptions& options_;
    resilience::PlacementStateRegistry placement_states_;
    routing::TablePublisher publisher_;
    reload::PublishingSink sink_{publisher_};
    std::string initial_hash_;
    net::io_context main_loop_{1};
    resilience::ConnectionLimit connections_;  // declared before the workers, which count into it
    std::optional<proxy::AccessLog> access_log_;  // declared before the workers, which write into it
    std::vector<std::unique_ptr<Worker>> workers_;
    std::unique_ptr<reload::FilePoller> poller_;
    std::unique_ptr<controlplane::SnapshotApplier> applier_;
    std::unique_ptr<controlplane::ControlPlaneClient> control_plane_;
    std::unique_ptr<health::HealthChecker> health_checker_;
    admin::DebugSources debug_sources_;  // complete before the first worker thread starts
    std::optional<tcp_acceptor> admin_acceptor_;
    std::optional<net::signal_set> signals_;
    bool shutting_down_ = false;
};

std::string RouterApp::render_metrics() const {
    const routing::TableConstPtr table = publisher_.current();
    admin::RouterMetricsSources sources;
    sources.table = table.get();
    for (const auto& worker : workers_) {
        sources.workers.push_back(&worker->metrics());
    }
    sources.poller = poller_.get();
    sources.control_plane = control_plane_.get();
    sources.connections = &connections_;
    sources.process = observability::read_process_metrics();
    sources.now = std::chrono::system_clock::now();
    return admin::render_router_metrics(sources);
}

// Opens every proxy listener; throws system_error when one cannot be opened.
void RouterApp::create_workers(const tcp::endpoint& endpoint) {
    if (endpoint.port() != 0) {
        proxy::ensure_port_is_free(endpoint);
    }
    tcp::endpoint bound = endpoint;
    // Thread-per-core: one worker, context and acceptor per thread.
    access_log_.emplace(options_.access_log, options_.threads);
    for (unsigned i = 0; i < options_.threads; ++i) {
        auto worker = std::make_unique<Worker>(i, publisher_.current(), &debug_sources_, &access_log_->shard(i),
                                               options_.upstream_ca_file, &connections_);
        // The first worker may have been given port 0; the others join the port it got.
        bound = worker->listen(bound);
        workers_.push_back(std::move(worker));
    }
    log_listening("proxy", bound, options_.threads);
}

void RouterApp::start_workers() {
    publisher_.subscribe([this](const routing::TableConstPtr& table, std::uint64_t generation) {
        // Whatever is slow first, for every worker, so that they then switch tables together.
        for (auto& worker : workers_) {
            worker->prepare_table(*table);
        }
        for (auto& worker : workers_) {
            worker->apply_table(table, generation);
        }
    });
    access_log_->start();
    for (auto& worker : workers_) {
        worker->start();
    }
}

// Throws system_error when the admin listener cannot be opened.
void RouterApp::open_admin(const net::ip::address& address) {
    admin_acceptor_.emplace(executor_type(loop_executor(main_loop_)));
    const tcp::endpoint endpoint(address, options_.admin_port);
    admin_acceptor_->open(endpoint.protocol());
    admin_acceptor_->set_option(net::socket_base::reuse_address(true));
    admin_acceptor_->bind(endpoint);
    admin_acceptor_->listen();
}

void RouterApp::start_admin() {
    if (!admin_acceptor_) {
        return;
    }
    auto handler = [this](std::string_view path, std::string_view query) { return answer_admin(path, query); };
    net::co_spawn(loop_executor(main_loop_), admin::admin_accept_loop(&*admin_acceptor_, handler),
                  [](std::exception_ptr error) { transport::log_escaped_exception(error, "admin_accept_loop"); });
    log_listening("admin", admin_acceptor_->local_endpoint(), 1);
}

admin::AdminAnswer RouterApp::answer_admin(std::string_view path, std::string_view query) const {
    if (path == "/") {
        return {http::status::ok, std::string(admin::router_page_html()), "text/html; charset=utf-8"};
    }
    if (path == "/debug/config") {
        return {http::status::ok, admin::render_debug_config(*publisher_.current(), debug_sources_)};
    }
    if (path == "/debug/placements") {
        return {http::status::ok, admin::render_debug_placements(*publisher_.current())};
    }
    if (path == "/debug/route") {
        const std::optional<std::string> key = admin::query_parameter(query, "key");
        if (!key || key->empty()) {
            return {http::status::bad_request,
                    R"({"error":"missing_key","message":"give the routing key as /debug/route?key=K"})"};
        }
        return {http::status::ok, admin::render_route_preview(*publisher_.current(), *key)};
    }
    if (path == "/metrics") {
        return {http::status::ok, render_metrics(), observability::exposition_content_type};
    }
    if (path == "/health" || path == "/ready") {
        return {http::status::ok, shutting_down_ ? R"({"status":"draining"})" : R"({"status":"ok"})"};
    }
    return {http::status::not_found,
            R"({"error":"not_found","endpoints":["/","/debug/config","/debug/placements","/debug/route?key=K","/health","/metrics"]})"};
}

// Probes run on their own thread and follow every published table: new placements start
// being probed, removed ones stop.
void RouterApp::start_health_checks() {
    health_checker_->start(publisher_.current());
    publisher_.subscribe([this](const routing::TableConstPtr& table, std::uint64_t) { health_checker_->update(table); });
}

// With a control plane the file is only the bootstrap: config comes from the control plane
// alone, so the poller would fight it. Without one, the file is watched as in M2.
// NOTE: created before the worker threads start, which read poller_ and control_plane_ for
// /debug/config: the pointers never change while the workers run.
void RouterApp::create_config_source() {
    debug_sources_.publisher = &publisher_;
    debug_sources_.connections = &connections_;
    debug_sources_.worker_generations = [this] {
        std::vector<std::uint64_t> generations;
        for (const auto& worker : workers_) {
            generations.push_back(worker->table_generation());
        }
        return generations;
    };
    if (options_.control_plane_urls.empty()) {
        poller_ = std::make_unique<reload::FilePoller>(options_.config_path, options_.reload_interval, sink_,
                                                       options_.proxy, initial_hash_, &placement_states_);
        debug_sources_.poller = poller_.get();
        return;
    }
    controlplane::ClientSettings settings;
    for (const auto& url : options_.control_plane_urls) {
        settings.replicas.push_back({url, *controlplane::parse_control_plane_url(url)});  // validated by the options
    }
    settings.keepalive_timeout = options_.control_plane_keepalive;
    settings.report_interval = options_.report_interval;
    settings.connect_timeout = options_.control_plane_connect_timeout;
    settings.initial_backoff = options_.control_plane_backoff;
    settings.max_backoff = options_.control_plane_max_backoff;
    settings.backoff_reset = options_.control_plane_backoff_reset;
    settings.max_snapshot_bytes = options_.max_snapshot_bytes;
    settings.compression = options_.control_plane_compression;
    const bool from_cache = publisher_.current()->origin().source == "cache";
    applier_ = std::make_unique<controlplane::SnapshotApplier>(
        publisher_, options_.proxy, options_.config_cache, options_.node_id, &placement_states_,
        from_cache ? controlplane::cached_snapshot_revision(options_.config_cache) : 0);
    control_plane_ = std::make_unique<controlplane::ControlPlaneClient>(settings, *applier_);
    debug_sources_.control_plane = control_plane_.get();
}

void RouterApp::start_config_source() {
    if (poller_) {
        poller_->start();
    }
    if (control_plane_) {
        control_plane_->start();
    }
}

void RouterApp::handle_signals() {
    signals_->async_wait([this](const boost::system::error_code& ec, int signal) {
        if (ec) {
            return;
        }
        if (signal == SIGHUP) {
            if (poller_) {
                poller_->trigger();
            } else {
                observability::log_event(Level::info, "sighup_ignored",
                                         "config comes from the control plane; the file is not watched");
            }
            handle_signals();
            return;
        }
        observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "shutdown")
                                                             .add("signal", signal)
                                                             .add("drain_timeout", config::format_duration(
                                                                      publisher_.current()->settings().drain_timeout))));
        shutdown();
    });
}

void RouterApp::shutdown() {
    if (shutting_down_) {
        return;
    }
    shutting_down_ = true;
    if (admin_acceptor_) {
        boost::system::error_code ignored;
        admin_acceptor_->close(ignored);
    }
    for (auto& worker : workers_) {
        worker->begin_drain();
    }
    net::co_spawn(loop_executor(main_loop_), drain(&workers_, publisher_.current()->settings().drain_timeout),
                  [this](std::exception_ptr) {
                      signals_->cancel();
                      main_loop_.stop();
                  });
}

// Opens the proxy and admin listeners, or says which one failed and which flag changes it.
bool RouterApp::open_listeners(const net::ip::address& address, const net::ip::address& admin_address) {
    const char* opening = "proxy";
    try {
        create_workers(tcp::endpoint(address, options_.port));
        if (options_.admin_port != 0) {
            opening = "admin";
            open_admin(admin_address);
        }
        return true;
    } catch (const boost::system::system_error& e) {
        const bool admin = opening == std::string_view("admin");
        const std::string message =
            admin ? util::describe_listen_failure("admin", options_.admin_listen_address, options_.admin_port, e.code(),
                                                  {"--admin-port", "ADMIN_PORT", "--admin-listen",
                                                   "ADMIN_LISTEN_ADDRESS", "0 turns it off"})
                  : util::describe_listen_failure("proxy", options_.listen_address, options_.port, e.code(),
                                                  {"--port", "PORT", "--listen", "LISTEN_ADDRESS", ""});
        std::cerr << "cell-router: " << message << "\n";
        observability::emit_event(Level::critical, std::move(observability::event_line(Level::critical, "startup_failed")
                                                                 .add("listener", opening)
                                                                 .add("reason", message)));
        return false;
    }
}

int RouterApp::run() {
    try {
        // Each worker loads its own copy when a cell first needs it; checking the file once
        // here gives one clear message at startup instead of failed requests later.
        if (!options_.upstream_ca_file.empty()) {
            transport::make_upstream_tls_context(options_.upstream_ca_file);
        }
    } catch (const boost::system::system_error& e) {
        std::cerr << "cell-router: cannot load --upstream-ca-file " << options_.upstream_ca_file << ": "
                  << e.code().message() << "\n";
        return 1;
    }
    boost::system::error_code ec;
    const auto address = net::ip::make_address(options_.listen_address, ec);
    if (ec) {
        std::cerr << "cell-router: --listen " << options_.listen_address << ": not an IP address\n";
        return 2;
    }
    const auto admin_address = net::ip::make_address(options_.admin_listen_address, ec);
    if (ec) {
        std::cerr << "cell-router: --admin-listen " << options_.admin_listen_address << ": not an IP address\n";
        return 2;
    }
    // Before the listeners open: whoever waits for the "listening" line may signal us at once,
    // and loading the system's CA certificates for the prober takes a noticeable moment.
    signals_.emplace(main_loop_, SIGINT, SIGTERM, SIGHUP);
    health_checker_ = std::make_unique<health::HealthChecker>(options_.upstream_ca_file);
    // Everything /debug/config reads exists before the first worker thread starts.
    create_config_source();
    // The poller thread starts after the workers subscribe to new tables; the watch before the
    // listeners open, so a save made after "listening" wakes the poller once it runs.
    if (poller_) {
        poller_->start_watching();
    }
    if (!open_listeners(address, admin_address)) {
        return 1;
    }
    start_workers();
    start_admin();
    start_health_checks();
    start_config_source();
    handle_signals();
    net::co_spawn(loop_executor(main_loop_), release_retired_tables(&publisher_), net::detached);
    main_loop_.run();

    if (poller_) {
        poller_->stop();
    }
    if (control_plane_) {
        control_plane_->stop();
    }
    if (health_checker_) {
        health_checker_->stop();
    }
    for (auto& worker : workers_) {
        worker->join();
    }
    workers_.clear();
    if (access_log_) {
        access_log_->stop();  // the workers are gone: write what they left
    }
    observability::log_event(Level::info, "stopped", "all connections closed");
    return 0;
}

// The first table: the config file, or with a control plane the newer of the bootstrap file
// and the cache of the last pushed snapshot.
std::variant<reload::LoadedTable, reload::LoadFailure> load_startup_table(const RouterOptions& options) {
    if (options.control_plane_urls.empty()) {
        return reload::load_table_file(options.config_path, options.proxy);
    }
    auto chosen = controlplane::choose_startup_table(options.config_path, options.config_cache, options.proxy);
    if (auto* failure = std::get_if<reload::LoadFailure>(&chosen)) {
        return std::move(*failure);
    }
    auto& choice = std::get<controlplane::StartupChoice>(chosen);
    observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "startup_source")
                                                         .add("source", choice.loaded.table->origin().source)
                                                         .add("path", choice.loaded.table->origin().path)
                                                         .add("reason", choice.notice)));
    return std::move(choice.loaded);
}

// Each connection is a descriptor: take the whole hard limit, and say what it is, since
// max_connections cannot be reached when descriptors run out first.
void raise_and_log_open_file_limit(std::uint32_t max_connections) {
    const auto limit = util::raise_open_file_limit();
    if (!limit) {
        return;
    }
    const Level level = limit->after < max_connections ? Level::warn : Level::info;
    observability::emit_event(level, std::move(observability::event_line(level, "open_file_limit")
                                                   .add("before", limit->before)
                                                   .add("soft", limit->after)
                                                   .add("hard", limit->hard)
                                                   .add("max_connections", max_connections)));
}

}  // namespace

int run_router(const RouterOptions& options) {
    observability::init_logging(options.log_level, options.access_log);
    raise_and_log_open_file_limit(
        options.proxy.max_connections.value_or(config::ProxySettings{}.max_connections));
    auto loaded = load_startup_table(options);
    if (auto* failure = std::get_if<reload::LoadFailure>(&loaded)) {
        std::cerr << "cell-router: invalid config " << options.config_path << ": " << failure->reason << "\n";
        observability::emit_event(Level::critical, std::move(observability::event_line(Level::critical, "startup_failed")
                                                                 .add("path", options.config_path)
                                                                 .add("reason", failure->reason)));
        observability::shutdown_logging();
        return 1;
    }
    auto& initial = std::get<reload::LoadedTable>(loaded);
    observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "config_loaded")
                                                         .add("path", initial.table->origin().path)
                                                         .add("source", initial.table->origin().source)
                                                         .add("version", initial.table->version())
                                                         .add("content_hash", initial.content_hash)
                                                         .add("routing_keys", initial.table->routing_key_count())
                                                         .add("placements", initial.table->placements().size())));
    int exit_code = 0;
    {
        RouterApp app(options, std::move(initial));
        exit_code = app.run();
    }
    observability::shutdown_logging();
    return exit_code;
}

}  // namespace cell::runtime
