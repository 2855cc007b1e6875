#pragma once
// The router-wide count of open client connections against `max_connections`. Every worker
// counts into the same object: the limit protects the process (its file descriptors and
// memory), not one core.
//
// Thread safety: every member may be called from any thread.

#include <atomic>
#include <cstdint>

namespace cell::resilience {

class ConnectionLimit {
public:
    class Slot;

    // Counts a new connection if fewer than `limit` are open; otherwise counts a refusal.
    Slot try_open(std::uint32_t limit);

    std::uint64_t open() const { return open_.load(std::memory_order_relaxed); }
    std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

private:
    void close() { open_.fetch_sub(1, std::memory_order_relaxed); }

    std::atomic<std::uint64_t> open_{0};
    std::atomic<std::uint64_t> refused_{0};
};

// One counted connection, released when the slot is destroyed. Empty when refused.
class ConnectionLimit::Slot {
public:
    Slot() = default;
    explicit Slot(ConnectionLimit* owner) : owner_(owner) {}
    Slot(Slot&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Slot& operator=(Slot&& other) noexcept {
        if (this != &other) {
            release();
            owner_ = other.owner_;
            other.owner_ = nullptr;
        }
        return *this;
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { release(); }

    explicit operator bool() const { return owner_ != nullptr; }

private:
    void release() {
        if (owner_ != nullptr) {
            owner_->close();
            owner_ = nullptr;
        }
    }
    ConnectionLimit* owner_ = nullptr;
};

inline ConnectionLimit::Slot ConnectionLimit::try_open(std::uint32_t limit) {
    // Count first, then check: two workers racing for the last place cannot both get it.
    if (open_.fetch_add(1, std::memory_order_relaxed) >= limit) {
        open_.fetch_sub(1, std::memory_order_relaxed);
        refused_.fetch_add(1, std::memory_order_relaxed);
        return Slot();
    }
    return Slot(this);
}

}  // namespace cell::resilience
