#pragma once

#include <chrono>
#include <string>

namespace cell::util {

// RFC 3339 in UTC with milliseconds: "2026-11-26T09:10:11.123Z".
std::string format_rfc3339(std::chrono::system_clock::time_point time);

}  // namespace cell::util
