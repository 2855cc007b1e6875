#include "cell/util/command_line.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>

#include "cell/config/duration.hpp"

namespace cell::util {

std::optional<unsigned> parse_unsigned(std::string_view text, unsigned min, unsigned max) {
    unsigned value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
        return std::nullopt;
    }
    return value;
}

std::optional<std::string> set_port(std::uint16_t& target, const std::string& value, std::uint16_t min) {
    const auto parsed = parse_unsigned(value, min, 65535);
    if (!parsed) {
        return fmt::format("must be a port number between {} and 65535", min);
    }
    target = static_cast<std::uint16_t>(*parsed);
    return std::nullopt;
}

std::optional<std::string> set_positive_duration(std::chrono::milliseconds& target, const std::string& value) {
    const auto parsed = config::parse_duration(value);
    if (!parsed || parsed->count() <= 0) {
        return "must be a positive duration such as 500ms, 10s or 1m";
    }
    target = *parsed;
    return std::nullopt;
}

std::optional<std::string> set_non_empty(std::string& target, const std::string& value) {
    if (value.empty()) {
        return "must not be empty";
    }
    target = value;
    return std::nullopt;
}

std::optional<std::string> set_seconds_or_duration(std::chrono::milliseconds& target, const std::string& value) {
    if (const auto seconds = parse_unsigned(value, 1, 86400)) {
        target = std::chrono::seconds(*seconds);
        return std::nullopt;
    }
    const auto parsed = config::parse_duration(value);
    if (!parsed || parsed->count() <= 0) {
        return "must be a positive number of seconds or a duration such as 500ms";
    }
    target = *parsed;
    return std::nullopt;
}

std::optional<std::uint64_t> parse_byte_size(std::string_view text) {
    std::uint64_t number = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, number);
    if (ptr == text.data() || ec != std::errc() || number == 0) {
        return std::nullopt;
    }
    std::string unit(ptr, end);
    std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::tolower(c); });
    struct Unit {
        std::string_view name;
        std::uint64_t factor;
    };
    static constexpr std::array<Unit, 8> units{{{"", 1},
                                                {"b", 1},
                                                {"kib", 1ull << 10},
                                                {"mib", 1ull << 20},
                                                {"gib", 1ull << 30},
                                                {"kb", 1000},
                                                {"mb", 1000 * 1000},
                                                {"gb", 1000 * 1000 * 1000}}};
    for (const auto& candidate : units) {
        if (unit == candidate.name) {
            if (number > std::numeric_limits<std::uint64_t>::max() / candidate.factor) {
                return std::nullopt;
            }
            return number * candidate.factor;
        }
    }
    return std::nullopt;
}

std::optional<std::string> set_byte_size(std::uint64_t& target, const std::string& value) {
    const auto parsed = parse_byte_size(value);
    if (!parsed) {
        return "must be a positive size in bytes, or with a unit: 65536, 64KiB, 64MiB, 32MB";
    }
    target = *parsed;
    return std::nullopt;
}

std::optional<std::string> set_on_off(bool& target, const std::string& value) {
    if (value == "on" || value == "true" || value == "1") {
        target = true;
        return std::nullopt;
    }
    if (value == "off" || value == "false" || value == "0") {
        target = false;
        return std::nullopt;
    }
    return "must be on or off";
}

}  // namespace cell::util
