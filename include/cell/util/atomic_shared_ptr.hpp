#pragma once
// The holder of every published snapshot (routing tables, config sources' statuses):
// std::atomic<std::shared_ptr<T>>, except in ThreadSanitizer builds.
//
// GCC 12's atomic<shared_ptr> guards its raw pointer with a spin lock kept in the low bit of the
// control-block pointer, and load() releases that lock with a relaxed store. TSan knows no such
// lock, so it reports every store that follows another thread's load as a race inside the
// library. Suppressing those reports is not enough: TSan symbolizes a report before it can match
// a suppression, which takes seconds the first time in a binary of this size, and it does so in
// the middle of store(), with the spin lock held. Every reader then spins until it is done: a
// router stopped answering /debug/config for over 10 s that way. Under TSan the holder is a
// mutex and a shared_ptr instead, an ordering TSan sees, so it checks everything around the
// publication and has nothing to suppress. The lock-free version itself is exercised by
// TablePublisher.ReadersSeeWholeTablesUnderConcurrentSwaps in every other build.

#include <atomic>
#include <memory>

#if defined(__SANITIZE_THREAD__)
#define CELL_THREAD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CELL_THREAD_SANITIZER 1
#endif
#endif

#ifdef CELL_THREAD_SANITIZER
#include <mutex>
#include <utility>
#endif

namespace cell::util {

#ifndef CELL_THREAD_SANITIZER

template <typename T>
using AtomicSharedPtr = std::atomic<std::shared_ptr<T>>;

#else

// The members of std::atomic<std::shared_ptr<T>> that the project uses, with the same meaning.
template <typename T>
class AtomicSharedPtr {
public:
    AtomicSharedPtr() = default;
    explicit AtomicSharedPtr(std::shared_ptr<T> value) : value_(std::move(value)) {}
    AtomicSharedPtr(const AtomicSharedPtr&) = delete;
    AtomicSharedPtr& operator=(const AtomicSharedPtr&) = delete;

    std::shared_ptr<T> load(std::memory_order = std::memory_order_seq_cst) const {
        std::lock_guard lock(mutex_);
        return value_;
    }
    void store(std::shared_ptr<T> value, std::memory_order = std::memory_order_seq_cst) {
        std::lock_guard lock(mutex_);
        value_.swap(value);
        // `value` (the previous snapshot) is released after the lock, as the library does.
    }
    std::shared_ptr<T> exchange(std::shared_ptr<T> value, std::memory_order = std::memory_order_seq_cst) {
        std::lock_guard lock(mutex_);
        value_.swap(value);
        return value;
    }

private:
    mutable std::mutex mutex_;
    std::shared_ptr<T> value_;
};

#endif

}  // namespace cell::util
