#include "cell/routing/snapshot.hpp"

#include <algorithm>
#include <iterator>

namespace cell::routing {

TablePublisher::TablePublisher(TableConstPtr initial) : table_(std::move(initial)) {}

std::uint64_t TablePublisher::publish(TableConstPtr table) {
    // Holding the mutex across store and notification keeps generations and notifications in
    // the same order when two publishers race, so no worker can end on an older table.
    std::uint64_t generation = 0;
    {
        std::lock_guard lock(mutex_);
        // A table published again is current, not retired.
        std::erase(retired_, table);
        retired_.push_back(table_.exchange(table, std::memory_order_acq_rel));
        generation = generation_.fetch_add(1, std::memory_order_acq_rel) + 1;
        for (const auto& subscriber : subscribers_) {
            subscriber(table, generation);
        }
    }
    release_retired();
    return generation;
}

std::size_t TablePublisher::release_retired() {
    std::vector<TableConstPtr> unused;
    {
        std::lock_guard lock(mutex_);
        // A retired table is no longer published, so only threads that already hold it can copy
        // it: a count of one (ours) cannot rise again.
        const auto still_used = std::partition(retired_.begin(), retired_.end(),
                                               [](const TableConstPtr& table) { return table.use_count() > 1; });
        std::move(still_used, retired_.end(), std::back_inserter(unused));
        retired_.erase(still_used, retired_.end());
    }
    // The other owners' last decrements happen before this thread frees the tables.
    std::atomic_thread_fence(std::memory_order_acquire);
    const std::size_t released = unused.size();
    unused.clear();  // outside the lock: publications need not wait for this
    return released;
}

std::size_t TablePublisher::retired_count() const {
    std::lock_guard lock(mutex_);
    return retired_.size();
}

void TablePublisher::subscribe(Subscriber subscriber) {
    std::lock_guard lock(mutex_);
    subscribers_.push_back(std::move(subscriber));
}

}  // namespace cell::routing
