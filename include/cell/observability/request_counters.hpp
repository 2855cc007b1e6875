#pragma once
// The request metrics of one placement (or of the requests never routed), kept per worker and
// summed at scrape time. Each worker writes only its own shard, so recording a request touches
// no cache line another worker writes; a scrape reads every shard with relaxed loads.
// Beast-free, and free of routing types: resilience::PlacementState holds one of these.
//
// Thread safety: a shard is written by its worker's thread only (OwnedCounter); shard() is
// called on that thread; add_to() and totals() from any thread.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "cell/observability/histogram.hpp"
#include "cell/observability/outcome.hpp"
#include "cell/observability/owned_counter.hpp"

namespace cell::observability {

// "1xx" .. "5xx", then "other" (a status outside 100-599, or none sent).
inline constexpr std::size_t status_class_count = 6;
std::size_t status_class_index(unsigned status);
std::string_view status_class_label(std::size_t index);

// Why another placement served instead of the routed one (routing::FailoverReason without none,
// in its order less one).
inline constexpr std::size_t failover_kinds = 3;  // unhealthy, circuit_open, drained

// A duration histogram one worker writes: counts per bucket and the sum in nanoseconds, summed
// into a HistogramCounts at scrape time (the count is the buckets' total, so _count and the
// +Inf bucket always agree).
template <std::size_t N>
class DurationShard {
public:
    explicit DurationShard(const std::array<double, N>& bounds) {
        for (std::size_t i = 0; i < N; ++i) {
            bounds_ns_[i] = static_cast<std::int64_t>(bounds[i] * 1e9 + 0.5);
        }
    }
    void observe(std::chrono::nanoseconds duration) {
        const std::int64_t ns = duration.count() < 0 ? 0 : duration.count();
        std::size_t i = 0;
        while (i < N && ns > bounds_ns_[i]) {
            ++i;
        }
        buckets_[i].add(1);
        sum_ns_.add(static_cast<std::uint64_t>(ns));
    }
    void add_to(HistogramCounts& totals) const {
        for (std::size_t i = 0; i <= N; ++i) {
            totals.buckets[i] += buckets_[i].load();
        }
        totals.sum += static_cast<double>(sum_ns_.load()) / 1e9;
    }

private:
    std::array<std::int64_t, N> bounds_ns_{};
    std::array<OwnedCounter, N + 1> buckets_{};
    OwnedCounter sum_ns_;
};

// One worker's counters for one placement. Aligned so two workers' shards never share a line.
struct alignas(64) RequestShard {
    std::array<std::array<OwnedCounter, status_class_count>, outcome_count> requests{};
    DurationShard<request_duration_buckets.size()> duration{request_duration_buckets};
    DurationShard<router_duration_buckets.size()> router_duration{router_duration_buckets};
    OwnedCounter request_body_bytes;
    OwnedCounter response_body_bytes;
    // Counted on the routed placement's shard: requests it could not take, by reason.
    std::array<OwnedCounter, failover_kinds> failovers{};
};

// The sum of every worker's shard, at one scrape.
struct RequestTotals {
    std::array<std::array<std::uint64_t, status_class_count>, outcome_count> requests{};
    HistogramCounts duration{request_duration_buckets};
    HistogramCounts router_duration{router_duration_buckets};
    std::uint64_t request_body_bytes = 0;
    std::uint64_t response_body_bytes = 0;
    std::array<std::uint64_t, failover_kinds> failovers{};

    void add(const RequestShard& shard);
    // Requests of one outcome, whatever their status.
    std::uint64_t of(Outcome outcome) const;
};

// One placement's shards, one per worker, created by each worker the first time it needs one
// (workers prepare theirs when a table arrives, so requests find them ready).
class ShardedRequestCounters {
public:
    // Workers beyond this many would share shards; the router refuses more threads.
    static constexpr std::size_t max_shards = 256;

    ShardedRequestCounters() = default;
    ~ShardedRequestCounters();
    ShardedRequestCounters(const ShardedRequestCounters&) = delete;
    ShardedRequestCounters& operator=(const ShardedRequestCounters&) = delete;

    // Worker `index`'s shard; call on that worker's thread.
    RequestShard& shard(unsigned index) {
        RequestShard* existing = shards_[index % max_shards].load(std::memory_order_acquire);
        return existing != nullptr ? *existing : create(index % max_shards);
    }

    void add_to(RequestTotals& totals) const;
    RequestTotals totals() const {
        RequestTotals sum;
        add_to(sum);
        return sum;
    }

private:
    RequestShard& create(std::size_t slot);

    std::array<std::atomic<RequestShard*>, max_shards> shards_{};
};

}  // namespace cell::observability
