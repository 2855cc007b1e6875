#pragma once
// Cell operations as the routing table applies them (docs/operations.md): a drain moves a share
// of a placement's requests to another placement, a pin sends one key elsewhere, a pause answers
// one key without any cell. Each rule is decided from the time written in the config and the
// current time, so every router agrees without talking to the others, and an expired rule stops
// applying everywhere at the same moment.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "cell/config/types.hpp"

namespace cell::routing {

// A drain of one placement, with its target resolved to an index into Table::placements().
struct DrainRule {
    std::uint32_t target = 0;
    config::WallTime start;
    config::Duration ramp{0};
    double from_share = 0;
    double to_share = 1;
    std::string reason;

    // The share of the placement's requests moved at `now`: from_share until start, to_share
    // from start + ramp on, linear in between.
    double share_at(config::WallTime now) const;
};

struct PinRule {
    std::uint32_t placement = 0;
    config::WallTime expires;
    std::string reason;
};

struct PauseRule {
    config::WallTime until;
    config::Duration retry_after{30'000};
    std::string reason;
};

// Where routing key `key` stands in the drains of placement `placement`: a number in [0, 1)
// from a hash of both (FNV-1a, the same on every router and every build). A drain moves the
// keys below its share, so as the share grows a key moves once and stays moved, and as it
// shrinks (an undrain) a key comes back once.
double drain_position(std::string_view placement, std::string_view key);

}  // namespace cell::routing
