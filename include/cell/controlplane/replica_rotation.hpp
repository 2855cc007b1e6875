#pragma once
// Which control-plane replica the router's client tries next, and whether it waits first.
//
// Each router walks the replicas in its own random order (a permutation drawn once at start):
// a fleet configured with the same list spreads over the replicas instead of piling onto the
// first, and when one replica dies its routers spread over the others instead of all moving to
// the one after it in the list.
//
// Attempts come in rounds. Within a round the next replica is tried at once: a replica that is
// down costs one failed connect, not a backoff delay, while another one is up. Once every
// replica was tried since the last pause (or since a healthy connection ended), the client waits
// out its jittered backoff before the next round. A healthy connection (one that stayed up for
// the backoff reset time) starts a new round, and the caller resets the backoff. With a single
// replica every attempt is a round of one: a wait after each failure, as before replica lists.
//
// Thread safety: none; one client owns one rotation.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cell::controlplane {

class ReplicaRotation {
public:
    // `replicas` >= 1.
    ReplicaRotation(std::size_t replicas, std::uint64_t seed);

    // Index, in the configured list, of the replica to try now.
    std::size_t current() const { return order_[position_]; }
    // The order the replicas are tried in (indexes into the configured list).
    const std::vector<std::size_t>& order() const { return order_; }

    // The attempt on current() ended; `healthy` when its connection stayed up long enough to count
    // as working. Moves to the next replica; true when the next attempt must wait out the backoff.
    bool advance(bool healthy);

private:
    std::vector<std::size_t> order_;
    std::size_t position_ = 0;
    std::size_t tried_ = 0;  // attempts since the last pause or healthy connection
};

}  // namespace cell::controlplane
