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
// A point in time written in the config (RFC 3339 in the file), the same instant on every router.
using WallTime = std::chrono::system_clock::time_point;

// An upstream base URL split into the parts the proxy needs to connect.
struct Endpoint {
    std::string url;     // as written in the config, e.g. "http://cell-tier1:9001"
    std::string scheme;  // "http" or "https"
    std::string host;    // host name or IP literal, without brackets
    std::uint16_t port = 0;  // explicit port, or 80/443 from the scheme
    // host[:port] as a Host header names the cell (IPv6 in brackets, the scheme's default port
    // left out): sent when the client's request carried no Host of its own.
    std::string authority;
};

enum class PlacementKind { shared_tier, dedicated };

// Active health checking of one placement (M4). Integers are kept signed as written so that
// validation can report a negative value instead of the parser wrapping it.
struct HealthCheck {
    std::string path = "/health";
    Duration interval = std::chrono::seconds(10);
    Duration timeout = std::chrono::seconds(2);
    std::int64_t healthy_threshold = 2;
    std::int64_t unhealthy_threshold = 3;
};

struct CircuitBreaker {
    std::int64_t failure_threshold = 5;
    Duration timeout = std::chrono::seconds(30);  // how long the breaker stays open
};

struct RateLimit {
    double requests_per_second = 0;
    std::optional<std::int64_t> burst;  // unset: one second's worth of requests
};

struct Placement {
    std::string name;
    Endpoint endpoint;
    // Decided at load time: `declared_kind` when the config says "type", else the name rule.
    PlacementKind kind = PlacementKind::shared_tier;
    std::optional<PlacementKind> declared_kind;
    // Resilience policy (the "placements" format only); everything unset means "not limited".
    std::string fallback;  // empty: none
    std::optional<HealthCheck> health_check;
    std::optional<CircuitBreaker> circuit_breaker;
    std::optional<std::int64_t> concurrency_limit;
    std::optional<std::int64_t> max_request_body_bytes;
    std::optional<RateLimit> rate_limit;
    std::optional<Duration> connect_timeout;   // else the proxy-wide connect_timeout
    std::optional<Duration> response_timeout;  // else the proxy-wide request_timeout
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
    std::optional<std::uint32_t> max_connections;
};

// ---- Cell operations (docs/operations.md), in the config so that every router agrees and they
// survive restarts and control-plane outages. Times are absolute: no router keeps a timer.

// A placement's requests moved towards `to`, the share growing (or shrinking) linearly from
// `from_share` at `start` to `to_share` at start + ramp; which requests move is decided by a
// hash of the routing key, so a key moves once and stays moved.
inline constexpr Duration longest_drain_ramp = std::chrono::hours(7 * 24);
struct Drain {
    std::string placement;
    std::string to;  // "" = the placement's fallback
    WallTime start;
    Duration ramp{0};
    double from_share = 0;
    double to_share = 1;
    std::string reason;
};

// One routing key sent to another placement until `expires`.
struct Pin {
    std::string key;
    std::string placement;
    WallTime expires;
    std::string reason;
};

// One routing key answered 503 with Retry-After, without reaching any cell, until `until`.
struct Pause {
    std::string key;
    WallTime until;
    Duration retry_after = std::chrono::seconds(30);
    std::string reason;
};

struct Operations {
    std::vector<Drain> drains;
    std::vector<Pin> pins;
    std::vector<Pause> pauses;

    bool empty() const { return drains.empty() && pins.empty() && pauses.empty(); }
};

struct Config {
    std::string version;
    // routing key -> placement name, in file order.
    std::vector<std::pair<std::string, std::string>> routing_table;
    // placement name -> endpoint and policy, in file order: "cellEndpoints" (M1 format, a URL
    // per placement) or "placements" (M4 format, an object per placement).
    std::vector<Placement> placements;
    std::string placements_field = "cellEndpoints";
    std::string default_placement;
    ProxySettingsOverrides proxy;
    Operations operations;
};

}  // namespace cell::config
