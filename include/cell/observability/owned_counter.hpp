#pragma once
// A counter that one thread writes and any thread may read: the building block of the
// per-worker request counters. Beast-free.
//
// Thread safety: add() only from the owning thread (in the shared-io_context benchmark variant,
// from any thread); load() from any thread.

#include <atomic>
#include <cstdint>

namespace cell::observability {

class OwnedCounter {
public:
    // A relaxed load and store rather than fetch_add: with a single writer no update can be
    // lost, and the plain add costs no locked instruction on the request path. Other threads
    // see some recent value, which is all a scrape needs.
    void add(std::uint64_t n) noexcept {
#ifdef CELLROUTER_SHARED_IO_CONTEXT
        // Every thread runs the one worker there: the counter has several writers.
        value_.fetch_add(n, std::memory_order_relaxed);
#else
        value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
#endif
    }
    std::uint64_t load() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

}  // namespace cell::observability
