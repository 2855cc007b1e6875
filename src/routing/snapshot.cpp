#include "cell/routing/snapshot.hpp"

namespace cell::routing {

TablePublisher::TablePublisher(TableConstPtr initial) : table_(std::move(initial)) {}

std::uint64_t TablePublisher::publish(TableConstPtr table) {
    // Holding the mutex across store and notification keeps generations and notifications in
    // the same order when two publishers race, so no worker can end on an older table.
    std::lock_guard lock(mutex_);
    table_.store(table, std::memory_order_release);
    const auto generation = generation_.fetch_add(1, std::memory_order_acq_rel) + 1;
    for (const auto& subscriber : subscribers_) {
        subscriber(table, generation);
    }
    return generation;
}

void TablePublisher::subscribe(Subscriber subscriber) {
    std::lock_guard lock(mutex_);
    subscribers_.push_back(std::move(subscriber));
}

}  // namespace cell::routing
