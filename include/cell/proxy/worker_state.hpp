#pragma once
// Everything one worker thread owns for the request path: its copy of the routing table, its
// upstream pool, its live sessions and its relay buffers. Include only from .cpp files.
//
// Thread safety: only the owning worker's thread touches it; other threads reach it by posting
// to that worker's io_context (runtime/worker.hpp). The shared-io_context variant runs it on
// several threads, which is what the WorkerLock members are for (runtime/worker_lock.hpp).

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "cell/observability/request_metrics.hpp"
#include "cell/proxy/connection_limit.hpp"
#include "cell/proxy/upstream_pool.hpp"
#include "cell/routing/table.hpp"
#include "cell/runtime/io.hpp"
#include "cell/runtime/worker_lock.hpp"

namespace cell::proxy {

// Sessions register so that shutdown can close the idle ones at once and the busy ones after
// their current response.
class SessionRegistry {
public:
    struct Entry {
        io_executor session_executor;  // where the session's handlers run
        tcp_stream* stream = nullptr;
        tcp_stream* upstream = nullptr;  // the cell connection of the request in flight, if any
        bool idle = false;               // waiting for the first byte of the next request
    };
    using Handle = std::list<Entry>::iterator;

    Handle add(io_executor session_executor, tcp_stream* stream) {
        std::lock_guard guard(lock_);
        live_.fetch_add(1, std::memory_order_relaxed);
        return entries_.insert(entries_.end(), Entry{std::move(session_executor), stream, nullptr, false});
    }
    void remove(Handle handle) {
        std::lock_guard guard(lock_);
        entries_.erase(handle);
        live_.fetch_sub(1, std::memory_order_relaxed);
    }
    // The only member safe to call from another thread (shutdown polls it).
    std::size_t live() const { return live_.load(std::memory_order_relaxed); }

    void close_idle();
    void close_all();

private:
    // Closes the session's sockets on the session's own executor, where nothing else can be
    // using them at the same moment.
    void close_on_session_executor(const Entry& entry, bool only_if_idle);

    runtime::WorkerLock lock_;
    std::list<Entry> entries_;
    std::atomic<std::size_t> live_{0};
};

// RAII registration for the lifetime of one session coroutine.
class SessionRegistration {
public:
    SessionRegistration(SessionRegistry& registry, io_executor session_executor, tcp_stream* stream)
        : registry_(registry), handle_(registry.add(std::move(session_executor), stream)) {}
    ~SessionRegistration() { registry_.remove(handle_); }
    SessionRegistration(const SessionRegistration&) = delete;
    SessionRegistration& operator=(const SessionRegistration&) = delete;

    void set_idle(bool idle) { handle_->idle = idle; }
    // The upstream connection to close as well if shutdown cuts this session off.
    void set_upstream(tcp_stream* upstream) { handle_->upstream = upstream; }

private:
    SessionRegistry& registry_;
    SessionRegistry::Handle handle_;
};

// Fixed-size buffers for relaying bodies, reused across requests so a keep-alive connection
// holds no body buffer between requests.
class RelayBuffers {
public:
    static constexpr std::size_t buffer_size = 64 * 1024;

    class Lease {
    public:
        Lease(RelayBuffers& owner, std::unique_ptr<char[]> buffer)
            : owner_(&owner), buffer_(std::move(buffer)) {}
        ~Lease() {
            if (buffer_) {
                owner_->give_back(std::move(buffer_));
            }
        }
        Lease(Lease&& other) noexcept = default;
        Lease& operator=(Lease&&) = delete;
        char* data() { return buffer_.get(); }
        static constexpr std::size_t size() { return buffer_size; }

    private:
        RelayBuffers* owner_;
        std::unique_ptr<char[]> buffer_;
    };

    Lease take();

private:
    static constexpr std::size_t max_kept = 64;
    void give_back(std::unique_ptr<char[]> buffer);
    runtime::WorkerLock lock_;
    std::vector<std::unique_ptr<char[]>> free_;
};

// The most a connection's read buffer may hold: one header section, or one body read plus what
// the parser has not consumed. Beast keeps a chunk-size line whole until its end, extensions
// included, so without this bound a peer could grow the buffer without end; past it the read
// fails with http::error::buffer_overflow.
constexpr std::size_t read_buffer_limit(std::size_t header_limit) {
    return header_limit + RelayBuffers::buffer_size;
}

// The same table under a reference count of the worker's own. Every request pins the table it
// started with; on the count that all workers share, those pins would make the workers' cores
// pass one cache line back and forth. The worker's copy holds one reference to the shared count.
inline routing::TableConstPtr with_worker_count(routing::TableConstPtr table) {
    auto holder = std::make_shared<const routing::TableConstPtr>(std::move(table));
    return routing::TableConstPtr(holder, holder->get());
}

// Renders the /debug/config document for the table a worker currently serves.
using DebugConfigRenderer = std::function<std::string(const routing::Table&)>;

struct WorkerState {
    WorkerState(executor_type executor, routing::TableConstPtr initial_table,
                DebugConfigRenderer render_debug_config, net::ssl::context upstream_tls,
                ConnectionLimit* connection_limit)
        : tls_context(std::move(upstream_tls)), pool(executor, tls_context), connections(*connection_limit),
          render_debug_config(std::move(render_debug_config)), table_(with_worker_count(std::move(initial_table))) {}

    // This worker's copy of the published snapshot. Threads sharing the state get a copy of
    // the pointer, taken under the lock; the worker's own thread may simply look.
#ifdef CELLROUTER_SHARED_IO_CONTEXT
    routing::TableConstPtr current_table() const {
        std::lock_guard guard(table_lock_);
        return table_;
    }
#else
    const routing::TableConstPtr& current_table() const { return table_; }
#endif
    void set_table(routing::TableConstPtr table, std::uint64_t generation) {
        std::lock_guard guard(table_lock_);
        table_ = with_worker_count(std::move(table));
        table_generation_ = generation;
    }

    net::ssl::context tls_context;  // declared before `pool`, which keeps a reference to it
    UpstreamPool pool;
    SessionRegistry sessions;
    RelayBuffers buffers;
    ConnectionLimit& connections;  // shared by every worker, owned by the router
    std::atomic<bool> draining{false};
    bool access_log = true;
    observability::WorkerMetrics metrics;  // this worker's request counters (scrapes read them)
    DebugConfigRenderer render_debug_config;

private:
    mutable runtime::WorkerLock table_lock_;
    routing::TableConstPtr table_;
    std::uint64_t table_generation_ = 1;
};

}  // namespace cell::proxy
