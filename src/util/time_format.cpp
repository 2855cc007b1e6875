#include "cell/util/time_format.hpp"

#include <ctime>

#include <fmt/format.h>

namespace cell::util {

std::string format_rfc3339(std::chrono::system_clock::time_point time) {
    using namespace std::chrono;
    const auto since_epoch = time.time_since_epoch();
    const auto secs = duration_cast<seconds>(since_epoch);
    auto millis = duration_cast<milliseconds>(since_epoch - secs).count();
    if (millis < 0) {
        millis += 1000;
    }
    const std::time_t t = secs.count() - (since_epoch.count() < 0 && millis != 0 ? 1 : 0);
    std::tm utc{};
    gmtime_r(&t, &utc);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                       utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, millis);
}

}  // namespace cell::util
