#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cell::demo {

struct TargetParts {
  std::string_view path;   // everything before the first '?', byte-exact
  std::string_view query;  // everything after it, without the '?'; empty when absent
};

TargetParts split_target(std::string_view target);

// Decodes %XX escapes and '+' (form encoding); malformed escapes are kept literally.
std::string percent_decode(std::string_view text);

// First value of `name` in a raw query string; a bare `name` yields "".
std::optional<std::string> find_query_param(std::string_view query, std::string_view name);

}  // namespace cell::demo
