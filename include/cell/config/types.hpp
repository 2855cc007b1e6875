#pragma once
// Plain data model of a routing configuration, as read from a file or a control-plane snapshot.
// No behaviour lives here: parse.hpp builds it, validate.hpp checks it, routing::Table serves it.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cell::config {

using Duration = std::chrono::milliseconds;

// An upstream base URL split into the parts the proxy needs to connect.
struct Endpoint {
    std::string url;     // as written in the config, e.g. "http://cell-tier1:9001"
    std::string scheme;  // "http" or "https"
    std::string host;    // host name or IP literal, without brackets
    std::uint16_t port = 0;  // explicit port, or 80/443 from the scheme
};

enum class PlacementKind { shared_tier, dedicated };

struct Placement {
    std::string name;
    Endpoint endpoint;
    PlacementKind kind = PlacementKind::shared_tier;
};

// Limits and timeouts of the data plane. Each is optional in the file; a command-line flag
// overrides the file, and a built-in default applies when neither sets it (proxy_settings.hpp).
struct ProxySettingsOverrides {
    std::optional<std::uint32_t> max_header_bytes;
    std::optional<Duration> header_timeout;
    std::optional<Duration> idle_timeout;
    std::optional<Duration> connect_timeout;
    std::optional<Duration> request_timeout;
    std::optional<Duration> drain_timeout;
};

struct Config {
    std::string version;
    // routing key -> placement name, in file order.
    std::vector<std::pair<std::string, std::string>> routing_table;
    // placement name -> endpoint, in file order ("cellEndpoints" in the seed's format).
    std::vector<Placement> placements;
    std::string default_placement;
    ProxySettingsOverrides proxy;
};

}  // namespace cell::config
