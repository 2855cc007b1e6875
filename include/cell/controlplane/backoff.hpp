#pragma once
// Reconnect delays for the router's control-plane client: exponential from `initial`, capped
// at `max`, each delay drawn uniformly from [d/2, d] so a fleet that lost its control plane at
// the same moment does not reconnect in lockstep. reset() after a healthy connection.
//
// Thread safety: none; one client owns one Backoff.

#include <chrono>
#include <cstdint>
#include <random>

namespace cell::controlplane {

class Backoff {
public:
    using Duration = std::chrono::milliseconds;

    Backoff(Duration initial, Duration max, std::uint64_t seed);

    // The delay before the next attempt; each call doubles the ceiling up to `max`.
    Duration next_delay();
    void reset() { attempt_ = 0; }
    unsigned attempt() const { return attempt_; }

    // The ceiling for attempt n (before jitter): min(max, initial * 2^n).
    Duration ceiling(unsigned attempt) const;

private:
    Duration initial_;
    Duration max_;
    unsigned attempt_ = 0;
    std::mt19937_64 random_;
};

}  // namespace cell::controlplane
