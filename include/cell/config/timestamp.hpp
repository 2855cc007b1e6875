#pragma once
// Points in time written in a config (when a drain starts, when a pin expires): RFC 3339, so
// every router reads the same instant whatever its time zone.

#include <chrono>
#include <optional>
#include <string_view>

namespace cell::config {

using WallTime = std::chrono::system_clock::time_point;

// The latest year a config may name: the system clock counts nanoseconds in 64 bits, which
// ends in 2262, and a drain's start plus its ramp must still fit.
inline constexpr int latest_config_year = 2200;

// An RFC 3339 date-time ("2026-12-03T18:00:00Z", "2026-12-03T19:00:00.5+01:00"); nullopt when
// `text` is not one (or names a date that does not exist, or lies outside 1970..2200).
std::optional<WallTime> parse_rfc3339(std::string_view text);

}  // namespace cell::config
