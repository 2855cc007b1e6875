#include "cell/controlplane/backoff.hpp"

#include <algorithm>

namespace cell::controlplane {

Backoff::Backoff(Duration initial, Duration max, std::uint64_t seed)
    : initial_(initial), max_(std::max(initial, max)), random_(seed) {}

Backoff::Duration Backoff::ceiling(unsigned attempt) const {
    Duration delay = initial_;
    for (unsigned i = 0; i < attempt && delay < max_; ++i) {
        delay *= 2;
    }
    return std::min(delay, max_);
}

Backoff::Duration Backoff::next_delay() {
    const Duration top = ceiling(attempt_);
    if (attempt_ < 64) {
        ++attempt_;
    }
    std::uniform_int_distribution<Duration::rep> pick(top.count() / 2, top.count());
    return Duration(pick(random_));
}

}  // namespace cell::controlplane
