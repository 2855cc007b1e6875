#pragma once
// One worker: a thread running its own io_context with its own SO_REUSEPORT acceptor, table
// copy, upstream pool and sessions. Nothing on the request path is shared with other workers
// except the immutable table and the logger.
//
// Thread safety: construction, listen() and start() on the main thread; apply_table(),
// begin_drain(), close_all() are safe from any thread (they post to the worker);
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
    // Throws boost::system::system_error when `upstream_ca_file` cannot be loaded.
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
    // Whether the worker has its TLS context or has been sent one: the first table with an
    // https:// cell has it built on the publishing thread, never on the worker's loop.
    std::atomic<bool> tls_prepared_{false};
    std::thread thread_;
};

}  // namespace cell::runtime
