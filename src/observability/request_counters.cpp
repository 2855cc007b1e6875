#include "cell/observability/request_counters.hpp"

#include <memory>

namespace cell::observability {

std::size_t status_class_index(unsigned status) {
    if (status < 100 || status > 599) {
        return status_class_count - 1;
    }
    return status / 100 - 1;
}

std::string_view status_class_label(std::size_t index) {
    static constexpr std::array<std::string_view, status_class_count> labels{"1xx", "2xx", "3xx",
                                                                             "4xx", "5xx", "other"};
    return index < labels.size() ? labels[index] : "other";
}

void RequestTotals::add(const RequestShard& shard) {
    for (std::size_t outcome = 0; outcome < outcome_count; ++outcome) {
        for (std::size_t code = 0; code < status_class_count; ++code) {
            requests[outcome][code] += shard.requests[outcome][code].load();
        }
    }
    shard.duration.add_to(duration);
    shard.router_duration.add_to(router_duration);
    request_body_bytes += shard.request_body_bytes.load();
    response_body_bytes += shard.response_body_bytes.load();
    for (std::size_t i = 0; i < failover_kinds; ++i) {
        failovers[i] += shard.failovers[i].load();
    }
}

std::uint64_t RequestTotals::of(Outcome outcome) const {
    std::uint64_t total = 0;
    for (const auto n : requests[static_cast<std::size_t>(outcome)]) {
        total += n;
    }
    return total;
}

ShardedRequestCounters::~ShardedRequestCounters() {
    for (auto& slot : shards_) {
        delete slot.load(std::memory_order_acquire);
    }
}

RequestShard& ShardedRequestCounters::create(std::size_t slot) {
    auto fresh = std::make_unique<RequestShard>();
    RequestShard* expected = nullptr;
    // Only the owning worker creates its shard; the exchange still makes the shared-io_context
    // variant, where several threads are that worker, safe.
    if (shards_[slot].compare_exchange_strong(expected, fresh.get(), std::memory_order_acq_rel)) {
        return *fresh.release();
    }
    return *expected;
}

void ShardedRequestCounters::add_to(RequestTotals& totals) const {
    for (const auto& slot : shards_) {
        if (const RequestShard* shard = slot.load(std::memory_order_acquire)) {
            totals.add(*shard);
        }
    }
}

}  // namespace cell::observability
