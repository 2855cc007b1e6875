#include "cell/config/validate.hpp"

#include <algorithm>
#include <string>
#include <unordered_set>

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
    return {std::move(endpoint), nullptr};
}

using Names = std::unordered_set<std::string_view>;

Names check_placements(const Config& config, ConfigErrors& errors) {
    Names names;
    names.reserve(config.placements.size());
    if (config.placements.empty()) {
        errors.push_back({"/cellEndpoints", "must define at least one placement"});
    }
    for (const Placement& placement : config.placements) {
        std::string pointer = detail::child_pointer("/cellEndpoints", placement.name);
        if (placement.name.empty()) {
            errors.push_back({pointer, "placement name must not be empty"});
        }
        if (!names.insert(placement.name).second) {
            errors.push_back({pointer, "duplicate placement " + detail::quoted(placement.name)});
        }
        const EndpointCheck check = check_endpoint(placement.endpoint.url);
        if (!check.endpoint) {
            errors.push_back({std::move(pointer), std::string(check.problem) + ": " +
                                                      detail::quoted(placement.endpoint.url)});
        }
    }
    return names;
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
    check_duration(proxy.header_timeout, "/proxy/header_timeout", errors);
    check_duration(proxy.idle_timeout, "/proxy/idle_timeout", errors);
    check_duration(proxy.connect_timeout, "/proxy/connect_timeout", errors);
    check_duration(proxy.request_timeout, "/proxy/request_timeout", errors);
    check_duration(proxy.drain_timeout, "/proxy/drain_timeout", errors);
}

}  // namespace

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
        check_default_placement(config, placements, errors);
        check_proxy(config.proxy, errors);
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
