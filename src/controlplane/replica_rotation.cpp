#include "cell/controlplane/replica_rotation.hpp"

#include <algorithm>
#include <numeric>
#include <random>

namespace cell::controlplane {

ReplicaRotation::ReplicaRotation(std::size_t replicas, std::uint64_t seed) : order_(std::max<std::size_t>(replicas, 1)) {
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    std::mt19937_64 random(seed);
    std::shuffle(order_.begin(), order_.end(), random);
}

bool ReplicaRotation::advance(bool healthy) {
    if (healthy) {
        tried_ = 0;
    }
    ++tried_;
    position_ = (position_ + 1) % order_.size();
    if (tried_ < order_.size()) {
        return false;
    }
    tried_ = 0;
    return true;
}

}  // namespace cell::controlplane
