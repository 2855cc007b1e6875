#include "cell/observability/json_line.hpp"

#include <fmt/format.h>

namespace cell::observability {

void append_json_string(std::string& out, std::string_view value) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    for (const char c : value) {
        const auto byte = static_cast<unsigned char>(c);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (byte < 0x20 || byte == 0x7f) {
                out += "\\u00";
                out.push_back(hex[byte >> 4]);
                out.push_back(hex[byte & 0xf]);
            } else if (byte >= 0x80) {
                // Header bytes are not guaranteed UTF-8; escape them so every line stays valid JSON.
                out += "\\u00";
                out.push_back(hex[byte >> 4]);
                out.push_back(hex[byte & 0xf]);
            } else {
                out.push_back(c);
            }
        }
    }
    out.push_back('"');
}

void JsonLine::key(std::string_view key) {
    if (text_.size() > 1) {
        text_.push_back(',');
    }
    append_json_string(text_, key);
    text_.push_back(':');
}

JsonLine& JsonLine::add(std::string_view k, std::string_view value) {
    key(k);
    append_json_string(text_, value);
    return *this;
}

JsonLine& JsonLine::add(std::string_view k, std::int64_t value) {
    key(k);
    fmt::format_to(std::back_inserter(text_), "{}", value);
    return *this;
}

JsonLine& JsonLine::add(std::string_view k, std::uint64_t value) {
    key(k);
    fmt::format_to(std::back_inserter(text_), "{}", value);
    return *this;
}

JsonLine& JsonLine::add(std::string_view k, double value) {
    key(k);
    fmt::format_to(std::back_inserter(text_), "{:.3f}", value);
    return *this;
}

JsonLine& JsonLine::add(std::string_view k, bool value) {
    key(k);
    text_ += value ? "true" : "false";
    return *this;
}

JsonLine& JsonLine::add_raw(std::string_view k, std::string_view json) {
    key(k);
    text_ += json;
    return *this;
}

std::string JsonLine::finish() && {
    text_.push_back('}');
    return std::move(text_);
}

}  // namespace cell::observability
