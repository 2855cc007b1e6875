#include "routing_table_scanner.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

#include "routing_key_index.hpp"

namespace cell::config::detail {
namespace {

constexpr bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The bytes that end a plain string or make it not plain: the closing quote, an escape, control
// characters (not allowed in a JSON string) and non-ASCII bytes (whose UTF-8 the general parser
// checks).
constexpr std::array<bool, 256> string_stops = [] {
    std::array<bool, 256> stops{};
    for (int c = 0; c < 256; ++c) {
        stops[static_cast<std::size_t>(c)] = c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
    }
    return stops;
}();

class Cursor {
public:
    explicit Cursor(std::string_view text) : text_(text) {}

    std::size_t position() const { return at_; }
    std::size_t remaining_quotes() const {
        return static_cast<std::size_t>(std::count(text_.begin() + static_cast<std::ptrdiff_t>(at_), text_.end(), '"'));
    }

    void skip_space() {
        while (at_ < text_.size() && is_space(text_[at_])) {
            ++at_;
        }
    }

    bool take(char expected) {
        if (at_ < text_.size() && text_[at_] == expected) {
            ++at_;
            return true;
        }
        return false;
    }

    // The contents of a plain string whose opening quote was just taken; nullopt when it is not
    // plain or not closed.
    std::optional<std::string_view> plain_string() {
        const std::size_t begin = at_;
        while (at_ < text_.size() && !string_stops[static_cast<unsigned char>(text_[at_])]) {
            ++at_;
        }
        if (at_ == text_.size() || text_[at_] != '"') {
            return std::nullopt;
        }
        return text_.substr(begin, at_++ - begin);
    }

    // Steps over one value of any type without checking it (the general parser reads it later);
    // false when the text ends first or a bracket closes nothing.
    bool skip_value() {
        if (at_ == text_.size()) {
            return false;
        }
        const char first = text_[at_];
        if (first == '"') {
            ++at_;
            return skip_string();
        }
        if (first == '{' || first == '[') {
            ++at_;
            std::size_t depth = 1;
            while (at_ < text_.size()) {
                const char c = text_[at_++];
                if (c == '"') {
                    if (!skip_string()) {
                        return false;
                    }
                } else if (c == '{' || c == '[') {
                    ++depth;
                } else if ((c == '}' || c == ']') && --depth == 0) {
                    return true;
                }
            }
            return false;
        }
        const std::size_t begin = at_;  // a number or a literal: up to the next delimiter
        while (at_ < text_.size() && !is_space(text_[at_]) && text_[at_] != ',' && text_[at_] != '}' &&
               text_[at_] != ']') {
            ++at_;
        }
        return at_ > begin;
    }

private:
    bool skip_string() {
        while (at_ < text_.size()) {
            const char c = text_[at_++];
            if (c == '\\') {
                if (at_ == text_.size()) {
                    return false;
                }
                ++at_;
            } else if (c == '"') {
                return true;
            }
        }
        return false;
    }

    std::string_view text_;
    std::size_t at_ = 0;
};

// Reads the routing table's object, starting at its '{'; false when it is not plain.
bool read_table(Cursor& in, ScannedRoutingTable& table) {
    if (!in.take('{')) {
        return false;
    }
    in.skip_space();
    if (in.take('}')) {
        return true;
    }
    // A plain table has four quotes a row; the rest of the document adds a few more. Counted
    // first so that the rows are allocated once.
    table.rows.reserve(in.remaining_quotes() / 4);
    RoutingKeyIndex index(table.rows.capacity());
    // Each row goes into the index this many rows after it was read and prepared, so that the
    // cache misses of its slot overlap with reading the rows in between.
    constexpr std::size_t behind = 8;
    std::array<std::uint32_t, behind> hashes{};
    const auto insert_row = [&](std::size_t row) { return index.insert(table.rows, row, hashes[row % behind]); };
    while (true) {
        if (!in.take('"')) {
            return false;
        }
        const auto key = in.plain_string();
        if (!key) {
            return false;
        }
        in.skip_space();
        if (!in.take(':')) {
            return false;
        }
        in.skip_space();
        if (!in.take('"')) {
            return false;
        }
        const auto placement = in.plain_string();
        if (!placement) {
            return false;
        }
        const std::size_t row = table.rows.size();
        if (row >= behind && !insert_row(row - behind)) {
            return false;  // a repeated key: the general parser names it
        }
        hashes[row % behind] = index.prepare(*key);
        table.rows.emplace_back(*key, *placement);
        in.skip_space();
        if (in.take(',')) {
            in.skip_space();
            continue;
        }
        if (!in.take('}')) {
            return false;
        }
        // The last rows, still waiting for their insert.
        const std::size_t rows = table.rows.size();
        for (std::size_t row = rows > behind ? rows - behind : 0; row < rows; ++row) {
            if (!insert_row(row)) {
                return false;
            }
        }
        return true;
    }
}

}  // namespace

std::optional<ScannedRoutingTable> scan_routing_table(std::string_view text) {
    Cursor in(text);
    in.skip_space();
    if (!in.take('{')) {
        return std::nullopt;
    }
    in.skip_space();
    if (in.take('}')) {
        return std::nullopt;
    }
    std::optional<ScannedRoutingTable> found;
    while (true) {
        in.skip_space();
        if (!in.take('"')) {
            return std::nullopt;
        }
        // A member name with an escape could spell "routingTable": not plain.
        const auto key = in.plain_string();
        if (!key) {
            return std::nullopt;
        }
        in.skip_space();
        if (!in.take(':')) {
            return std::nullopt;
        }
        in.skip_space();
        if (*key == "routingTable") {
            if (found) {
                return std::nullopt;
            }
            found.emplace();
            found->begin = in.position();
            if (!read_table(in, *found)) {
                return std::nullopt;
            }
            found->end = in.position();
        } else if (!in.skip_value()) {
            return std::nullopt;
        }
        in.skip_space();
        if (in.take(',')) {
            continue;
        }
        if (in.take('}')) {
            return found;
        }
        return std::nullopt;
    }
}

}  // namespace cell::config::detail
