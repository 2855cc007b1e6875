#include "cell/runtime/worker.hpp"

#include <algorithm>

#include "cell/observability/log.hpp"
#include "cell/proxy/listener.hpp"
#include "cell/transport/accept.hpp"
#include "cell/transport/tls_client.hpp"

namespace cell::runtime {
namespace {

bool has_https_cells(const routing::Table& table) {
    const auto& placements = table.placements();
    return std::any_of(placements.begin(), placements.end(),
                       [](const routing::PlacementTarget& placement) { return placement.endpoint.scheme == "https"; });
}

}  // namespace

Worker::Worker(unsigned index, routing::TableConstPtr initial_table,
               const admin::DebugSources* debug_sources, proxy::AccessLog::Shard* access_log,
               const std::string& upstream_ca_file,
               resilience::ConnectionLimit* connections)
    : index_(index), upstream_ca_file_(upstream_ca_file) {
    // With one thread running the context, Asio may skip some of its internal locking.
    io_context_.emplace(1);
    state_ = std::make_unique<proxy::WorkerState>(executor_type(loop_executor(*io_context_)),
                                                  std::move(initial_table), *debug_sources, *access_log,
                                                  upstream_ca_file, connections);
    state_->metrics.bind(index);
    state_->index = index;
    state_->metrics.prepare(*state_->current_table());
    if (has_https_cells(*state_->current_table())) {
        state_->tls_context.get();  // before the worker runs: no request waits for the CA bundle
        tls_prepared_ = true;
    }
    keep_running_.emplace(io_context_->get_executor());
}

Worker::~Worker() {
    if (thread_.joinable()) {
        io_context_->stop();
        join();
    }
    // Order matters: sockets go before the context that owns their reactor; the context goes
    // (destroying suspended sessions, which unregister themselves) before the state they use.
    acceptor_.reset();
    state_->pool.clear();
    keep_running_.reset();
    io_context_.reset();
    state_.reset();
}

tcp::endpoint Worker::listen(const tcp::endpoint& endpoint) {
    acceptor_.emplace(proxy::open_reuseport_acceptor(executor_type(loop_executor(*io_context_)), endpoint));
    return acceptor_->local_endpoint();
}

void Worker::start() {
    net::co_spawn(loop_executor(*io_context_), proxy::accept_loop(&*acceptor_, state_.get()),
                  [](std::exception_ptr error) { transport::log_escaped_exception(error, "accept_loop"); });
    thread_ = std::thread([this] {
        for (;;) {
            try {
                io_context_->run();
                return;
            } catch (const std::exception& e) {
                // A handler threw: log it and keep the worker serving its other connections.
                observability::log_event(observability::Level::err, "internal_error", e.what());
            }
        }
    });
}

void Worker::prepare_table(const routing::Table& table) {
    if (tls_prepared_ || !has_https_cells(table)) {
        return;
    }
    tls_prepared_ = true;
    try {
        pending_tls_.emplace(transport::make_upstream_tls_context(upstream_ca_file_));
    } catch (const boost::system::system_error&) {
        // The CA file was readable at startup; if it no longer is, the first https connection
        // reports why.
    }
}

void Worker::apply_table(routing::TableConstPtr table, std::uint64_t generation) {
    std::optional<net::ssl::context> tls = std::move(pending_tls_);
    pending_tls_.reset();
    net::post(*io_context_, [this, table = std::move(table), generation, tls = std::move(tls)]() mutable {
        if (tls) {
            state_->tls_context.adopt(std::move(*tls));
        }
        // Here rather than on the first request: creating a shard allocates.
        state_->metrics.prepare(*table);
        state_->set_table(std::move(table));
        table_generation_.store(generation, std::memory_order_relaxed);
    });
}

void Worker::begin_drain() {
    net::post(*io_context_, [this] {
        state_->draining = true;
        if (acceptor_) {
            boost::system::error_code ignored;
            acceptor_->close(ignored);
        }
        state_->sessions.close_idle();
        state_->pool.clear();
        // With the acceptor closed and no session left, run() returns on its own.
        keep_running_.reset();
    });
}

void Worker::close_all() {
    net::post(*io_context_, [this] { state_->sessions.close_all(); });
}

void Worker::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

}  // namespace cell::runtime
