#include "cell/metrics/request_metrics.hpp"

namespace cell::metrics {

using observability::status_class_index;

void WorkerMetrics::record(const RequestSample& sample) {
    const routing::PlacementTarget* labelled = sample.serving != nullptr ? sample.serving : sample.routed;
    RequestShard& shard = labelled != nullptr ? labelled->state->metrics.shard(index_) : unrouted_;
    shard.requests[static_cast<std::size_t>(sample.outcome)][status_class_index(sample.status)].add(1);
    shard.duration.observe(sample.total);
    shard.router_duration.observe(sample.router_added);
    shard.request_body_bytes.add(sample.bytes_in);
    shard.response_body_bytes.add(sample.bytes_out);
    if (sample.failover != routing::FailoverReason::none && sample.routed != nullptr) {
        const auto kind = static_cast<std::size_t>(sample.failover) - 1;  // none is 0
        sample.routed->state->metrics.shard(index_).failovers[kind].add(1);
    }
}

void WorkerMetrics::prepare(const routing::Table& table) {
    for (const auto& placement : table.placements()) {
        placement.state->metrics.shard(index_);
    }
}

}  // namespace cell::metrics
