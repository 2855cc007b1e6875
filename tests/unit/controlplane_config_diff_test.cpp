// What a config change does to the routing (diff_configs, its JSON and its human summary) and
// the blast-radius guard's rules and limits.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cell/config/load.hpp"
#include "cell/controlplane/config_diff.hpp"

namespace cell::controlplane {
namespace {

using nlohmann::json;

// The seed's table: acme->tier1, globex->tier2, initech->tier3, visa->visa (dedicated by name).
json seed() {
    return json::parse(R"({
      "version": "1.0.0",
      "routingTable": {"acme": "tier1", "globex": "tier2", "initech": "tier3", "visa": "visa"},
      "cellEndpoints": {"tier1": "http://cell-tier1:9001", "tier2": "http://cell-tier2:9002",
                        "tier3": "http://cell-tier3:9003", "visa": "http://cell-visa:9004"},
      "defaultPlacement": "tier3"})");
}

config::Config load(const json& document) {
    auto loaded = config::load_config(document.dump());
    if (!loaded.ok()) {
        ADD_FAILURE() << config::describe(loaded.errors);
        return {};
    }
    return std::move(*loaded.config);
}

ConfigDiff diff(const json& from, const json& to) { return diff_configs(load(from), load(to)); }

// `count` keys "k0".."k<count-1>" on tier1, plus the seed's placements.
json table_of(std::size_t count) {
    json document = seed();
    document["routingTable"] = json::object();
    for (std::size_t i = 0; i < count; ++i) {
        document["routingTable"]["k" + std::to_string(i)] = "tier1";
    }
    return document;
}

MovedKeysLimit limit(const std::string& text) {
    auto parsed = parse_moved_keys_limit(text);
    if (const auto* error = std::get_if<std::string>(&parsed)) {
        ADD_FAILURE() << *error;
        return {};
    }
    return std::get<MovedKeysLimit>(parsed);
}

std::string limit_error(const std::string& text) {
    auto parsed = parse_moved_keys_limit(text);
    const auto* error = std::get_if<std::string>(&parsed);
    return error != nullptr ? *error : "(accepted)";
}

TEST(ConfigDiff, IdenticalConfigsHaveNoChanges) {
    const auto d = diff(seed(), seed());
    EXPECT_TRUE(d.routing_unchanged());
    EXPECT_EQ(d.keys_total_before, 4u);
    EXPECT_EQ(d.keys_total_after, 4u);
    EXPECT_EQ(d.keys_moved + d.keys_added + d.keys_removed, 0u);
    EXPECT_TRUE(d.moves.empty());
    const json j = to_json(d);
    EXPECT_EQ(j["default_changed"], nullptr);
    EXPECT_EQ(j["version"], json({{"from", "1.0.0"}, {"to", "1.0.0"}}));
    EXPECT_NE(describe(d).find("no routing changes (4 routing keys)"), std::string::npos);
}

// A change to the file's `proxy` section (limits, timeouts) is a difference, named by field.
TEST(ConfigDiff, ProxySettingsChangesAreListed) {
    auto next = seed();
    next["proxy"] = {{"idle_timeout", "30s"}, {"max_connections", 5000}};
    const auto d = diff(seed(), next);
    EXPECT_FALSE(d.routing_unchanged());
    EXPECT_EQ(d.proxy_changes, (std::vector<std::string>{"idle_timeout", "max_connections"}));
    EXPECT_EQ(to_json(d)["proxy_changes"], json({"idle_timeout", "max_connections"}));
    EXPECT_NE(describe(d).find("proxy settings: idle_timeout, max_connections"), std::string::npos) << describe(d);
    EXPECT_EQ(config_diff_from_json(to_json(d))->proxy_changes, d.proxy_changes);
    EXPECT_TRUE(diff(next, next).proxy_changes.empty());
}

TEST(ConfigDiff, MovedKeyIsCountedPerPairAndSampled) {
    auto to = seed();
    to["version"] = "1.1.0";
    to["routingTable"]["acme"] = "tier2";
    to["routingTable"]["initech"] = "tier2";
    const auto d = diff(seed(), to);
    EXPECT_EQ(d.keys_moved, 2u);
    EXPECT_EQ(d.keys_added, 0u);
    EXPECT_EQ(d.keys_removed, 0u);
    const json j = to_json(d);
    EXPECT_EQ(j["moves"], json::parse(R"([{"from":"tier1","to":"tier2","keys":1},{"from":"tier3","to":"tier2","keys":1}])"));
    EXPECT_EQ(j["moved_key_samples"],
              json::parse(R"([{"key":"acme","from":"tier1","to":"tier2"},{"key":"initech","from":"tier3","to":"tier2"}])"));
    EXPECT_EQ(j["dedicated_moved"], json::array());
    EXPECT_EQ(j["version"], json({{"from", "1.0.0"}, {"to", "1.1.0"}}));
    const auto text = describe(d);
    EXPECT_NE(text.find("version: 1.0.0 -> 1.1.0"), std::string::npos) << text;
    EXPECT_NE(text.find("routing keys: 4 -> 4 (0 added, 0 removed, 2 moved)"), std::string::npos) << text;
    EXPECT_NE(text.find("acme: tier1 -> tier2"), std::string::npos) << text;
}

TEST(ConfigDiff, AddedAndRemovedKeysAreMovesFromAndToNothing) {
    auto to = seed();
    to["routingTable"].erase("globex");
    to["routingTable"]["hooli"] = "tier1";
    to["routingTable"]["umbrella"] = "tier1";
    const auto d = diff(seed(), to);
    EXPECT_EQ(d.keys_added, 2u);
    EXPECT_EQ(d.keys_removed, 1u);
    EXPECT_EQ(d.keys_moved, 0u);
    EXPECT_EQ(d.keys_total_after, 5u);
    EXPECT_TRUE(d.moved_key_samples.empty());
    const json j = to_json(d);
    EXPECT_EQ(j["moves"], json::parse(R"([{"from":null,"to":"tier1","keys":2},{"from":"tier2","to":null,"keys":1}])"));
    const auto text = describe(d);
    EXPECT_NE(text.find("2 keys  (new) -> tier1"), std::string::npos) << text;
    EXPECT_NE(text.find("1 key  tier2 -> (removed)"), std::string::npos) << text;
}

TEST(ConfigDiff, SamplesStopAtTwentyInTheNewTablesOrder) {
    const auto from = table_of(100);
    auto to = from;
    for (int i = 0; i < 50; ++i) {
        to["routingTable"]["k" + std::to_string(i)] = "tier2";
    }
    const auto d = diff(from, to);
    EXPECT_EQ(d.keys_moved, 50u);
    ASSERT_EQ(d.moved_key_samples.size(), max_moved_key_samples);
    // Both files list keys sorted by name (nlohmann's object order): k0, k1, k10, k11, ...
    EXPECT_EQ(d.moved_key_samples[0].key, "k0");
    EXPECT_EQ(d.moved_key_samples[1].key, "k1");
    EXPECT_EQ(d.moved_key_samples[2].key, "k10");
    EXPECT_NE(describe(d).find("moved keys (first 20 of 50):"), std::string::npos);
}

// Keys in a different order, with an insertion in the middle: still matched by name.
TEST(ConfigDiff, ReorderedTableIsMatchedByKey) {
    config::Config from = load(table_of(10));
    config::Config to = from;
    std::reverse(to.routing_table.begin(), to.routing_table.end());
    to.routing_table.insert(to.routing_table.begin() + 5, {"new", "tier2"});
    to.routing_table[0].second = "tier3";
    const auto d = diff_configs(from, to);
    EXPECT_EQ(d.keys_added, 1u);
    EXPECT_EQ(d.keys_removed, 0u);
    EXPECT_EQ(d.keys_moved, 1u);
    ASSERT_EQ(d.moved_key_samples.size(), 1u);
    EXPECT_EQ(d.moved_key_samples[0].key, to.routing_table[0].first);
}

TEST(ConfigDiff, DedicatedTenantMovedOrRemoved) {
    auto to = seed();
    to["routingTable"]["visa"] = "tier1";
    auto d = diff(seed(), to);
    EXPECT_EQ(to_json(d)["dedicated_moved"], json::parse(R"([{"key":"visa","from":"visa","to":"tier1"}])"));

    auto removed = seed();
    removed["routingTable"].erase("visa");
    d = diff(seed(), removed);
    EXPECT_EQ(to_json(d)["dedicated_moved"], json::parse(R"([{"key":"visa","from":"visa","to":null}])"));
    EXPECT_NE(describe(d).find("visa: visa -> (removed)"), std::string::npos);
}

// A key moving onto a dedicated placement, or off a shared placement declared "type":"shared",
// is not a dedicated move: only the old placement's kind counts.
TEST(ConfigDiff, DedicatedFollowsTheOldPlacementsKind) {
    auto from = json::parse(R"({"version":"1","routingTable":{"a":"gold","b":"tier1"},
      "placements":{"gold":{"url":"http://gold:1","type":"shared"},"tier1":{"url":"http://t1:1","type":"dedicated"}},
      "defaultPlacement":"gold"})");
    auto to = from;
    to["routingTable"]["a"] = "tier1";
    to["routingTable"]["b"] = "gold";
    const auto d = diff(from, to);
    EXPECT_EQ(d.keys_moved, 2u);
    ASSERT_EQ(d.dedicated_moved.size(), 1u);
    EXPECT_EQ(d.dedicated_moved[0].key, "b");
}

TEST(ConfigDiff, PlacementsAddedAndRemoved) {
    auto to = seed();
    to["cellEndpoints"]["tier4"] = "http://cell-tier4:9005";
    to["cellEndpoints"].erase("tier2");
    to["routingTable"]["globex"] = "tier4";
    const auto d = diff(seed(), to);
    EXPECT_EQ(d.placements_added, std::vector<std::string>{"tier4"});
    EXPECT_EQ(d.placements_removed, std::vector<std::string>{"tier2"});
    EXPECT_EQ(d.keys_moved, 1u);
    const auto text = describe(d);
    EXPECT_NE(text.find("placements added: tier4"), std::string::npos) << text;
    EXPECT_NE(text.find("placements removed: tier2"), std::string::npos) << text;
}

TEST(ConfigDiff, EndpointChanges) {
    auto to = seed();
    to["cellEndpoints"]["tier1"] = "http://cell-tier1-new:9001";
    const auto d = diff(seed(), to);
    EXPECT_EQ(to_json(d)["endpoint_changes"],
              json::parse(R"([{"placement":"tier1","from":"http://cell-tier1:9001","to":"http://cell-tier1-new:9001"}])"));
    EXPECT_TRUE(d.policy_changes.empty());
    EXPECT_FALSE(d.routing_unchanged());
    EXPECT_EQ(d.keys_moved, 0u);
}

TEST(ConfigDiff, PolicyChangesNameTheFields) {
    auto from = json::parse(R"({"version":"1","routingTable":{"a":"tier1"},
      "placements":{"tier1":{"url":"http://t1:1","rate_limit":{"requests_per_second":100},
                             "circuit_breaker":{"failure_threshold":5,"timeout":"30s"},"concurrency_limit":10},
                    "tier2":{"url":"http://t2:1"}},
      "defaultPlacement":"tier1"})");
    auto to = from;
    to["placements"]["tier1"]["rate_limit"]["requests_per_second"] = 200;
    to["placements"]["tier1"]["circuit_breaker"]["timeout"] = "10s";
    to["placements"]["tier2"]["fallback"] = "tier1";
    to["placements"]["tier2"]["type"] = "dedicated";
    to["placements"]["tier2"]["connect_timeout"] = "1s";
    const auto d = diff(from, to);
    EXPECT_EQ(to_json(d)["policy_changes"], json::parse(R"([
      {"placement":"tier1","fields":["circuit_breaker","rate_limit"]},
      {"placement":"tier2","fields":["type","fallback","connect_timeout"]}])"));
    EXPECT_NE(describe(d).find("tier2: type, fallback, connect_timeout"), std::string::npos);
}

TEST(ConfigDiff, DefaultPlacementChange) {
    auto to = seed();
    to["defaultPlacement"] = "tier2";
    const auto d = diff(seed(), to);
    ASSERT_TRUE(d.default_changed.has_value());
    EXPECT_EQ(to_json(d)["default_changed"], json({{"from", "tier3"}, {"to", "tier2"}}));
    // Keys in the table keep their explicit placement; keys outside it are not counted.
    EXPECT_EQ(d.keys_moved, 0u);
    EXPECT_NE(describe(d).find("default placement: tier3 -> tier2"), std::string::npos);
}

TEST(ConfigDiff, JsonHasEveryContractField) {
    const json j = to_json(diff(seed(), seed()));
    for (const char* field : {"keys_total_before", "keys_total_after", "keys_added", "keys_removed", "keys_moved",
                              "moves", "moved_key_samples", "dedicated_moved", "placements_added",
                              "placements_removed", "endpoint_changes", "policy_changes", "default_changed",
                              "proxy_changes", "operation_changes", "version"}) {
        EXPECT_TRUE(j.contains(field)) << field;
    }
    EXPECT_EQ(j.size(), 16u);
}

TEST(ConfigDiff, JsonRoundTrip) {
    auto to = seed();
    to["routingTable"]["visa"] = "tier1";
    to["routingTable"].erase("globex");
    to["routingTable"]["hooli"] = "tier2";
    to["cellEndpoints"]["tier4"] = "http://cell-tier4:1";
    to["cellEndpoints"]["tier1"] = "http://elsewhere:1";
    to["defaultPlacement"] = "tier4";
    const json j = to_json(diff(seed(), to));
    const auto back = config_diff_from_json(j);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(to_json(*back), j);
    EXPECT_FALSE(config_diff_from_json(json{{"keys_moved", "many"}}).has_value());

    const auto verdict = check_blast_radius(diff(seed(), to), GuardLimits{});
    const auto verdict_back = guard_verdict_from_json(to_json(verdict));
    ASSERT_TRUE(verdict_back.has_value());
    EXPECT_EQ(to_json(*verdict_back), to_json(verdict));
    EXPECT_FALSE(guard_verdict_from_json(json::array()).has_value());
}

// The summary `cellctl diff` prints, as docs/cellctl.md shows it.
TEST(ConfigDiff, DescribeReadsAsDocumented) {
    const auto from = json::parse(R"({"version":"1.0.0",
      "routingTable":{"acme":"tier1","globex":"tier2","initech":"tier3","visa":"visa"},
      "placements":{"tier1":{"url":"http://cell-tier1:9001"},"tier2":{"url":"http://cell-tier2:9002"},
                    "tier3":{"url":"http://cell-tier3:9003"},"visa":{"url":"http://cell-visa:9004"}},
      "defaultPlacement":"tier3"})");
    auto to = from;
    to["version"] = "1.1.0";
    to["routingTable"]["acme"] = "tier2";
    to["routingTable"]["visa"] = "tier1";
    to["routingTable"]["hooli"] = "tier3";
    to["placements"]["tier2"]["url"] = "http://cell-tier2b:9002";
    to["placements"]["tier1"]["rate_limit"] = {{"requests_per_second", 500}};
    to["placements"]["tier1"]["circuit_breaker"] = {{"failure_threshold", 3}};
    const auto d = diff(from, to);
    EXPECT_EQ(describe(d),
              "version: 1.0.0 -> 1.1.0\n"
              "routing keys: 4 -> 5 (1 added, 0 removed, 2 moved)\n"
              "moves:\n"
              "       1 key  (new) -> tier3\n"
              "       1 key  tier1 -> tier2\n"
              "       1 key  visa -> tier1\n"
              "moved keys:\n"
              "  acme: tier1 -> tier2\n"
              "  visa: visa -> tier1\n"
              "dedicated tenants moved or removed:\n"
              "  visa: visa -> tier1\n"
              "endpoint changes:\n"
              "  tier2: http://cell-tier2:9002 -> http://cell-tier2b:9002\n"
              "policy changes:\n"
              "  tier1: circuit_breaker, rate_limit\n");
    EXPECT_EQ(to_json(check_blast_radius(d, GuardLimits{}))["violations"],
              json::parse(R"J([{"rule":"moved_keys","detail":"2 keys would move or be removed (2 moved, 0 removed: 50% of 4 keys), over the limit of 10% (0 keys)"},
                              {"rule":"dedicated_moved","detail":"1 key of dedicated placements would move or be removed: visa (visa -> tier1)"}])J"));
}

// ---- Limits ----

TEST(MovedKeysLimit, ParsesPercentAndAbsolute) {
    auto l = limit("10%");
    EXPECT_TRUE(l.percent);
    EXPECT_DOUBLE_EQ(l.value, 10);
    EXPECT_EQ(l.text, "10%");
    EXPECT_DOUBLE_EQ(l.allowed_keys(1000), 100);
    l = limit("0.5%");
    EXPECT_DOUBLE_EQ(l.allowed_keys(1000), 5);
    l = limit("5000");
    EXPECT_FALSE(l.percent);
    EXPECT_DOUBLE_EQ(l.allowed_keys(1'000'000), 5000);
    EXPECT_DOUBLE_EQ(limit("0").allowed_keys(10), 0);
    EXPECT_DOUBLE_EQ(limit("100%").allowed_keys(10), 10);
}

TEST(MovedKeysLimit, RejectsBadText) {
    EXPECT_NE(limit_error("").find("empty"), std::string::npos);
    EXPECT_NE(limit_error("ten").find("not a non-negative number"), std::string::npos);
    EXPECT_NE(limit_error("-5").find("not a non-negative number"), std::string::npos);
    EXPECT_NE(limit_error("%").find("not a non-negative number"), std::string::npos);
    EXPECT_NE(limit_error(" 10%").find("not a non-negative number"), std::string::npos);
    EXPECT_NE(limit_error("1.2.3%").find("not a number"), std::string::npos);
    EXPECT_NE(limit_error("101%").find("at most 100%"), std::string::npos);
    EXPECT_NE(limit_error("10.5").find("whole number"), std::string::npos);
    EXPECT_NE(limit_error("99999999999999999999999").find("too large"), std::string::npos);
    EXPECT_NE(limit_error("ten").find("invalid moved-keys limit \"ten\""), std::string::npos);
}

// ---- The guard ----

ConfigDiff moved_out_of(std::size_t total, std::size_t moved, std::size_t removed) {
    config::Config from = load(table_of(total));
    config::Config to = from;
    for (std::size_t i = 0; i < moved; ++i) {
        to.routing_table[i].second = "tier2";
    }
    to.routing_table.resize(total - removed);
    return diff_configs(from, to);
}

TEST(BlastRadiusGuard, MovedKeysAtThePercentLimitAreAllowed) {
    const auto verdict = check_blast_radius(moved_out_of(100, 6, 4), GuardLimits{limit("10%")});
    EXPECT_TRUE(verdict.allowed);
    EXPECT_TRUE(verdict.violations.empty());
    EXPECT_EQ(to_json(verdict), json::parse(R"({"allowed":true,"max_moved_keys":"10%","violations":[]})"));
}

TEST(BlastRadiusGuard, MovedKeysOverThePercentLimitAreRefused) {
    const auto verdict = check_blast_radius(moved_out_of(100, 7, 4), GuardLimits{limit("10%")});
    EXPECT_FALSE(verdict.allowed);
    ASSERT_EQ(verdict.violations.size(), 1u);
    EXPECT_EQ(verdict.violations[0].rule, "moved_keys");
    EXPECT_EQ(verdict.violations[0].detail,
              "11 keys would move or be removed (7 moved, 4 removed: 11% of 100 keys), over the limit of 10% (10 keys)");
}

TEST(BlastRadiusGuard, AbsoluteLimit) {
    EXPECT_TRUE(check_blast_radius(moved_out_of(100, 5, 0), GuardLimits{limit("5")}).allowed);
    const auto verdict = check_blast_radius(moved_out_of(100, 6, 0), GuardLimits{limit("5")});
    EXPECT_FALSE(verdict.allowed);
    ASSERT_EQ(verdict.violations.size(), 1u);
    EXPECT_EQ(verdict.violations[0].detail,
              "6 keys would move or be removed (6 moved, 0 removed: 6% of 100 keys), over the limit of 5");
    EXPECT_EQ(to_json(verdict)["max_moved_keys"], "5");
}

TEST(BlastRadiusGuard, AddedKeysDoNotCount) {
    config::Config from = load(table_of(10));
    config::Config to = load(table_of(50));
    EXPECT_TRUE(check_blast_radius(diff_configs(from, to), GuardLimits{limit("0")}).allowed);
}

TEST(BlastRadiusGuard, DedicatedMoveIsRefused) {
    auto to = seed();
    to["routingTable"]["visa"] = "tier1";
    const auto verdict = check_blast_radius(diff(seed(), to), GuardLimits{limit("100%")});
    EXPECT_FALSE(verdict.allowed);
    ASSERT_EQ(verdict.violations.size(), 1u);
    EXPECT_EQ(verdict.violations[0].rule, "dedicated_moved");
    EXPECT_EQ(verdict.violations[0].detail, "1 key of dedicated placements would move or be removed: visa (visa -> tier1)");
}

TEST(BlastRadiusGuard, OneEndpointChangeIsAllowedTwoAreRefused) {
    auto one = seed();
    one["cellEndpoints"]["tier1"] = "http://elsewhere:1";
    EXPECT_TRUE(check_blast_radius(diff(seed(), one), GuardLimits{}).allowed);
    auto two = one;
    two["cellEndpoints"]["tier2"] = "http://elsewhere:2";
    const auto verdict = check_blast_radius(diff(seed(), two), GuardLimits{});
    EXPECT_FALSE(verdict.allowed);
    ASSERT_EQ(verdict.violations.size(), 1u);
    EXPECT_EQ(verdict.violations[0].rule, "endpoints_changed");
    EXPECT_EQ(verdict.violations[0].detail, "endpoints would change on 2 placements (tier1, tier2); at most 1 per change");
}

TEST(BlastRadiusGuard, EveryViolationIsListed) {
    auto to = seed();
    to["routingTable"] = {{"visa", "tier1"}};
    to["cellEndpoints"]["tier1"] = "http://elsewhere:1";
    to["cellEndpoints"]["tier2"] = "http://elsewhere:2";
    const auto verdict = check_blast_radius(diff(seed(), to), GuardLimits{});
    EXPECT_FALSE(verdict.allowed);
    const json j = to_json(verdict);
    ASSERT_EQ(j["violations"].size(), 3u);
    EXPECT_EQ(j["violations"][0]["rule"], "moved_keys");
    EXPECT_EQ(j["violations"][1]["rule"], "dedicated_moved");
    EXPECT_EQ(j["violations"][2]["rule"], "endpoints_changed");
}

TEST(BlastRadiusGuard, DefaultLimitIsTenPercent) {
    EXPECT_EQ(GuardLimits{}.max_moved_keys.text, "10%");
    EXPECT_EQ(check_blast_radius(ConfigDiff{}, GuardLimits{}).max_moved_keys, "10%");
}

}  // namespace
}  // namespace cell::controlplane
