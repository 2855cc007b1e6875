#pragma once
// The send queue of one router connection, bounded to one waiting snapshot. Every snapshot is a
// whole config, so a router only ever needs the newest: a snapshot queued behind a write that
// has not finished replaces the one waiting there, and a slow router never builds a backlog.
// Together with the write in progress, a connection holds at most two snapshots.
//
// Thread safety: none; used by one session on its event-loop thread.

#include <optional>
#include <utility>

#include "cell/controlplane/fleet.hpp"

namespace cell::controlplane {

class RouterSessionOutbox {
public:
    // Queues `snapshot`; returns the waiting snapshot it replaced, if any (never sent).
    SnapshotConstPtr push(SnapshotConstPtr snapshot) {
        SnapshotConstPtr dropped = std::exchange(waiting_, std::move(snapshot));
        if (dropped) {
            ++dropped_;
        }
        return dropped;
    }

    // The snapshot to write next, or nullptr when nothing waits. The caller owns it from now on.
    SnapshotConstPtr take() { return std::exchange(waiting_, nullptr); }

    bool empty() const { return waiting_ == nullptr; }
    const SnapshotConstPtr& waiting() const { return waiting_; }
    // Snapshots replaced before they were written, since the connection opened.
    std::uint64_t dropped() const { return dropped_; }

private:
    SnapshotConstPtr waiting_;
    std::uint64_t dropped_ = 0;
};

}  // namespace cell::controlplane
