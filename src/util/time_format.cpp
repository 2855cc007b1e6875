#include "cell/util/time_format.hpp"

#include <ctime>
#include <string>

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
    // Every log line carries one: written digit by digit, it costs a tenth of fmt::format. The
    // clock counts nanoseconds in 64 bits, so its years are 1677 to 2262: always four digits.
    std::string text = "0000-00-00T00:00:00.000Z";
    const auto put = [&text](std::size_t at, int value, int width) {
        for (int i = width - 1; i >= 0; --i, value /= 10) {
            text[at + static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
        }
    };
    put(0, utc.tm_year + 1900, 4);
    put(5, utc.tm_mon + 1, 2);
    put(8, utc.tm_mday, 2);
    put(11, utc.tm_hour, 2);
    put(14, utc.tm_min, 2);
    put(17, utc.tm_sec, 2);
    put(20, static_cast<int>(millis), 3);
    return text;
}

}  // namespace cell::util
