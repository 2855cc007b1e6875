#include "cell_timestamp.hpp"

#include <cstdio>
#include <ctime>

namespace cell::demo {

std::string format_rfc3339_millis(std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  // Floor (not truncation toward zero) keeps pre-1970 instants on the right second.
  const auto since_epoch_ms = floor<milliseconds>(when.time_since_epoch());
  const auto seconds_part = floor<seconds>(since_epoch_ms);
  const auto millis = (since_epoch_ms - seconds_part).count();
  const std::time_t whole = static_cast<std::time_t>(seconds_part.count());
  std::tm utc{};
  gmtime_r(&whole, &utc);
  char text[64];  // sized for any int year, which keeps -Wformat-truncation quiet
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  return text;
}

}  // namespace cell::demo
