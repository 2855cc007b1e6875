#include "cell/config/validate.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "cell/config/duration.hpp"
#include "json_text.hpp"

namespace cell::config {
namespace {

namespace urls = boost::urls;

struct EndpointCheck {
    std::optional<Endpoint> endpoint;
    const char* problem = nullptr;  // set when endpoint is not
};

EndpointCheck reject(const char* problem) { return {std::nullopt, problem}; }

// 1..65535 as plain digits; nullopt for anything else, including an empty port after ":".
std::optional<std::uint16_t> explicit_port(const urls::url_view& url) {
    const std::string_view text = url.port();
    if (text.empty() || text.size() > 5 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    const unsigned long value = std::stoul(std::string(text));
    if (value < 1 || value > 65535) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(value);
}

EndpointCheck check_endpoint(std::string_view text) {
    constexpr const char* not_http = "not an absolute http(s) URL with a host";
    const auto parsed = urls::parse_uri(text);
    if (!parsed) {
        return reject(not_http);
    }
    const urls::url_view& url = *parsed;
    const bool http = url.scheme_id() == urls::scheme::http;
    if ((!http && url.scheme_id() != urls::scheme::https) || !url.has_authority()) {
        return reject(not_http);
    }
    const std::string_view host = url.encoded_host_address();
    // The host goes to the resolver and into the Host header as written, so no %-escapes.
    if (host.empty() || host.find('%') != std::string_view::npos ||
        url.host_type() == urls::host_type::ipvfuture) {
        return reject(not_http);
    }
    if (url.has_userinfo()) {
        return reject("URL must not contain userinfo");
    }
    // The router forwards the client's request target byte-exact and never prefixes it, so a
    // base path (or query) here would be silently dropped: reject it rather than mislead.
    if (url.encoded_path() != "" && url.encoded_path() != "/") {
        return reject("URL path must be empty or \"/\"");
    }
    if (url.has_query()) {
        return reject("URL must not contain a query");
    }
    if (url.has_fragment()) {
        return reject("URL must not contain a fragment");
    }
    Endpoint endpoint;
    endpoint.url = std::string(text);
    endpoint.scheme = http ? "http" : "https";
    endpoint.host = std::string(host);
    endpoint.port = http ? 80 : 443;
    if (url.has_port()) {
        const std::optional<std::uint16_t> port = explicit_port(url);
        if (!port) {
            return reject("port must be between 1 and 65535");
        }
        endpoint.port = *port;
    }
    endpoint.authority = url.host_type() == urls::host_type::ipv6 ? "[" + endpoint.host + "]" : endpoint.host;
    if (endpoint.port != (http ? 80 : 443)) {
        endpoint.authority += ':' + std::to_string(endpoint.port);
    }
    return {std::move(endpoint), nullptr};
}

using Names = std::unordered_set<std::string_view>;

void check_at_least(std::int64_t value, std::int64_t minimum, const std::string& pointer, ConfigErrors& errors) {
    if (value < minimum) {
        errors.push_back({pointer, "must be at least " + std::to_string(minimum) + ", got " + std::to_string(value)});
    }
}

void check_positive(const Duration& duration, const std::string& pointer, ConfigErrors& errors) {
    if (duration.count() <= 0) {
        errors.push_back({pointer, "must be greater than 0, got " + detail::quoted(format_duration(duration))});
    }
}

void check_health_check(const HealthCheck& check, const std::string& pointer, ConfigErrors& errors) {
    if (!check.path.starts_with('/') || check.path.find_first_of(" \t\r\n") != std::string::npos) {
        errors.push_back({pointer + "/path", "must be an origin-form path starting with \"/\", got " +
                                                 detail::quoted(check.path)});
    }
    check_positive(check.interval, pointer + "/interval", errors);
    check_positive(check.timeout, pointer + "/timeout", errors);
    if (check.timeout.count() > 0 && check.interval.count() > 0 && check.timeout >= check.interval) {
        errors.push_back({pointer + "/timeout", "must be shorter than the interval (" +
                                                    format_duration(check.interval) + "), got " +
                                                    format_duration(check.timeout)});
    }
    check_at_least(check.healthy_threshold, 1, pointer + "/healthy_threshold", errors);
    check_at_least(check.unhealthy_threshold, 1, pointer + "/unhealthy_threshold", errors);
}

std::string format_number(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);
    return text;
}

void check_rate_limit(const RateLimit& limit, const std::string& pointer, ConfigErrors& errors) {
    // Finite and above one request per day: anything slower is a typo, not a limit.
    if (!(limit.requests_per_second >= 1.0 / 86400 && limit.requests_per_second <= 1e9)) {
        errors.push_back({pointer + "/requests_per_second",
                          "must be a positive number of requests per second, got " +
                              format_number(limit.requests_per_second)});
    }
    if (limit.burst) {
        check_at_least(*limit.burst, 1, pointer + "/burst", errors);
    }
}

// The M4 policy of one placement; `pointer` is the placement's own.
void check_policy(const Placement& placement, const std::string& pointer, ConfigErrors& errors) {
    if (placement.health_check) {
        check_health_check(*placement.health_check, pointer + "/health_check", errors);
    }
    if (placement.circuit_breaker) {
        check_at_least(placement.circuit_breaker->failure_threshold, 1,
                       pointer + "/circuit_breaker/failure_threshold", errors);
        check_positive(placement.circuit_breaker->timeout, pointer + "/circuit_breaker/timeout", errors);
    }
    if (placement.concurrency_limit) {
        check_at_least(*placement.concurrency_limit, 1, pointer + "/concurrency_limit", errors);
    }
    if (placement.max_request_body_bytes) {
        check_at_least(*placement.max_request_body_bytes, 1, pointer + "/max_request_body_bytes", errors);
    }
    if (placement.rate_limit) {
        check_rate_limit(*placement.rate_limit, pointer + "/rate_limit", errors);
    }
    if (placement.connect_timeout) {
        check_positive(*placement.connect_timeout, pointer + "/connect_timeout", errors);
    }
    if (placement.response_timeout) {
        check_positive(*placement.response_timeout, pointer + "/response_timeout", errors);
    }
}

Names check_placements(const Config& config, ConfigErrors& errors) {
    const std::string field = "/" + config.placements_field;
    const bool object_format = config.placements_field == "placements";
    Names names;
    names.reserve(config.placements.size());
    if (config.placements.empty()) {
        errors.push_back({field, "must define at least one placement"});
    }
    for (const Placement& placement : config.placements) {
        const std::string pointer = detail::child_pointer(field, placement.name);
        if (placement.name.empty()) {
            errors.push_back({pointer, "placement name must not be empty"});
        }
        if (!names.insert(placement.name).second) {
            errors.push_back({pointer, "duplicate placement " + detail::quoted(placement.name)});
        }
        const EndpointCheck check = check_endpoint(placement.endpoint.url);
        // A missing url was already reported by the parser.
        if (!check.endpoint && !(object_format && placement.endpoint.url.empty())) {
            errors.push_back({object_format ? pointer + "/url" : pointer,
                              std::string(check.problem) + ": " + detail::quoted(placement.endpoint.url)});
        }
        check_policy(placement, pointer, errors);
    }
    return names;
}

// Every fallback names another placement, and following fallbacks always ends: a cycle would
// leave a request with no placement to settle on.
void check_fallbacks(const Config& config, const Names& names, ConfigErrors& errors) {
    const std::string field = "/" + config.placements_field;
    std::unordered_map<std::string_view, std::string_view> fallback_of;
    for (const Placement& placement : config.placements) {
        if (placement.fallback.empty()) {
            continue;
        }
        const std::string pointer = detail::child_pointer(field, placement.name) + "/fallback";
        if (placement.fallback == placement.name) {
            errors.push_back({pointer, "a placement cannot fall back to itself"});
        } else if (!names.contains(placement.fallback)) {
            errors.push_back({pointer, "unknown placement " + detail::quoted(placement.fallback)});
        } else {
            fallback_of.emplace(placement.name, placement.fallback);
        }
    }
    for (const Placement& placement : config.placements) {
        std::vector<std::string_view> chain{placement.name};
        for (auto it = fallback_of.find(placement.name); it != fallback_of.end(); it = fallback_of.find(it->second)) {
            if (std::find(chain.begin(), chain.end(), it->second) != chain.end()) {
                if (it->second == placement.name) {  // report each cycle once per member
                    std::string path;
                    for (std::string_view step : chain) {
                        path += std::string(step) + " -> ";
                    }
                    errors.push_back({detail::child_pointer(field, placement.name) + "/fallback",
                                      "fallback cycle: " + path + placement.name});
                }
                break;
            }
            chain.push_back(it->second);
        }
    }
}

void check_routing_table(const Config& config, const Names& placements, ConfigErrors& errors) {
    for (const auto& [key, placement] : config.routing_table) {
        if (key.empty()) {
            errors.push_back({"/routingTable/", "routing key must not be empty"});
        }
        if (!placements.contains(placement)) {
            errors.push_back({detail::child_pointer("/routingTable", key),
                              "unknown placement " + detail::quoted(placement)});
        }
    }
}

void check_default_placement(const Config& config, const Names& placements,
                             ConfigErrors& errors) {
    if (config.default_placement.empty()) {
        errors.push_back({"/defaultPlacement", "must not be empty"});
    } else if (!placements.contains(config.default_placement)) {
        errors.push_back(
            {"/defaultPlacement", "unknown placement " + detail::quoted(config.default_placement)});
    }
}

void check_duration(const std::optional<Duration>& duration, const char* pointer,
                    ConfigErrors& errors) {
    if (duration && duration->count() <= 0) {
        errors.push_back({pointer, "must be greater than 0, got " +
                                       detail::quoted(format_duration(*duration))});
    }
}

void check_proxy(const ProxySettingsOverrides& proxy, ConfigErrors& errors) {
    if (proxy.max_header_bytes && (*proxy.max_header_bytes < min_max_header_bytes ||
                                   *proxy.max_header_bytes > max_max_header_bytes)) {
        errors.push_back({"/proxy/max_header_bytes",
                          "must be between " + std::to_string(min_max_header_bytes) + " and " +
                              std::to_string(max_max_header_bytes) + ", got " +
                              std::to_string(*proxy.max_header_bytes)});
    }
    if (proxy.max_connections &&
        (*proxy.max_connections < min_max_connections || *proxy.max_connections > max_max_connections)) {
        errors.push_back({"/proxy/max_connections", "must be between " + std::to_string(min_max_connections) +
                                                        " and " + std::to_string(max_max_connections) + ", got " +
                                                        std::to_string(*proxy.max_connections)});
    }
    check_duration(proxy.header_timeout, "/proxy/header_timeout", errors);
    check_duration(proxy.idle_timeout, "/proxy/idle_timeout", errors);
    check_duration(proxy.connect_timeout, "/proxy/connect_timeout", errors);
    check_duration(proxy.request_timeout, "/proxy/request_timeout", errors);
    check_duration(proxy.drain_timeout, "/proxy/drain_timeout", errors);
}

}  // namespace

// Drains, pins and pauses name placements and keys; their numbers have ranges. An expired pin
// or pause, or a finished drain, is still valid: it just no longer applies.
void check_operations(const Config& config, const Names& names, ConfigErrors& errors) {
    const auto unknown = [&](const std::string& pointer, const std::string& name) {
        errors.push_back({pointer, "unknown placement " + detail::quoted(name)});
    };
    for (const Drain& drain : config.operations.drains) {
        const std::string pointer = detail::child_pointer("/operations/drains", drain.placement);
        if (!names.contains(drain.placement)) {
            unknown(pointer, drain.placement);
            continue;
        }
        if (drain.to.empty()) {
            const auto placement = std::find_if(config.placements.begin(), config.placements.end(),
                                                [&](const Placement& p) { return p.name == drain.placement; });
            if (placement == config.placements.end() || placement->fallback.empty()) {
                errors.push_back({pointer + "/to", "required: placement " + detail::quoted(drain.placement) +
                                                       " has no fallback to drain to"});
            }
        } else if (!names.contains(drain.to)) {
            unknown(pointer + "/to", drain.to);
        } else if (drain.to == drain.placement) {
            errors.push_back({pointer + "/to", "a placement cannot be drained into itself"});
        }
        for (const auto& [field, share] : {std::pair{"/from_share", drain.from_share}, std::pair{"/to_share", drain.to_share}}) {
            if (!(share >= 0 && share <= 1)) {
                errors.push_back({pointer + field, "must be between 0 and 1, got " + std::to_string(share)});
            }
        }
        if (drain.ramp.count() < 0 || drain.ramp > longest_drain_ramp) {
            errors.push_back({pointer + "/ramp", "must be between 0s and " + format_duration(longest_drain_ramp)});
        }
    }
    for (const Pin& pin : config.operations.pins) {
        const std::string pointer = detail::child_pointer("/operations/pins", pin.key);
        if (pin.key.empty()) {
            errors.push_back({pointer, "routing key must not be empty"});
        }
        if (!names.contains(pin.placement)) {
            unknown(pointer + "/placement", pin.placement);
        }
    }
    for (const Pause& pause : config.operations.pauses) {
        const std::string pointer = detail::child_pointer("/operations/pauses", pause.key);
        if (pause.key.empty()) {
            errors.push_back({pointer, "routing key must not be empty"});
        }
        if (pause.retry_after < std::chrono::seconds(1) || pause.retry_after > std::chrono::hours(1)) {
            errors.push_back({pointer + "/retry_after", "must be between 1s and 1h"});
        }
    }
}

ConfigErrors validate_config(const Config& config) {
    ConfigErrors errors;
    try {
        if (config.version.empty()) {
            errors.push_back({"/version", "must not be empty"});
        }
        // Placements are checked first because the other rules look names up in them, but their
        // errors are reported in document order: routingTable comes before cellEndpoints.
        ConfigErrors placement_errors;
        const Names placements = check_placements(config, placement_errors);
        check_routing_table(config, placements, errors);
        errors.insert(errors.end(), std::make_move_iterator(placement_errors.begin()),
                      std::make_move_iterator(placement_errors.end()));
        check_fallbacks(config, placements, errors);
        check_default_placement(config, placements, errors);
        check_proxy(config.proxy, errors);
        check_operations(config, placements, errors);
    } catch (const std::exception& ex) {
        errors.push_back({"", std::string("cannot validate: ") + ex.what()});
    }
    return errors;
}

std::optional<Endpoint> parse_endpoint(std::string_view url) {
    try {
        return check_endpoint(url).endpoint;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

}  // namespace cell::config
