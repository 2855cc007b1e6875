#pragma once
// Durations as written in config files and flags: "500ms", "10s", "1m", "1h".

#include <optional>
#include <string>
#include <string_view>

#include "cell/config/types.hpp"

namespace cell::config {

// Parses "<digits><unit>" with unit one of ms, s, m, h. Returns nullopt on anything else
// (no unit, negative, fractional, overflow, trailing characters).
std::optional<Duration> parse_duration(std::string_view text);

// The shortest exact spelling: 1500ms -> "1500ms", 10000ms -> "10s", 60000ms -> "1m".
std::string format_duration(Duration duration);

}  // namespace cell::config
