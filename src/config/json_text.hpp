#pragma once
// Text helpers shared by the config parser and validator (internal to src/config).

#include <cstddef>
#include <string>
#include <string_view>

namespace cell::config::detail {

// One reference token of a JSON pointer, escaped per RFC 6901: "~" -> "~0", "/" -> "~1".
std::string pointer_token(std::string_view key);

// "/" + pointer_token(key), appended to a parent pointer.
std::string child_pointer(std::string_view parent, std::string_view key);

// The text as a JSON string literal, so that quotes and control characters in a value cannot
// make an error message ambiguous or break a log line.
std::string quoted(std::string_view text);

// nlohmann's exception text made readable: "syntax error at byte 42 (line 3, column 7): while
// parsing object key - unexpected end of input; expected string literal".
std::string describe_syntax_error(std::size_t position, std::string_view what);

}  // namespace cell::config::detail
