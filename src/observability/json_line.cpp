#include "cell/observability/json_line.hpp"

#include <array>
#include <charconv>
#include <iterator>

namespace cell::observability {

namespace {

constexpr std::array<bool, 256> escaped_bytes = [] {
    std::array<bool, 256> table{};
    for (unsigned byte = 0; byte < 256; ++byte) {
        table[byte] = byte < 0x20 || byte >= 0x7f || byte == '"' || byte == '\\';
    }
    return table;
}();

bool needs_escape(unsigned char byte) { return escaped_bytes[byte]; }

// Numbers go through std::to_chars: fmt's format_to into a std::string cost about 800
// instructions per number, a third of formatting an access-log line.
template <typename... Format>
void append_number(std::string& out, auto value, Format... format) {
    // Room for the largest double in fixed notation: 309 digits, a sign, a point, 3 decimals.
    char digits[330];
    const auto written = std::to_chars(std::begin(digits), std::end(digits), value, format...);
    if (written.ec != std::errc{}) {
        out += "null";
        return;
    }
    out.append(digits, written.ptr);
}

}  // namespace

// Appends runs of plain characters whole: access-log values are almost all plain, and a
// character-at-a-time append cost more than the rest of formatting the line.
void append_json_string(std::string& out, std::string_view value) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    std::size_t plain_from = 0;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const auto byte = static_cast<unsigned char>(value[i]);
        if (!needs_escape(byte)) {
            continue;
        }
        out.append(value.data() + plain_from, i - plain_from);
        plain_from = i + 1;
        switch (byte) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: {
            // Control bytes, DEL, and bytes >= 0x80: header bytes are not guaranteed UTF-8, so
            // they are escaped and every line stays valid JSON.
            const char escaped[] = {'\\', 'u', '0', '0', hex[byte >> 4], hex[byte & 0xf]};
            out.append(escaped, sizeof escaped);
        }
        }
    }
    out.append(value.data() + plain_from, value.size() - plain_from);
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
    append_number(text_, value);
    return *this;
}

JsonLine& JsonLine::add(std::string_view k, std::uint64_t value) {
    key(k);
    append_number(text_, value);
    return *this;
}

JsonLine& JsonLine::add(std::string_view k, double value) {
    key(k);
    append_number(text_, value, std::chars_format::fixed, 3);
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
