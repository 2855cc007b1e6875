#include "cell/util/command_line.hpp"

#include <charconv>

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

}  // namespace cell::util
