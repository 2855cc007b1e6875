#include "cell/config/duration.hpp"

#include <cstdint>
#include <limits>

namespace cell::config {
namespace {

// Milliseconds per unit, largest first so that format_duration picks the shortest spelling.
struct Unit {
    std::string_view suffix;
    std::int64_t millis;
};

constexpr Unit units_by_size[] = {{"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}};

std::optional<std::int64_t> unit_millis(std::string_view suffix) {
    for (const Unit& unit : units_by_size) {
        if (unit.suffix == suffix) {
            return unit.millis;
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
    constexpr std::int64_t max = std::numeric_limits<Duration::rep>::max();
    std::size_t digits = 0;
    std::int64_t count = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
        const int digit = text[digits] - '0';
        if (count > (max - digit) / 10) {
            return std::nullopt;
        }
        count = count * 10 + digit;
        ++digits;
    }
    if (digits == 0) {
        return std::nullopt;
    }
    const std::optional<std::int64_t> millis = unit_millis(text.substr(digits));
    if (!millis || count > max / *millis) {
        return std::nullopt;
    }
    return Duration{count * *millis};
}

std::string format_duration(Duration duration) {
    const std::int64_t millis = duration.count();
    if (millis == 0) {
        return "0s";
    }
    // Unsigned magnitude: negating the most negative value would overflow.
    const std::uint64_t magnitude = millis < 0 ? 0 - static_cast<std::uint64_t>(millis)
                                               : static_cast<std::uint64_t>(millis);
    const std::string sign = millis < 0 ? "-" : "";
    for (const Unit& unit : units_by_size) {
        const auto size = static_cast<std::uint64_t>(unit.millis);
        if (magnitude % size == 0) {
            return sign + std::to_string(magnitude / size) + std::string(unit.suffix);
        }
    }
    return sign + std::to_string(magnitude) + "ms";  // unreachable: every count divides by 1 ms
}

}  // namespace cell::config
