// Routing decisions of the immutable table.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "cell/config/load.hpp"
#include "cell/routing/table.hpp"

namespace cell::routing {
namespace {

config::Config seed_config() {
    auto loaded = config::load_config(R"({
      "version": "1.0.0",
      "routingTable": {"acme": "tier1", "globex": "tier2", "initech": "tier3", "visa": "visa"},
      "cellEndpoints": {"tier1": "http://cell-tier1:9001", "tier2": "http://cell-tier2:9002",
                        "tier3": "http://cell-tier3:9003", "visa": "http://cell-visa:9004"},
      "defaultPlacement": "tier3"})");
    EXPECT_TRUE(loaded.ok()) << config::describe(loaded.errors);
    return *loaded.config;
}

TableConstPtr seed_table() { return Table::build(seed_config(), {}, TableOrigin{"file", "x.json", "hash", {}}); }

// "prefix" + the number, appended rather than written with +: GCC 12 warns falsely
// (-Wrestrict) on "literal" + std::string.
std::string numbered_key(std::string_view prefix, std::uint32_t number) {
    std::string key(prefix);
    key += std::to_string(number);
    return key;
}

// A key mapped to a non-tier placement is routed there with reason "dedicated".
TEST(RoutingTable, DedicatedKey) {
    const auto table = seed_table();
    const auto decision = table->route("visa");
    ASSERT_NE(decision.placement, nullptr);
    EXPECT_EQ(decision.placement->name, "visa");
    EXPECT_EQ(decision.reason, RouteReason::dedicated);
    EXPECT_EQ(to_string(decision.reason), "dedicated");
}

// A key mapped to a tierN placement is routed there with reason "tier".
TEST(RoutingTable, TierKey) {
    const auto table = seed_table();
    const auto decision = table->route("acme");
    EXPECT_EQ(decision.placement->name, "tier1");
    EXPECT_EQ(to_string(decision.reason), "tier");
}

// A key mapped to the default placement itself keeps its own reason, not "default".
TEST(RoutingTable, KeyMappedToDefaultPlacementIsTier) {
    const auto table = seed_table();
    const auto decision = table->route("initech");
    EXPECT_EQ(decision.placement->name, "tier3");
    EXPECT_EQ(decision.reason, RouteReason::tier);
}

// Unknown keys go to the default placement with reason "default".
TEST(RoutingTable, UnknownKeyGoesToDefault) {
    const auto table = seed_table();
    const auto decision = table->route("nobody");
    EXPECT_EQ(decision.placement->name, "tier3");
    EXPECT_EQ(to_string(decision.reason), "default");
}

// Lookups are exact: no case folding, no trimming, no prefix matches.
TEST(RoutingTable, LookupIsExact) {
    const auto table = seed_table();
    EXPECT_EQ(table->route("VISA").reason, RouteReason::default_placement);
    EXPECT_EQ(table->route("visa ").reason, RouteReason::default_placement);
    EXPECT_EQ(table->route("vis").reason, RouteReason::default_placement);
    EXPECT_EQ(table->route("").reason, RouteReason::default_placement);
}

// Endpoints are precomputed with a pool key naming scheme, host and port.
TEST(RoutingTable, PlacementsCarryEndpointAndPoolKey) {
    const auto table = seed_table();
    const auto* visa = table->find_placement("visa");
    ASSERT_NE(visa, nullptr);
    EXPECT_EQ(visa->endpoint.host, "cell-visa");
    EXPECT_EQ(visa->endpoint.port, 9004);
    EXPECT_EQ(visa->pool_key, "http://cell-visa:9004");
    EXPECT_EQ(table->find_placement("nope"), nullptr);
    EXPECT_EQ(table->routing_key_count(), 4u);
    EXPECT_EQ(table->placements().size(), 4u);
    EXPECT_EQ(table->default_placement().name, "tier3");
    EXPECT_EQ(table->version(), "1.0.0");
}

// Building from a config that skipped validation is a programming error and throws.
TEST(RoutingTable, UnvalidatedConfigIsRejected) {
    auto config = seed_config();
    config.default_placement = "missing";
    EXPECT_THROW(Table::build(config, {}, {}), std::invalid_argument);
    config = seed_config();
    config.routing_table.emplace_back("x", "missing");
    EXPECT_THROW(Table::build(config, {}, {}), std::invalid_argument);
}

// A table with no routing keys sends every key to the default placement.
TEST(RoutingTable, NoKeysRoutesEverythingToDefault) {
    auto config = seed_config();
    config.routing_table.clear();
    const auto table = Table::build(config, {}, {});
    EXPECT_EQ(table->routing_key_count(), 0u);
    EXPECT_EQ(table->route("acme").placement->name, "tier3");
    EXPECT_EQ(table->route("acme").reason, RouteReason::default_placement);
}

// Every key of a large table routes to its own placement, with the reason of that placement.
TEST(RoutingTable, ManyKeysRouteToTheirPlacements) {
    auto config = seed_config();
    config.routing_table.clear();
    const std::string placements[] = {"tier1", "tier2", "tier3", "visa"};
    for (std::uint32_t i = 0; i < 20'000; ++i) {
        config.routing_table.emplace_back(numbered_key("tenant-", i), placements[i % 4]);
    }
    const auto table = Table::build(config, {}, {});
    EXPECT_EQ(table->routing_key_count(), 20'000u);
    for (std::uint32_t i = 0; i < 20'000; ++i) {
        const auto decision = table->route(numbered_key("tenant-", i));
        ASSERT_EQ(decision.placement->name, placements[i % 4]) << i;
        ASSERT_EQ(decision.reason, i % 4 == 3 ? RouteReason::dedicated : RouteReason::tier) << i;
    }
    EXPECT_EQ(table->route("tenant-20000").reason, RouteReason::default_placement);
    EXPECT_EQ(table->route("tenant-").reason, RouteReason::default_placement);
}

}  // namespace
}  // namespace cell::routing
