#pragma once
// The single publication point of the routing table. Publishers (the file poller, later the
// control-plane client) store a new immutable Table; readers on the request path never load
// it directly but keep a per-worker copy that subscribers refresh (docs/architecture.md).
//
// Thread safety: every member may be called from any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "cell/routing/table.hpp"
#include "cell/util/atomic_shared_ptr.hpp"

namespace cell::routing {

class TablePublisher {
public:
    // Called after each publication with the new table, on the publisher's thread. Workers
    // subscribe with a function that posts the table to their own event loop.
    using Subscriber = std::function<void(const TableConstPtr&, std::uint64_t generation)>;

    explicit TablePublisher(TableConstPtr initial);

    // Makes `table` current for every new request and notifies subscribers. Returns the new
    // generation number (1 for the initial table, +1 per publication).
    std::uint64_t publish(TableConstPtr table);

    TableConstPtr current() const { return table_.load(std::memory_order_acquire); }
    std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

    void subscribe(Subscriber subscriber);

    // Frees the replaced tables that nobody uses any more; returns how many. Freeing a large
    // table takes a while (a quarter of a second at a million keys), and whichever thread drops
    // the last reference pays for it: the publisher keeps one to every replaced table so that
    // this thread is never a worker. publish() calls it; the router's main loop also does,
    // every second, so an old table does not outlive its last request by much.
    std::size_t release_retired();
    std::size_t retired_count() const;

private:
    util::AtomicSharedPtr<const Table> table_;
    std::atomic<std::uint64_t> generation_{1};
    mutable std::mutex mutex_;  // orders publications and guards subscribers_ and retired_
    std::vector<Subscriber> subscribers_;
    std::vector<TableConstPtr> retired_;
};

}  // namespace cell::routing
