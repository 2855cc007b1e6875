#pragma once
// The access log: one JSON line per exchange (docs/outcomes.md lists its fields). A worker only
// moves the exchange's facts into a record and appends it to its own shard; a writer thread
// formats the lines and hands them to the logger, so the JSON and timestamp formatting never
// run on a worker. Records are written within about 10 ms.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cell/observability/json_line.hpp"
#include "cell/proxy/exchange.hpp"

namespace cell::proxy {

// What the line of one exchange says, taken from it when it ends.
struct AccessRecord {
    std::chrono::system_clock::time_point at;
    routing::TableConstPtr table;  // keeps the placement names and URLs below alive
    const routing::PlacementTarget* placement = nullptr;  // serving, else routed, else null
    const routing::PlacementTarget* routed = nullptr;
    routing::RouteReason route_reason = routing::RouteReason::default_placement;
    routing::FailoverReason failover = routing::FailoverReason::none;
    bool fail_open = false;
    bool upstream_reused = false;
    Outcome outcome = Outcome::client_closed;
    unsigned status = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::string request_id;
    std::string client;
    std::string method;
    std::string path;
    std::string routing_key;
    std::string trace_id;
    std::string error;
    // Durations; negative when the exchange never got that far.
    std::chrono::nanoseconds total{-1};
    std::chrono::nanoseconds router_added{-1};
    std::chrono::nanoseconds route{-1};
    std::chrono::nanoseconds connect{-1};
    std::chrono::nanoseconds upstream_head{-1};

    // Takes what the line needs; the exchange's strings are moved out, so call it last.
    static AccessRecord take_from(Exchange& exchange);
};

// The line itself.
observability::JsonLine format_access_line(const AccessRecord& record);

class AccessLog {
public:
    // A worker's part of the log, touched by that worker and, briefly, by the writer.
    class Shard {
    public:
        // Appends the exchange's record; counts it as dropped when the writer is this far
        // behind, instead of stalling the worker.
        void record(Exchange& exchange);
        bool enabled() const { return enabled_; }

    private:
        friend class AccessLog;
        bool enabled_ = false;
        std::mutex mutex_;
        std::vector<AccessRecord> pending_;
        std::uint64_t dropped_ = 0;
    };

    static constexpr std::size_t max_pending_per_worker = 16384;

    // `enabled` false: records are never taken and no thread runs.
    AccessLog(bool enabled, unsigned workers);
    ~AccessLog();
    AccessLog(const AccessLog&) = delete;
    AccessLog& operator=(const AccessLog&) = delete;

    Shard& shard(unsigned worker) { return *shards_.at(worker); }

    void start();
    // Writes what is pending and stops the writer. Call after the workers have stopped.
    void stop();

private:
    void run();
    void write_pending();

    bool enabled_;
    std::vector<std::unique_ptr<Shard>> shards_;
    std::mutex stop_mutex_;
    std::condition_variable stop_requested_;
    bool stopping_ = false;
    std::thread writer_;
};

}  // namespace cell::proxy
