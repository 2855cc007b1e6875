#pragma once

#include <chrono>
#include <string>

namespace cell::demo {

// RFC 3339 in UTC with millisecond precision, e.g. 2024-05-01T12:34:56.789Z.
std::string format_rfc3339_millis(std::chrono::system_clock::time_point when);

}  // namespace cell::demo
