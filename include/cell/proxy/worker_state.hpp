#pragma once
// Everything one worker thread owns for the request path: its copy of the routing table, its
// upstream pool, its live sessions and its relay buffers. Include only from .cpp files.
//
// Thread safety: only the owning worker's thread touches it; other threads reach it by posting
// to that worker's io_context (runtime/worker.hpp). SessionRegistry::live() is the exception.

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "cell/metrics/request_metrics.hpp"
#include "cell/proxy/access_log.hpp"
#include "cell/resilience/connection_limit.hpp"
#include "cell/proxy/upstream_pool.hpp"
#include "cell/routing/table.hpp"
#include "cell/transport/io.hpp"

namespace cell::admin {
struct DebugSources;
}

namespace cell::proxy {

// Sessions register so that shutdown can close the idle ones at once and the busy ones after
// their current response.
class SessionRegistry {
public:
    struct Entry {
        TimedSocket* stream = nullptr;
        TimedSocket* upstream = nullptr;  // the cell connection of the request in flight, if any
        bool idle = false;               // waiting for the first byte of the next request
    };
    using Handle = std::list<Entry>::iterator;

    Handle add(TimedSocket* stream) {
        live_.fetch_add(1, std::memory_order_relaxed);
        return entries_.insert(entries_.end(), Entry{stream, nullptr, false});
    }
    void remove(Handle handle) {
        entries_.erase(handle);
        live_.fetch_sub(1, std::memory_order_relaxed);
    }
    // The only member safe to call from another thread (shutdown polls it).
    std::size_t live() const { return live_.load(std::memory_order_relaxed); }

    void close_idle();
    void close_all();

private:
    std::list<Entry> entries_;
    std::atomic<std::size_t> live_{0};
};

// RAII registration for the lifetime of one session coroutine.
class SessionRegistration {
public:
    SessionRegistration(SessionRegistry& registry, TimedSocket* stream)
        : registry_(registry), handle_(registry.add(stream)) {}
    ~SessionRegistration() { registry_.remove(handle_); }
    SessionRegistration(const SessionRegistration&) = delete;
    SessionRegistration& operator=(const SessionRegistration&) = delete;

    void set_idle(bool idle) { handle_->idle = idle; }
    // The upstream connection to close as well if shutdown cuts this session off.
    void set_upstream(TimedSocket* upstream) { handle_->upstream = upstream; }

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

struct WorkerState {
    WorkerState(executor_type executor, routing::TableConstPtr initial_table,
                const admin::DebugSources& debug_sources, AccessLog::Shard& access_log,
                const std::string& upstream_ca_file, resilience::ConnectionLimit* connection_limit)
        : tls_context(upstream_ca_file), pool(executor, tls_context), connections(*connection_limit),
          debug_sources(debug_sources), access_log(access_log), table_(with_worker_count(std::move(initial_table))) {}

    // This worker's copy of the published snapshot.
    const routing::TableConstPtr& current_table() const { return table_; }
    void set_table(routing::TableConstPtr table) { table_ = with_worker_count(std::move(table)); }

    transport::UpstreamTlsContext tls_context;  // declared before `pool`, which keeps a reference to it
    UpstreamPool pool;
    SessionRegistry sessions;
    RelayBuffers buffers;
    resilience::ConnectionLimit& connections;  // shared by every worker, owned by the router
    std::atomic<bool> draining{false};
    // What /debug/config on the proxy port shows besides the table (reload and control-plane
    // status, connections); owned by the router, which outlives its workers.
    const admin::DebugSources& debug_sources;
    AccessLog::Shard& access_log;    // this worker's part of the router's access log
    metrics::WorkerMetrics metrics;  // this worker's request counters (scrapes read them)
    std::size_t index = 0;           // the worker's number: its shard of per-table counters

private:
    routing::TableConstPtr table_;
};

}  // namespace cell::proxy
