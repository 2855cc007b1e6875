#pragma once
// What the requests served under one routing table came to: how many, how many ended in an
// error (a 5xx sent to the client, or a cell that failed), and how many of those the cell
// failed. Routers report these per config version to the control plane, which compares the
// canaries of a staged rollout against the rest of the fleet (docs/operations.md).
//
// Thread safety: record() from any worker, totals() from any thread. Each worker writes its
// own cache line (by worker index), so counting costs no line shared between cores.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace cell::routing {

struct VersionTotals {
    std::uint64_t requests = 0;
    std::uint64_t errors = 0;
    std::uint64_t upstream_failures = 0;
};

class VersionCounters {
public:
    void record(std::size_t worker, bool error, bool upstream_failure) {
        Shard& shard = shards_[worker % shard_count];
#ifdef CELLROUTER_SHARED_IO_CONTEXT
        const bool exclusive = false;  // every thread runs the one worker there
#else
        const bool exclusive = worker < shard_count;
#endif
        add(shard.requests, exclusive);
        if (error) {
            add(shard.errors, exclusive);
        }
        if (upstream_failure) {
            add(shard.upstream_failures, exclusive);
        }
    }

    VersionTotals totals() const {
        VersionTotals sum;
        for (const Shard& shard : shards_) {
            sum.requests += shard.requests.load(std::memory_order_relaxed);
            sum.errors += shard.errors.load(std::memory_order_relaxed);
            sum.upstream_failures += shard.upstream_failures.load(std::memory_order_relaxed);
        }
        return sum;
    }

private:
    // A shard with one writer takes a relaxed load and store (no locked instruction on the
    // request path); workers beyond shard_count share shards and add atomically.
    static void add(std::atomic<std::uint64_t>& counter, bool exclusive) {
        if (exclusive) {
            counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        } else {
            counter.fetch_add(1, std::memory_order_relaxed);
        }
    }

    static constexpr std::size_t shard_count = 64;
    struct alignas(64) Shard {
        std::atomic<std::uint64_t> requests{0};
        std::atomic<std::uint64_t> errors{0};
        std::atomic<std::uint64_t> upstream_failures{0};
    };
    std::array<Shard, shard_count> shards_{};
};

}  // namespace cell::routing
