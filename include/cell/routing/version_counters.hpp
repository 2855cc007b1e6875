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
        shard.requests.fetch_add(1, std::memory_order_relaxed);
        if (error) {
            shard.errors.fetch_add(1, std::memory_order_relaxed);
        }
        if (upstream_failure) {
            shard.upstream_failures.fetch_add(1, std::memory_order_relaxed);
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
    // Workers beyond this many share shards; the adds are atomic, so the sums stay exact.
    static constexpr std::size_t shard_count = 16;
    struct alignas(64) Shard {
        std::atomic<std::uint64_t> requests{0};
        std::atomic<std::uint64_t> errors{0};
        std::atomic<std::uint64_t> upstream_failures{0};
    };
    std::array<Shard, shard_count> shards_{};
};

}  // namespace cell::routing
