#pragma once
// The routing table of a config text read without the general JSON parser (internal to
// src/config). A million-key table is almost all of a config's bytes, and nlohmann's lexer,
// which copies each string a character at a time, spent most of a second on it. The table is
// the plainest part of the document: one object of string keys and string values.
//
// The scanner takes only that plain case: the text is an object whose top-level "routingTable"
// member (once) is an object of ASCII strings without escapes, each key once. Anything else
// (an escape, a non-ASCII byte, a value of another type, a repeated key, a syntax error) gives
// nullopt, and the caller parses the whole text the general way, so every error is reported
// exactly as before. The rest of the document is not checked here: the caller parses it.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cell::config::detail {

struct ScannedRoutingTable {
    std::size_t begin = 0;  // the object's first byte ('{') in the text
    std::size_t end = 0;    // one past its last byte ('}')
    std::vector<std::pair<std::string, std::string>> rows;  // in the text's order
};

std::optional<ScannedRoutingTable> scan_routing_table(std::string_view text);

}  // namespace cell::config::detail
