#pragma once
// Semantic checks of a parsed Config. Returns every error found, not just the first.

#include <cstdint>
#include <optional>
#include <string_view>

#include "cell/config/errors.hpp"
#include "cell/config/types.hpp"

namespace cell::config {

// Bounds of ProxySettingsOverrides::max_header_bytes accepted by validate_config.
inline constexpr std::uint32_t min_max_header_bytes = 1024;
inline constexpr std::uint32_t max_max_header_bytes = 1024 * 1024;
// Bounds of ProxySettingsOverrides::max_connections.
inline constexpr std::uint32_t min_max_connections = 1;
inline constexpr std::uint32_t max_max_connections = 10'000'000;

ConfigErrors validate_config(const Config& config);

// Parses an absolute http/https URL with a host (Boost.URL) into an Endpoint; the port defaults
// from the scheme. Paths other than "" or "/", queries, fragments and userinfo are rejected.
std::optional<Endpoint> parse_endpoint(std::string_view url);

}  // namespace cell::config
