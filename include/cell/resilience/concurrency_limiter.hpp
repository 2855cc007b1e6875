#pragma once
// Per-placement limit on requests in flight, exact across all workers: a CAS loop admits a
// request only while the count is below the limit, so it never over-admits (as a fetch_add
// followed by an undo would, briefly) and never refuses a request that fits. ConcurrencySlot
// releases the slot on every exit path of a request.
//
// Thread safety: ConcurrencyLimiter may be used from any thread (atomics only, no lock, no
// allocation). A ConcurrencySlot belongs to one request; it may be moved, not shared.

#include <atomic>
#include <cassert>
#include <cstdint>
#include <utility>

namespace cell::resilience {

class ConcurrencySlot;

class ConcurrencyLimiter {
public:
    // True when the request may go ahead; it must then call release() exactly once. The limit is
    // passed in because a reload may change it; lowering it below in_flight() refuses new
    // requests until enough have finished. A limit of 0 admits nothing.
    bool try_acquire(std::uint32_t limit) {
        std::uint32_t current = in_flight_.load(std::memory_order_relaxed);
        do {
            if (current >= limit) {
                return false;
            }
        } while (!in_flight_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
        return true;
    }

    void release() {
        [[maybe_unused]] const std::uint32_t before = in_flight_.fetch_sub(1, std::memory_order_relaxed);
        assert(before > 0 && "release() without a matching try_acquire()");
    }

    std::uint32_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

    // try_acquire() wrapped in a guard: empty when refused.
    ConcurrencySlot try_acquire_slot(std::uint32_t limit);

private:
    // Relaxed: the count guards no other data, and the CAS on one atomic is exact on its own.
    std::atomic<std::uint32_t> in_flight_{0};
};

// Owns one acquired slot of a ConcurrencyLimiter and releases it when destroyed. A null limiter
// means there is nothing to release (refused, moved from, or released early).
// NOTE: the limiter must outlive the slot; the per-placement state that holds it must stay
// alive until every request pinned to it has finished.
class ConcurrencySlot {
public:
    ConcurrencySlot() = default;
    // Adopts a slot already taken with limiter->try_acquire().
    explicit ConcurrencySlot(ConcurrencyLimiter* limiter) : limiter_(limiter) {}

    ConcurrencySlot(ConcurrencySlot&& other) noexcept : limiter_(std::exchange(other.limiter_, nullptr)) {}
    ConcurrencySlot& operator=(ConcurrencySlot&& other) noexcept {
        if (this != &other) {
            release();
            limiter_ = std::exchange(other.limiter_, nullptr);
        }
        return *this;
    }
    ConcurrencySlot(const ConcurrencySlot&) = delete;
    ConcurrencySlot& operator=(const ConcurrencySlot&) = delete;

    ~ConcurrencySlot() { release(); }

    // Gives the slot back now rather than at destruction; later calls do nothing.
    void release() {
        if (limiter_ != nullptr) {
            std::exchange(limiter_, nullptr)->release();
        }
    }

    bool holds_slot() const { return limiter_ != nullptr; }
    explicit operator bool() const { return holds_slot(); }

private:
    ConcurrencyLimiter* limiter_ = nullptr;
};

inline ConcurrencySlot ConcurrencyLimiter::try_acquire_slot(std::uint32_t limit) {
    return try_acquire(limit) ? ConcurrencySlot(this) : ConcurrencySlot();
}

}  // namespace cell::resilience
