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

ParseResult parse_config(std::string_view json_text);

}  // namespace cell::config
