#pragma once
// JSON text -> Config. Checks syntax, JSON types and duplicate keys; semantic rules live in
// validate.hpp. Never throws.

#include <optional>
#include <string_view>

#include "cell/config/errors.hpp"
#include "cell/config/types.hpp"

namespace cell::config {

struct ParseResult {
    std::optional<Config> config;  // set only when errors is empty
    ConfigErrors errors;
    ConfigErrors warnings;  // e.g. unknown fields, which are ignored
};

// A config's routing table, nearly all of its bytes at a million keys, is read by a scanner
// for plain tables (src/config/routing_table_scanner.hpp) and the rest by the general parser;
// any table the scanner does not take is read the general way, so the result and every error
// are the same either way.
ParseResult parse_config(std::string_view json_text);

// The whole text through the general parser only: what parse_config must agree with (tests and
// the config fuzzer compare the two).
ParseResult parse_config_generally(std::string_view json_text);

}  // namespace cell::config
