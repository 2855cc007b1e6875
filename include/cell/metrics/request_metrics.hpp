#pragma once
// The request path's one call into the metrics: at the end of every request, on the worker's
// thread, the session hands a RequestSample to its worker's WorkerMetrics::record(). Beast-free.
//
// Thread safety: record() and prepare() only on the owning worker's thread; unrouted() and
// index() from any thread (the scrape).

#include <chrono>
#include <cstdint>

#include "cell/observability/outcome.hpp"
#include "cell/observability/request_counters.hpp"
#include "cell/routing/failover.hpp"
#include "cell/routing/table.hpp"

namespace cell::metrics {

using observability::Outcome;
using observability::RequestShard;

// How one request went, in the terms the metrics count.
struct RequestSample {
    const routing::PlacementTarget* routed = nullptr;   // null when the request was never routed
    const routing::PlacementTarget* serving = nullptr;  // null when no placement served (breakers open, never routed)
    Outcome outcome = Outcome::bad_request;
    routing::FailoverReason failover = routing::FailoverReason::none;
    unsigned status = 0;  // sent to the client; 499 when it left first
    std::chrono::nanoseconds total{};         // first header byte read to the last byte sent
    std::chrono::nanoseconds router_added{};  // of that, the time the router itself spent
    std::uint64_t bytes_in = 0;   // request body bytes received from the client
    std::uint64_t bytes_out = 0;  // response body bytes sent to the client
};

class WorkerMetrics {
public:
    // Before the worker's thread starts.
    void bind(unsigned worker_index) { index_ = worker_index; }
    unsigned index() const { return index_; }

    // Counts one finished request: under the serving placement, else the routed one, else
    // under placement "none"; a failover also on the routed placement. A few relaxed loads and
    // stores into this worker's own shards: no allocation (once the table was prepared), no
    // lock, no string lookup.
    void record(const RequestSample& sample);

    // Creates this worker's shard in each placement of `table` ahead of its first request.
    void prepare(const routing::Table& table);

    // The requests this worker answered without routing them (bad requests, missing key, ...).
    const RequestShard& unrouted() const { return unrouted_; }

private:
    unsigned index_ = 0;
    RequestShard unrouted_;
};

}  // namespace cell::metrics
