// The M4 "placements" format: reading, validation rules, and what the routing table makes of it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cell/config/load.hpp"
#include "cell/routing/table.hpp"

namespace cell::config {
namespace {

using namespace std::chrono_literals;
using Problems = std::vector<std::pair<std::string, std::string>>;

Problems problems(const ConfigErrors& errors) {
    Problems out;
    for (const ConfigError& error : errors) {
        out.emplace_back(error.pointer, error.message);
    }
    return out;
}

std::string read_file(const std::string& relative) {
    std::ifstream in(std::filesystem::path(CELLROUTER_SOURCE_DIR) / relative, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// A config with routing key acme -> tier1 and the given "placements" object.
std::string with_placements(const std::string& placements, const std::string& default_placement = "tier3") {
    return R"({"version": "4", "routingTable": {"acme": "tier1"}, "placements": )" + placements +
           R"(, "defaultPlacement": ")" + default_placement + R"("})";
}

const std::string two_placements = R"({
    "tier1": {"url": "http://cell-tier1:9001", "fallback": "tier3"},
    "tier3": {"url": "http://cell-tier3:9003"}})";

Problems load_errors(const std::string& text) { return problems(load_config(text).errors); }

TEST(ConfigPlacements, SeedM4ExampleLoadsUnchanged) {
    const LoadResult result = load_config(read_file("tests/unit/data/seed-routing-m4.json"));
    ASSERT_TRUE(result.ok()) << describe(result.errors);
    EXPECT_EQ(problems(result.warnings), Problems{});
    ASSERT_EQ(result.config->placements.size(), 4u);
    const Placement& visa = result.config->placements[3];
    EXPECT_EQ(visa.name, "visa");
    EXPECT_EQ(visa.endpoint.host, "cell-visa");
    EXPECT_EQ(visa.endpoint.port, 9004);
    EXPECT_EQ(visa.fallback, "tier3");
    ASSERT_TRUE(visa.health_check);
    EXPECT_EQ(visa.health_check->interval, 5s);
    EXPECT_EQ(visa.health_check->timeout, 1s);
    EXPECT_EQ(visa.health_check->healthy_threshold, 2);  // defaults where the seed is silent
    EXPECT_EQ(visa.health_check->unhealthy_threshold, 3);
    ASSERT_TRUE(visa.circuit_breaker);
    EXPECT_EQ(visa.circuit_breaker->failure_threshold, 3);
    EXPECT_EQ(visa.circuit_breaker->timeout, 60s);
    EXPECT_EQ(visa.concurrency_limit, 50);
    EXPECT_EQ(visa.max_request_body_bytes, 5242880);
    EXPECT_FALSE(visa.rate_limit);
    // No "type" in the seed's example: the name rule of M1 decides.
    EXPECT_EQ(visa.kind, PlacementKind::dedicated);
    EXPECT_EQ(result.config->placements[0].kind, PlacementKind::shared_tier);
}

TEST(ConfigPlacements, ShippedM4ConfigLoadsWithoutWarnings) {
    const LoadResult result = load_config(read_file("config/routing-m4.json"));
    ASSERT_TRUE(result.ok()) << describe(result.errors);
    EXPECT_EQ(problems(result.warnings), Problems{});
    const Placement& tier1 = result.config->placements[0];
    ASSERT_TRUE(tier1.rate_limit);
    EXPECT_EQ(tier1.rate_limit->requests_per_second, 500);
    EXPECT_EQ(tier1.rate_limit->burst, 1000);
}

TEST(ConfigPlacements, TypeOverridesTheNameRule) {
    const LoadResult result = load_config(with_placements(R"({
        "tier1": {"url": "http://a:1", "type": "dedicated"},
        "tier3": {"url": "http://b:1"},
        "gold": {"url": "http://c:1", "type": "shared"}})"));
    ASSERT_TRUE(result.ok()) << describe(result.errors);
    EXPECT_EQ(result.config->placements[0].kind, PlacementKind::dedicated);
    EXPECT_EQ(result.config->placements[1].kind, PlacementKind::shared_tier);
    EXPECT_EQ(result.config->placements[2].kind, PlacementKind::shared_tier);
}

TEST(ConfigPlacements, ReportsTypeErrorsAtTheirPointer) {
    EXPECT_EQ(load_errors(with_placements(R"({
        "tier1": {"url": 5, "type": "gold", "concurrency_limit": "100",
                  "health_check": {"interval": 10, "healthy_threshold": 1.5},
                  "circuit_breaker": [], "rate_limit": {"requests_per_second": "many"},
                  "max_request_body_bytes": -1, "response_timeout": "soon"},
        "tier3": "http://b:1"})")),
              (Problems{
                  {"/placements/tier1/url", "expected a string, got number"},
                  {"/placements/tier1/type", R"(must be "shared" or "dedicated", got "gold")"},
                  {"/placements/tier1/health_check/interval", "expected a duration string, got number"},
                  {"/placements/tier1/health_check/healthy_threshold", "expected an integer, got number"},
                  {"/placements/tier1/circuit_breaker", "expected an object, got array"},
                  {"/placements/tier1/concurrency_limit", "expected an integer, got string"},
                  {"/placements/tier1/rate_limit/requests_per_second", "expected a number, got string"},
                  {"/placements/tier1/response_timeout",
                   R"(not a duration (e.g. "500ms", "10s", "1m", "1h"): "soon")"},
                  {"/placements/tier3", "expected an object, got string"},
              }));
}

TEST(ConfigPlacements, RequiresUrlAndRate) {
    EXPECT_EQ(load_errors(with_placements(R"({
        "tier1": {"rate_limit": {"burst": 5}}, "tier3": {"url": "http://b:1"}})")),
              (Problems{{"/placements/tier1/url", "required field is missing"},
                        {"/placements/tier1/rate_limit/requests_per_second", "required field is missing"}}));
}

TEST(ConfigPlacements, WarnsAboutUnknownFields) {
    const LoadResult result = load_config(with_placements(R"({
        "tier1": {"url": "http://a:1", "helth_check": {}, "health_check": {"intervall": "1s"}},
        "tier3": {"url": "http://b:1"}})"));
    ASSERT_TRUE(result.ok()) << describe(result.errors);
    EXPECT_EQ(problems(result.warnings),
              (Problems{{"/placements/tier1/health_check/intervall", "unknown field, ignored"},
                        {"/placements/tier1/helth_check", "unknown field, ignored"}}));
}

TEST(ConfigPlacements, RejectsDuplicateKeysInsidePlacements) {
    EXPECT_EQ(load_errors(with_placements(R"({
        "tier1": {"url": "http://a:1", "url": "http://b:1"},
        "tier3": {"url": "http://b:1"}, "tier3": {"url": "http://c:1"}})")),
              (Problems{{"/placements/tier1/url", R"(duplicate key "url")"},
                        {"/placements/tier3", R"(duplicate key "tier3")"}}));
}

TEST(ConfigPlacements, NeedsExactlyOnePlacementsField) {
    EXPECT_EQ(load_errors(R"({"version": "1", "routingTable": {}, "cellEndpoints": {"a": "http://a:1"},
                              "placements": {"a": {"url": "http://a:1"}}, "defaultPlacement": "a"})"),
              (Problems{{"/placements", R"(give either "cellEndpoints" or "placements", not both)"}}));
    EXPECT_EQ(load_errors(R"({"version": "1", "routingTable": {}, "placements": {}, "defaultPlacement": "a"})"),
              (Problems{{"/placements", "must define at least one placement"},
                        {"/defaultPlacement", R"(unknown placement "a")"}}));
}

TEST(ConfigPlacements, ValidatesUrlsAtTheUrlField) {
    EXPECT_EQ(load_errors(with_placements(R"({"tier1": {"url": "ftp://a"}, "tier3": {"url": "http://b:1"}})")),
              (Problems{{"/placements/tier1/url", R"(not an absolute http(s) URL with a host: "ftp://a")"}}));
}

TEST(ConfigPlacements, FallbackMustExistAndNotBeItself) {
    EXPECT_EQ(load_errors(with_placements(R"({
        "tier1": {"url": "http://a:1", "fallback": "tier9"},
        "tier3": {"url": "http://b:1", "fallback": "tier3"}})")),
              (Problems{{"/placements/tier1/fallback", R"(unknown placement "tier9")"},
                        {"/placements/tier3/fallback", "a placement cannot fall back to itself"}}));
}

TEST(ConfigPlacements, RejectsFallbackCycles) {
    EXPECT_EQ(load_errors(with_placements(R"({
        "tier1": {"url": "http://a:1", "fallback": "tier2"},
        "tier2": {"url": "http://a:2", "fallback": "tier3"},
        "tier3": {"url": "http://a:3", "fallback": "tier1"},
        "visa": {"url": "http://a:4", "fallback": "tier1"}})")),
              (Problems{{"/placements/tier1/fallback", "fallback cycle: tier1 -> tier2 -> tier3 -> tier1"},
                        {"/placements/tier2/fallback", "fallback cycle: tier2 -> tier3 -> tier1 -> tier2"},
                        {"/placements/tier3/fallback", "fallback cycle: tier3 -> tier1 -> tier2 -> tier3"}}));
}

TEST(ConfigPlacements, AcceptsFallbackChains) {
    const LoadResult result = load_config(with_placements(R"({
        "visa": {"url": "http://a:4", "fallback": "tier1"},
        "tier1": {"url": "http://a:1", "fallback": "tier3"},
        "tier3": {"url": "http://a:3"}})"));
    EXPECT_TRUE(result.ok()) << describe(result.errors);
}

TEST(ConfigPlacements, NumbersMustBePositiveAndThresholdsAtLeastOne) {
    EXPECT_EQ(load_errors(with_placements(R"({
        "tier1": {"url": "http://a:1",
                  "health_check": {"path": "health", "interval": "0s", "timeout": "0ms",
                                   "healthy_threshold": 0, "unhealthy_threshold": -2},
                  "circuit_breaker": {"failure_threshold": 0, "timeout": "0s"},
                  "concurrency_limit": 0, "max_request_body_bytes": 0,
                  "rate_limit": {"requests_per_second": 0, "burst": 0},
                  "connect_timeout": "0s", "response_timeout": "0ms"},
        "tier3": {"url": "http://b:1"}})")),
              (Problems{
                  {"/placements/tier1/health_check/path", R"(must be an origin-form path starting with "/", got "health")"},
                  {"/placements/tier1/health_check/interval", R"(must be greater than 0, got "0s")"},
                  {"/placements/tier1/health_check/timeout", R"(must be greater than 0, got "0s")"},
                  {"/placements/tier1/health_check/healthy_threshold", "must be at least 1, got 0"},
                  {"/placements/tier1/health_check/unhealthy_threshold", "must be at least 1, got -2"},
                  {"/placements/tier1/circuit_breaker/failure_threshold", "must be at least 1, got 0"},
                  {"/placements/tier1/circuit_breaker/timeout", R"(must be greater than 0, got "0s")"},
                  {"/placements/tier1/concurrency_limit", "must be at least 1, got 0"},
                  {"/placements/tier1/max_request_body_bytes", "must be at least 1, got 0"},
                  {"/placements/tier1/rate_limit/requests_per_second",
                   "must be a positive number of requests per second, got 0"},
                  {"/placements/tier1/rate_limit/burst", "must be at least 1, got 0"},
                  {"/placements/tier1/connect_timeout", R"(must be greater than 0, got "0s")"},
                  {"/placements/tier1/response_timeout", R"(must be greater than 0, got "0s")"},
              }));
}

TEST(ConfigPlacements, HealthTimeoutMustBeShorterThanInterval) {
    EXPECT_EQ(load_errors(with_placements(R"({
        "tier1": {"url": "http://a:1", "health_check": {"interval": "2s", "timeout": "2s"}},
        "tier3": {"url": "http://b:1", "health_check": {"interval": "1s", "timeout": "999ms"}}})")),
              (Problems{{"/placements/tier1/health_check/timeout", "must be shorter than the interval (2s), got 2s"}}));
}

routing::TableConstPtr build(const std::string& text, resilience::PlacementStateRegistry* states = nullptr) {
    const LoadResult result = load_config(text);
    EXPECT_TRUE(result.ok()) << describe(result.errors);
    ProxySettings settings;
    settings.connect_timeout = 4s;
    settings.request_timeout = 9s;
    return routing::Table::build(*result.config, settings, routing::TableOrigin{}, states);
}

TEST(ConfigPlacements, TableResolvesPolicies) {
    const auto table = build(with_placements(R"({
        "tier1": {"url": "http://a:1", "fallback": "tier3", "rate_limit": {"requests_per_second": 2.5},
                  "circuit_breaker": {}, "connect_timeout": "1s", "response_timeout": "2s"},
        "tier3": {"url": "http://b:1", "rate_limit": {"requests_per_second": 10, "burst": 3}}})"));
    const routing::PlacementTarget& tier1 = *table->find_placement("tier1");
    const routing::PlacementTarget& tier3 = *table->find_placement("tier3");
    EXPECT_EQ(table->fallback_of(tier1), &tier3);
    EXPECT_EQ(table->fallback_of(tier3), nullptr);
    ASSERT_TRUE(tier1.policy.rate_limit);
    EXPECT_EQ(tier1.policy.rate_limit->burst, 3u);  // one second's worth, rounded up
    EXPECT_EQ(tier3.policy.rate_limit->burst, 3u);
    ASSERT_TRUE(tier1.policy.circuit_breaker);
    EXPECT_EQ(tier1.policy.circuit_breaker->failure_threshold, 5u);
    EXPECT_EQ(tier1.policy.circuit_breaker->open_timeout, 30s);
    EXPECT_EQ(tier1.policy.connect_timeout, 1s);
    EXPECT_EQ(tier1.policy.response_timeout, 2s);
    EXPECT_EQ(tier3.policy.connect_timeout, 4s);  // the proxy-wide settings
    EXPECT_EQ(tier3.policy.response_timeout, 9s);
    EXPECT_FALSE(tier3.policy.circuit_breaker);
    EXPECT_FALSE(tier3.policy.health_check);
    ASSERT_NE(tier1.state, nullptr);
    EXPECT_NE(tier1.state, tier3.state);
}

TEST(ConfigPlacements, StateSurvivesReloadsUnlessTheUrlChanges) {
    resilience::PlacementStateRegistry states;
    const auto first = build(with_placements(two_placements), &states);
    const auto second = build(with_placements(two_placements), &states);
    EXPECT_EQ(first->find_placement("tier1")->state, second->find_placement("tier1")->state);
    const auto moved = build(with_placements(R"({
        "tier1": {"url": "http://cell-tier1-new:9001"}, "tier3": {"url": "http://cell-tier3:9003"}})"),
                             &states);
    EXPECT_NE(moved->find_placement("tier1")->state, first->find_placement("tier1")->state);
    EXPECT_EQ(moved->find_placement("tier3")->state, first->find_placement("tier3")->state);
    // A placement removed and added back, at the same URL, starts afresh.
    const auto without = build(with_placements(R"({"tier1": {"url": "http://cell-tier1-new:9001"}})", "tier1"),
                               &states);
    ASSERT_EQ(without->find_placement("tier3"), nullptr);
    const auto back = build(with_placements(two_placements), &states);
    EXPECT_NE(back->find_placement("tier3")->state, first->find_placement("tier3")->state);
}

// A health check removed and later added back starts from unknown, not from the verdict the
// old check left behind.
TEST(ConfigPlacements, ReaddedHealthCheckStartsFromUnknown) {
    resilience::PlacementStateRegistry states;
    const std::string checked = with_placements(R"({
        "tier1": {"url": "http://a:1", "health_check": {"unhealthy_threshold": 1}}, "tier3": {"url": "http://b:1"}})");
    const auto first = build(checked, &states);
    const resilience::HealthThresholds thresholds{1, 1};
    first->find_placement("tier1")->state->health.record_probe(false, "HTTP 503", std::chrono::system_clock::now(),
                                                               thresholds);
    ASSERT_EQ(first->find_placement("tier1")->state->health.status(), resilience::HealthStatus::unhealthy);
    // Same settings again: the verdict stands.
    EXPECT_EQ(build(checked, &states)->find_placement("tier1")->state->health.status(),
              resilience::HealthStatus::unhealthy);
    build(with_placements(R"({"tier1": {"url": "http://a:1"}, "tier3": {"url": "http://b:1"}})"), &states);
    const auto again = build(checked, &states);
    EXPECT_EQ(again->find_placement("tier1")->state, first->find_placement("tier1")->state);
    EXPECT_EQ(again->find_placement("tier1")->state->health.status(), resilience::HealthStatus::unknown);
    EXPECT_EQ(again->find_placement("tier1")->state->health.snapshot().probes, 0u);
}

}  // namespace
}  // namespace cell::config
