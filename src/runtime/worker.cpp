#include "cell/runtime/worker.hpp"

#include "cell/observability/log.hpp"
#include "cell/proxy/listener.hpp"

namespace cell::runtime {

Worker::Worker(unsigned index, unsigned threads, routing::TableConstPtr initial_table,
               proxy::DebugConfigRenderer render_debug_config, const std::string& upstream_ca_file,
               proxy::ConnectionLimit* connections)
    : index_(index), thread_count_(threads) {
    // With one thread running the context, Asio may skip some of its internal locking.
    io_context_.emplace(static_cast<int>(threads));
    state_ = std::make_unique<proxy::WorkerState>(executor_type(loop_executor(*io_context_)),
                                                  std::move(initial_table), std::move(render_debug_config),
                                                  proxy::make_upstream_tls_context(upstream_ca_file), connections);
    state_->metrics.bind(index);
    state_->metrics.prepare(*state_->current_table());
    keep_running_.emplace(io_context_->get_executor());
}

Worker::~Worker() {
    if (!threads_.empty()) {
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
                  [](std::exception_ptr error) { proxy::log_escaped_exception(error, "accept_loop"); });
    for (unsigned i = 0; i < thread_count_; ++i) {
        threads_.emplace_back([this] {
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
}

void Worker::apply_table(routing::TableConstPtr table, std::uint64_t generation) {
    net::post(*io_context_, [this, table = std::move(table), generation]() mutable {
        // Here rather than on the first request: creating a shard allocates.
        state_->metrics.prepare(*table);
        state_->set_table(std::move(table), generation);
        table_generation_.store(generation, std::memory_order_relaxed);
    });
}

void Worker::begin_drain() {
    // On the acceptor's executor, which in the shared-io_context variant is the strand its
    // accept loop runs on.
    const executor_type executor = acceptor_ ? acceptor_->get_executor() : executor_type(loop_executor(*io_context_));
    net::post(executor, [this] {
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
    for (auto& thread : threads_) {
        if (thread.joinable()) {
            thread.join();
        }
    }
}

}  // namespace cell::runtime
