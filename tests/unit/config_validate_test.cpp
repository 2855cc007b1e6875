#include "cell/config/validate.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cell::config {
namespace {

using Problems = std::vector<std::pair<std::string, std::string>>;

Problems problems(const ConfigErrors& errors) {
    Problems out;
    for (const ConfigError& error : errors) {
        out.emplace_back(error.pointer, error.message);
    }
    return out;
}

Placement placement(std::string name, std::string url) {
    Placement p;
    p.name = std::move(name);
    p.endpoint.url = std::move(url);
    return p;
}

// What parse_config builds from a small valid file.
Config valid_config() {
    Config config;
    config.version = "1.0.0";
    config.routing_table = {{"acme", "tier1"}, {"visa", "visa"}};
    config.placements = {placement("tier1", "http://cell-tier1:9001"),
                         placement("tier3", "http://cell-tier3:9003"),
                         placement("visa", "http://cell-visa:9004")};
    config.default_placement = "tier3";
    return config;
}

Problems validate(const Config& config) { return problems(validate_config(config)); }

// The reference config is valid, so every other test breaks exactly one thing.
TEST(ConfigValidate, AcceptsValidConfig) { EXPECT_EQ(validate(valid_config()), Problems{}); }

// version must not be empty.
TEST(ConfigValidate, RejectsEmptyVersion) {
    Config config = valid_config();
    config.version.clear();
    EXPECT_EQ(validate(config), (Problems{{"/version", "must not be empty"}}));
}

// defaultPlacement must not be empty.
TEST(ConfigValidate, RejectsEmptyDefaultPlacement) {
    Config config = valid_config();
    config.default_placement.clear();
    EXPECT_EQ(validate(config), (Problems{{"/defaultPlacement", "must not be empty"}}));
}

// defaultPlacement must name a placement of cellEndpoints.
TEST(ConfigValidate, RejectsUnknownDefaultPlacement) {
    Config config = valid_config();
    config.default_placement = "tier9";
    EXPECT_EQ(validate(config), (Problems{{"/defaultPlacement", R"(unknown placement "tier9")"}}));
}

// Every placement used by the routing table must exist.
TEST(ConfigValidate, RejectsUnknownRoutingPlacement) {
    Config config = valid_config();
    config.routing_table[0].second = "tier9";
    EXPECT_EQ(validate(config), (Problems{{"/routingTable/acme", R"(unknown placement "tier9")"}}));
}

// Routing keys must not be empty (no request can carry an empty key to match it).
TEST(ConfigValidate, RejectsEmptyRoutingKey) {
    Config config = valid_config();
    config.routing_table.emplace_back("", "tier1");
    EXPECT_EQ(validate(config), (Problems{{"/routingTable/", "routing key must not be empty"}}));
}

// There must be at least one placement to route to.
TEST(ConfigValidate, RejectsNoPlacements) {
    Config config = valid_config();
    config.placements.clear();
    config.routing_table.clear();
    EXPECT_EQ(validate(config),
              (Problems{{"/cellEndpoints", "must define at least one placement"},
                        {"/defaultPlacement", R"(unknown placement "tier3")"}}));
}

// Placement names must not be empty.
TEST(ConfigValidate, RejectsEmptyPlacementName) {
    Config config = valid_config();
    config.placements.push_back(placement("", "http://x:1"));
    EXPECT_EQ(validate(config),
              (Problems{{"/cellEndpoints/", "placement name must not be empty"}}));
}

// Placement names are unique (a Config built in code cannot rely on the parser's key check).
TEST(ConfigValidate, RejectsDuplicatePlacementName) {
    Config config = valid_config();
    config.placements.push_back(placement("tier1", "http://x:1"));
    EXPECT_EQ(validate(config), (Problems{{"/cellEndpoints/tier1", R"(duplicate placement "tier1")"}}));
}

struct UrlCase {
    std::string url;
    std::string message;
};

const std::vector<UrlCase>& bad_urls() {
    static const std::vector<UrlCase> cases = {
        {"ftp://x", R"(not an absolute http(s) URL with a host: "ftp://x")"},
        {"", R"(not an absolute http(s) URL with a host: "")"},
        {"cell-tier1:9001", R"(not an absolute http(s) URL with a host: "cell-tier1:9001")"},
        {"//cell-tier1:9001", R"(not an absolute http(s) URL with a host: "//cell-tier1:9001")"},
        {"http:cell-tier1", R"(not an absolute http(s) URL with a host: "http:cell-tier1")"},
        {"http://", R"(not an absolute http(s) URL with a host: "http://")"},
        {"http://:9001", R"(not an absolute http(s) URL with a host: "http://:9001")"},
        {"http://a b", R"(not an absolute http(s) URL with a host: "http://a b")"},
        {"http://ex%41mple", R"(not an absolute http(s) URL with a host: "http://ex%41mple")"},
        {"http://[v1.x]", R"(not an absolute http(s) URL with a host: "http://[v1.x]")"},
        {"http://[::1", R"(not an absolute http(s) URL with a host: "http://[::1")"},
        {"http://h:0", R"(port must be between 1 and 65535: "http://h:0")"},
        {"http://h:65536", R"(port must be between 1 and 65535: "http://h:65536")"},
        {"http://h:999999", R"(port must be between 1 and 65535: "http://h:999999")"},
        {"http://h:", R"(port must be between 1 and 65535: "http://h:")"},
        {"http://u:p@h", R"(URL must not contain userinfo: "http://u:p@h")"},
        {"http://@h", R"(URL must not contain userinfo: "http://@h")"},
        {"http://h/api", R"(URL path must be empty or "/": "http://h/api")"},
        {"http://h//", R"(URL path must be empty or "/": "http://h//")"},
        {"http://h?x=1", R"(URL must not contain a query: "http://h?x=1")"},
        {"http://h/?", R"(URL must not contain a query: "http://h/?")"},
        {"http://h#top", R"(URL must not contain a fragment: "http://h#top")"},
    };
    return cases;
}

// Endpoints are absolute http(s) URLs with a host and a port in 1..65535, and nothing the
// router would drop: no userinfo, no query, no fragment, no path but "" or "/".
TEST(ConfigValidate, RejectsBadEndpointUrls) {
    for (const UrlCase& c : bad_urls()) {
        Config config = valid_config();
        config.placements[1].endpoint.url = c.url;
        EXPECT_EQ(validate(config), (Problems{{"/cellEndpoints/tier3", c.message}})) << c.url;
        EXPECT_EQ(parse_endpoint(c.url), std::nullopt) << c.url;
    }
}

// max_header_bytes lies within [1024, 1 MiB]; the bounds themselves are accepted.
TEST(ConfigValidate, BoundsMaxHeaderBytes) {
    for (const std::uint32_t ok : {1024u, 16384u, 1048576u}) {
        Config config = valid_config();
        config.proxy.max_header_bytes = ok;
        EXPECT_EQ(validate(config), Problems{}) << ok;
    }
    for (const std::uint32_t bad : {0u, 1023u, 1048577u, 4294967295u}) {
        Config config = valid_config();
        config.proxy.max_header_bytes = bad;
        EXPECT_EQ(validate(config),
                  (Problems{{"/proxy/max_header_bytes",
                             "must be between 1024 and 1048576, got " + std::to_string(bad)}}));
    }
}

// max_connections lies within [1, 10 million]; the bounds themselves are accepted.
TEST(ConfigValidate, BoundsMaxConnections) {
    for (const std::uint32_t ok : {1u, 100000u, 10000000u}) {
        Config config = valid_config();
        config.proxy.max_connections = ok;
        EXPECT_EQ(validate(config), Problems{}) << ok;
    }
    for (const std::uint32_t bad : {0u, 10000001u}) {
        Config config = valid_config();
        config.proxy.max_connections = bad;
        EXPECT_EQ(validate(config), (Problems{{"/proxy/max_connections",
                                               "must be between 1 and 10000000, got " + std::to_string(bad)}}));
    }
}

// Every proxy duration must be greater than zero.
TEST(ConfigValidate, RejectsNonPositiveDurations) {
    using Field = std::optional<Duration> ProxySettingsOverrides::*;
    const std::pair<Field, std::string> fields[] = {
        {&ProxySettingsOverrides::header_timeout, "/proxy/header_timeout"},
        {&ProxySettingsOverrides::idle_timeout, "/proxy/idle_timeout"},
        {&ProxySettingsOverrides::connect_timeout, "/proxy/connect_timeout"},
        {&ProxySettingsOverrides::request_timeout, "/proxy/request_timeout"},
        {&ProxySettingsOverrides::drain_timeout, "/proxy/drain_timeout"},
    };
    for (const auto& [field, pointer] : fields) {
        Config config = valid_config();
        config.proxy.*field = Duration(0);
        EXPECT_EQ(validate(config), (Problems{{pointer, R"(must be greater than 0, got "0s")"}}));
        config.proxy.*field = std::chrono::seconds(-1);
        EXPECT_EQ(validate(config), (Problems{{pointer, R"(must be greater than 0, got "-1s")"}}));
        config.proxy.*field = std::chrono::milliseconds(1);
        EXPECT_EQ(validate(config), Problems{});
    }
}

// Validation is all-or-nothing and reports every error at once, in document order.
TEST(ConfigValidate, ReportsEveryErrorTogether) {
    Config config = valid_config();
    config.version.clear();
    config.routing_table[0].second = "tier8";
    config.routing_table[1].second = "tier9";
    config.placements[0].endpoint.url = "ftp://x";
    config.default_placement = "gone";
    config.proxy.idle_timeout = Duration(0);
    EXPECT_EQ(validate(config),
              (Problems{{"/version", "must not be empty"},
                        {"/routingTable/acme", R"(unknown placement "tier8")"},
                        {"/routingTable/visa", R"(unknown placement "tier9")"},
                        {"/cellEndpoints/tier1",
                         R"(not an absolute http(s) URL with a host: "ftp://x")"},
                        {"/defaultPlacement", R"(unknown placement "gone")"},
                        {"/proxy/idle_timeout", R"(must be greater than 0, got "0s")"}}));
}

// Pointers escape "~" and "/" (RFC 6901); messages quote values as JSON strings.
TEST(ConfigValidate, EscapesPointersAndQuotesValues) {
    Config config = valid_config();
    config.routing_table = {{"a/b~c", "ti\"er\n"}};
    config.placements.push_back(placement("x/y", "mailto:a"));
    EXPECT_EQ(validate(config),
              (Problems{{"/routingTable/a~1b~0c", R"(unknown placement "ti\"er\n")"},
                        {"/cellEndpoints/x~1y",
                         R"(not an absolute http(s) URL with a host: "mailto:a")"}}));
}

struct EndpointCase {
    std::string url;
    std::string scheme;
    std::string host;
    std::uint16_t port;
    std::string authority;
};

// parse_endpoint splits a URL; the scheme is lowercased, IPv6 loses its brackets, and the port
// defaults to 80 for http and 443 for https. The authority is what a Host header names the cell by.
TEST(ConfigValidate, ParsesEndpoints) {
    const EndpointCase cases[] = {
        {"http://cell-tier1:9001", "http", "cell-tier1", 9001, "cell-tier1:9001"},
        {"http://cell-tier1:9001/", "http", "cell-tier1", 9001, "cell-tier1:9001"},
        {"http://cell-tier1", "http", "cell-tier1", 80, "cell-tier1"},
        {"http://cell-tier1:80", "http", "cell-tier1", 80, "cell-tier1"},
        {"https://cell-tier1", "https", "cell-tier1", 443, "cell-tier1"},
        {"https://cell-tier1/", "https", "cell-tier1", 443, "cell-tier1"},
        {"https://cell-tier1:8443", "https", "cell-tier1", 8443, "cell-tier1:8443"},
        {"https://cell-tier1:80", "https", "cell-tier1", 80, "cell-tier1:80"},
        {"HTTPS://Cell-Tier1:1", "https", "Cell-Tier1", 1, "Cell-Tier1:1"},
        {"http://127.0.0.1:65535", "http", "127.0.0.1", 65535, "127.0.0.1:65535"},
        {"http://[::1]:9001", "http", "::1", 9001, "[::1]:9001"},
        {"https://[2001:db8::1]", "https", "2001:db8::1", 443, "[2001:db8::1]"},
    };
    for (const EndpointCase& c : cases) {
        const std::optional<Endpoint> endpoint = parse_endpoint(c.url);
        ASSERT_TRUE(endpoint.has_value()) << c.url;
        EXPECT_EQ(endpoint->url, c.url);
        EXPECT_EQ(endpoint->scheme, c.scheme) << c.url;
        EXPECT_EQ(endpoint->host, c.host) << c.url;
        EXPECT_EQ(endpoint->port, c.port) << c.url;
        EXPECT_EQ(endpoint->authority, c.authority) << c.url;
    }
}

// An IPv6 literal endpoint is valid in a config.
TEST(ConfigValidate, AcceptsIpv6Endpoint) {
    Config config = valid_config();
    config.placements[0].endpoint.url = "http://[::1]:9001";
    EXPECT_EQ(validate(config), Problems{});
}

// Placement lookups scale to large tables (one hash lookup per entry) and miss nothing.
TEST(ConfigValidate, ValidatesLargeRoutingTable) {
    Config config = valid_config();
    config.routing_table.reserve(100'001);
    for (int i = 0; i < 100'000; ++i) {
        config.routing_table.emplace_back("tenant-" + std::to_string(i), i % 2 ? "tier1" : "visa");
    }
    EXPECT_EQ(validate(config), Problems{});
    config.routing_table.emplace_back("late", "tier2");
    EXPECT_EQ(validate(config), (Problems{{"/routingTable/late", R"(unknown placement "tier2")"}}));
}

}  // namespace
}  // namespace cell::config
