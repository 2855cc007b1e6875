#pragma once
// One worker: a thread running its own io_context with its own SO_REUSEPORT acceptor, table
// copy, upstream pool and sessions. Nothing on the request path is shared with other workers
// except the immutable table and the logger.
//
// Thread safety: construction, listen() and start() on the main thread; prepare_table() and
// apply_table() on the one thread that publishes tables; begin_drain(), close_all() are safe
// from any thread (they post to the worker);
// live_sessions() and table_generation() read atomics.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cell/proxy/worker_state.hpp"
#include "cell/routing/table.hpp"
#include "cell/transport/io.hpp"

namespace cell::runtime {

class Worker {
public:
    // Throws boost::system::system_error when `initial_table` has an https:// cell and
    // `upstream_ca_file` cannot be loaded.
    // `connections` is shared by all workers and must outlive this one.
    Worker(unsigned index, routing::TableConstPtr initial_table,
           const admin::DebugSources* debug_sources, proxy::AccessLog::Shard* access_log,
           const std::string& upstream_ca_file,
           resilience::ConnectionLimit* connections);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Binds this worker's acceptor; returns the bound endpoint (the real port when 0 was asked).
    tcp::endpoint listen(const tcp::endpoint& endpoint);
    void start();

    // On the publishing thread, for every worker before any apply_table(): builds what `table`
    // needs that would stall the worker's loop (the TLS context, for the first table with an
    // https:// cell), so that the workers then switch tables together.
    void prepare_table(const routing::Table& table);
    void apply_table(routing::TableConstPtr table, std::uint64_t generation);
    // Stop accepting, close idle connections, let busy ones finish their current response.
    void begin_drain();
    // Close every connection now (the drain deadline has passed).
    void close_all();
    void join();

    unsigned index() const { return index_; }
    std::size_t live_sessions() const { return state_->sessions.live(); }
    std::uint64_t table_generation() const { return table_generation_.load(std::memory_order_relaxed); }
    // Safe to read from any thread (the /metrics scrape).
    const metrics::WorkerMetrics& metrics() const { return state_->metrics; }

private:
    const unsigned index_;
    std::optional<net::io_context> io_context_;
    std::unique_ptr<proxy::WorkerState> state_;
    std::optional<tcp_acceptor> acceptor_;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> keep_running_;
    std::atomic<std::uint64_t> table_generation_{1};
    const std::string upstream_ca_file_;
    // Publishing thread only (and the constructor, before it starts): whether the worker has
    // its TLS context or has been given one, and the one built for the next apply_table().
    bool tls_prepared_ = false;
    std::optional<net::ssl::context> pending_tls_;
    std::thread thread_;
};

}  // namespace cell::runtime
