#include "cell/config/timestamp.hpp"

namespace cell::config {
namespace {

// Reads exactly `digits` decimal digits at text[at]; -1 when they are not there.
int read_number(std::string_view text, std::size_t at, int digits) {
    if (at + static_cast<std::size_t>(digits) > text.size()) {
        return -1;
    }
    int value = 0;
    for (int i = 0; i < digits; ++i) {
        const char c = text[at + static_cast<std::size_t>(i)];
        if (c < '0' || c > '9') {
            return -1;
        }
        value = value * 10 + (c - '0');
    }
    return value;
}

bool is_leap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
    static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) {
    using namespace std::chrono;
    // YYYY-MM-DDTHH:MM:SS
    if (text.size() < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') ||
        text[13] != ':' || text[16] != ':') {
        return std::nullopt;
    }
    const int year = read_number(text, 0, 4);
    const int month = read_number(text, 5, 2);
    const int day = read_number(text, 8, 2);
    const int hour = read_number(text, 11, 2);
    const int minute = read_number(text, 14, 2);
    const int second = read_number(text, 17, 2);
    if (year < 1970 || year > latest_config_year || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour < 0 ||
        hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) {
        return std::nullopt;
    }
    std::size_t at = 19;
    nanoseconds fraction{0};
    if (at < text.size() && text[at] == '.') {
        ++at;
        std::int64_t scale = 100'000'000;
        const std::size_t first = at;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
            fraction += nanoseconds(scale * (text[at] - '0'));
            scale /= 10;
            ++at;
        }
        if (at == first) {
            return std::nullopt;
        }
    }
    minutes offset{0};
    if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
        ++at;
    } else if (at + 6 == text.size() && (text[at] == '+' || text[at] == '-') && text[at + 3] == ':') {
        const int offset_hours = read_number(text, at + 1, 2);
        const int offset_minutes = read_number(text, at + 4, 2);
        if (offset_hours < 0 || offset_hours > 23 || offset_minutes < 0 || offset_minutes > 59) {
            return std::nullopt;
        }
        offset = minutes(offset_hours * 60 + offset_minutes) * (text[at] == '-' ? -1 : 1);
        at += 6;
    } else {
        return std::nullopt;
    }
    if (at != text.size()) {
        return std::nullopt;
    }
    const sys_days date = year_month_day{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
    const auto time = date + hours(hour) + minutes(minute) + seconds(second) - offset;
    return time_point_cast<system_clock::duration>(time + fraction);
}

}  // namespace cell::config
