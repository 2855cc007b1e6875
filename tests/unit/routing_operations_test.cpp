// Cell operations in the config and in the routing table: drains with a ramp (the share over
// time, which keys move, that none flips back), pins and pauses with their expiry, how they are
// read from a file and what validation refuses.

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "cell/config/load.hpp"
#include "cell/config/proxy_settings.hpp"
#include "cell/config/timestamp.hpp"
#include "cell/routing/table.hpp"

namespace cell::routing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

config::WallTime at(const std::string& text) { return config::parse_rfc3339(text).value(); }

DrainRule ramp_of(const std::string& start, config::Duration ramp, double from = 0, double to = 1) {
    return DrainRule{0, at(start), ramp, from, to, ""};
}

json base_document() {
    return json{{"version", "1.0.0"},
                {"routingTable", {{"acme", "tier1"}, {"globex", "tier1"}, {"visa", "visa"}}},
                {"placements",
                 {{"tier1", {{"url", "http://127.0.0.1:9001"}, {"fallback", "tier3"}}},
                  {"tier2", {{"url", "http://127.0.0.1:9002"}}},
                  {"tier3", {{"url", "http://127.0.0.1:9003"}}},
                  {"visa", {{"url", "http://127.0.0.1:9004"}}}}},
                {"defaultPlacement", "tier3"}};
}

config::LoadResult load(const json& document) { return config::load_config(document.dump()); }

TableConstPtr table_of(const json& document) {
    auto loaded = load(document);
    EXPECT_TRUE(loaded.ok()) << config::describe(loaded.errors);
    return Table::build(*loaded.config, config::resolve_proxy_settings(loaded.config->proxy, {}), TableOrigin{});
}

std::string errors_of(const json& document) {
    const auto loaded = load(document);
    EXPECT_FALSE(loaded.ok());
    return config::describe(loaded.errors);
}

TEST(TimestampTest, ReadsRfc3339AndRefusesTheRest) {
    EXPECT_EQ(config::parse_rfc3339("1970-01-01T00:00:00Z")->time_since_epoch(), 0s);
    EXPECT_EQ(at("2026-12-03T18:00:00Z") - at("2026-12-03T17:00:00Z"), 1h);
    EXPECT_EQ(at("2026-12-03T19:00:00+01:00"), at("2026-12-03T18:00:00Z"));
    EXPECT_EQ(at("2026-12-03T17:30:00-00:30"), at("2026-12-03T18:00:00Z"));
    EXPECT_EQ(at("2026-12-03T18:00:00.25Z") - at("2026-12-03T18:00:00Z"), 250ms);
    EXPECT_EQ(at("2024-02-29T00:00:00Z") + 24h, at("2024-03-01T00:00:00Z"));
    EXPECT_TRUE(config::parse_rfc3339("2200-12-31T23:59:59.999999999Z").has_value());
    for (const char* bad : {"", "2026-12-03", "2026-12-03T18:00:00", "2026-13-01T00:00:00Z", "2025-02-29T00:00:00Z",
                            "2026-12-03T24:00:00Z", "2026-12-03T18:00:00.Z", "2026-12-03T18:00:00Zjunk",
                            "1969-12-31T23:59:59Z", "2026-12-03 18:00:00Z", "2026-12-03T18:00:00+1:00",
                            // past what a nanosecond clock holds (found by fuzzing: it overflowed)
                            "6026-12-03T18:00:00Z", "9999-12-31T23:59:59Z", "2201-01-01T00:00:00Z"}) {
        EXPECT_FALSE(config::parse_rfc3339(bad).has_value()) << bad;
    }
}

// The share grows linearly over the ramp, from from_share before the start to to_share after.
TEST(DrainTest, ShareFollowsTheRamp) {
    const auto drain = ramp_of("2026-12-03T18:00:00Z", 10min);
    EXPECT_EQ(drain.share_at(at("2026-12-03T17:00:00Z")), 0.0);
    EXPECT_EQ(drain.share_at(at("2026-12-03T18:00:00Z")), 0.0);
    EXPECT_NEAR(drain.share_at(at("2026-12-03T18:05:00Z")), 0.5, 1e-9);
    EXPECT_NEAR(drain.share_at(at("2026-12-03T18:01:00Z")), 0.1, 1e-9);
    EXPECT_EQ(drain.share_at(at("2026-12-03T18:10:00Z")), 1.0);
    EXPECT_EQ(drain.share_at(at("2027-01-01T00:00:00Z")), 1.0);

    const auto instant = ramp_of("2026-12-03T18:00:00Z", 0ms);
    EXPECT_EQ(instant.share_at(at("2026-12-03T18:00:00.001Z")), 1.0);
    EXPECT_EQ(instant.share_at(at("2026-12-03T17:59:59Z")), 0.0);

    // An undrain from a drain that had reached 60 %: back to none over its ramp.
    const auto undrain = ramp_of("2026-12-03T18:00:00Z", 2min, 0.6, 0.0);
    EXPECT_NEAR(undrain.share_at(at("2026-12-03T18:01:00Z")), 0.3, 1e-9);
    EXPECT_EQ(undrain.share_at(at("2026-12-03T18:02:00Z")), 0.0);
}

// Over 100,000 keys the share of keys moved is within ±2 % of the drain's share at every step.
TEST(DrainTest, KeysMovedMatchTheShare) {
    constexpr int keys = 100'000;
    for (const double share : {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99}) {
        int moved = 0;
        for (int i = 0; i < keys; ++i) {
            moved += drain_position("tier1", "tenant-" + std::to_string(i)) < share ? 1 : 0;
        }
        EXPECT_NEAR(static_cast<double>(moved) / keys, share, 0.02) << "share " << share;
    }
    // Another placement draws another split: the same keys do not always move first.
    int same = 0;
    for (int i = 0; i < 10'000; ++i) {
        const std::string key = "tenant-" + std::to_string(i);
        same += (drain_position("tier1", key) < 0.5) == (drain_position("tier2", key) < 0.5) ? 1 : 0;
    }
    EXPECT_NEAR(same / 10'000.0, 0.5, 0.03);
}

// During a ramp a key moves once and stays moved; during an undrain it comes back once.
TEST(DrainTest, NoKeyFlipsBackDuringARamp) {
    const auto drain = ramp_of("2026-12-03T18:00:00Z", 5min);
    const auto undrain = ramp_of("2026-12-03T18:10:00Z", 5min, 1.0, 0.0);
    for (int i = 0; i < 20'000; ++i) {
        const std::string key = "tenant-" + std::to_string(i);
        const double position = drain_position("tier1", key);
        int changes = 0;
        bool moved = false;
        for (int second = 0; second <= 20 * 60; second += 7) {
            const auto now = at("2026-12-03T18:00:00Z") + std::chrono::seconds(second);
            const bool now_moved = position < (now < at("2026-12-03T18:10:00Z") ? drain.share_at(now) : undrain.share_at(now));
            changes += now_moved != moved ? 1 : 0;
            moved = now_moved;
        }
        ASSERT_LE(changes, 2) << key;  // out once during the drain, back once during the undrain
        ASSERT_FALSE(moved) << key;
    }
}

// The table applies pauses, then pins, then drains, each only while in force.
TEST(OperationsTableTest, PausePinAndDrainApplyWhileInForce) {
    json document = base_document();
    document["operations"] = {
        {"pauses", {{"globex", {{"until", "2026-12-03T18:05:00Z"}, {"retry_after", "10s"}, {"reason", "cutover"}}}}},
        {"pins", {{"acme", {{"placement", "tier2"}, {"expires", "2026-12-03T19:00:00Z"}, {"reason", "debugging"}}}}},
        {"drains", {{"tier2", {{"to", "visa"}, {"start", "2026-12-03T18:00:00Z"}, {"ramp", "0s"}}},
                    {"tier1", {{"start", "2026-12-03T18:00:00Z"}, {"ramp", "10m"}}}}}};
    const auto table = table_of(document);
    ASSERT_TRUE(table->has_operations());

    const auto before = at("2026-12-03T17:59:00Z");
    const auto paused = table->route("globex", before);
    ASSERT_NE(paused.pause, nullptr);
    EXPECT_EQ(paused.reason, RouteReason::paused);
    EXPECT_EQ(paused.pause->retry_after, 10s);
    EXPECT_EQ(paused.pause->reason, "cutover");
    EXPECT_EQ(table->route("globex", at("2026-12-03T18:05:00Z")).pause, nullptr);  // ends at `until`

    const auto pinned = table->route("acme", before);
    EXPECT_EQ(pinned.placement->name, "tier2");
    EXPECT_EQ(pinned.reason, RouteReason::override_pin);
    ASSERT_NE(pinned.pin, nullptr);
    EXPECT_EQ(pinned.drained_to, nullptr);  // tier2's drain has not started
    const auto pinned_and_drained = table->route("acme", at("2026-12-03T18:00:01Z"));
    EXPECT_EQ(pinned_and_drained.placement->name, "tier2");
    ASSERT_NE(pinned_and_drained.drained_to, nullptr);  // a drain empties the placement, pins included
    EXPECT_EQ(pinned_and_drained.drained_to->name, "visa");
    const auto expired = table->route("acme", at("2026-12-03T19:00:00Z"));
    EXPECT_EQ(expired.placement->name, "tier1");
    EXPECT_EQ(expired.reason, RouteReason::tier);
    EXPECT_EQ(expired.pin, nullptr);

    // tier1 drains to its fallback; at the end of the ramp every key of it has moved.
    const auto drained = table->route("globex", at("2026-12-03T18:10:00Z"));
    ASSERT_NE(drained.drained_to, nullptr);
    EXPECT_EQ(drained.drained_to->name, "tier3");
    EXPECT_EQ(drained.placement->name, "tier1");
    EXPECT_EQ(table->route("visa", at("2026-12-03T18:10:00Z")).drained_to, nullptr);
    // Without a time the table's own mapping: no operation applies.
    EXPECT_EQ(table->route("acme").placement->name, "tier1");
    EXPECT_EQ(table->route("globex").pause, nullptr);
}

// A drain of the default placement moves unknown keys too.
TEST(OperationsTableTest, DrainOfTheDefaultPlacementMovesUnknownKeys) {
    json document = base_document();
    document["operations"] = {{"drains", {{"tier3", {{"to", "tier2"}, {"start", "2026-12-03T18:00:00Z"}}}}}};
    const auto table = table_of(document);
    const auto route = table->route("nobody", at("2026-12-03T18:00:01Z"));
    EXPECT_EQ(route.reason, RouteReason::default_placement);
    ASSERT_NE(route.drained_to, nullptr);
    EXPECT_EQ(route.drained_to->name, "tier2");
}

TEST(OperationsConfigTest, ReadFromTheFile) {
    json document = base_document();
    document["operations"] = {
        {"drains", {{"tier1", {{"to", "tier2"}, {"start", "2026-12-03T18:00:00Z"}, {"ramp", "5m"}, {"from_share", 0.2},
                               {"to_share", 0.8}, {"reason", "maintenance"}}}}},
        {"pins", {{"acme", {{"placement", "visa"}, {"expires", "2026-12-03T19:00:00Z"}}}}},
        {"pauses", {{"globex", {{"until", "2026-12-03T18:05:00Z"}}}}}};
    const auto loaded = load(document);
    ASSERT_TRUE(loaded.ok()) << config::describe(loaded.errors);
    const auto& operations = loaded.config->operations;
    ASSERT_EQ(operations.drains.size(), 1u);
    EXPECT_EQ(operations.drains[0].placement, "tier1");
    EXPECT_EQ(operations.drains[0].to, "tier2");
    EXPECT_EQ(operations.drains[0].ramp, 5min);
    EXPECT_EQ(operations.drains[0].from_share, 0.2);
    EXPECT_EQ(operations.drains[0].to_share, 0.8);
    EXPECT_EQ(operations.drains[0].reason, "maintenance");
    ASSERT_EQ(operations.pins.size(), 1u);
    EXPECT_EQ(operations.pins[0].expires, at("2026-12-03T19:00:00Z"));
    ASSERT_EQ(operations.pauses.size(), 1u);
    EXPECT_EQ(operations.pauses[0].retry_after, 30s);  // the default
    EXPECT_TRUE(loaded.warnings.empty()) << config::describe(loaded.warnings);

    document["operations"]["pins"]["acme"]["colour"] = "blue";
    const auto warned = load(document);
    ASSERT_TRUE(warned.ok());
    EXPECT_NE(config::describe(warned.warnings).find("/operations/pins/acme/colour: unknown field"), std::string::npos)
        << config::describe(warned.warnings);
}

TEST(OperationsConfigTest, ValidationNamesEachMistake) {
    const auto with = [](json operations) {
        json document = base_document();
        document["operations"] = std::move(operations);
        return errors_of(document);
    };
    EXPECT_NE(with({{"drains", {{"tier9", {{"start", "2026-12-03T18:00:00Z"}}}}}}).find(
                  "/operations/drains/tier9: unknown placement \"tier9\""),
              std::string::npos);
    EXPECT_NE(with({{"drains", {{"tier2", {{"start", "2026-12-03T18:00:00Z"}}}}}}).find(
                  "/operations/drains/tier2/to: required: placement \"tier2\" has no fallback"),
              std::string::npos);
    EXPECT_NE(with({{"drains", {{"tier1", {{"to", "tier1"}, {"start", "2026-12-03T18:00:00Z"}}}}}}).find(
                  "drained into itself"),
              std::string::npos);
    EXPECT_NE(with({{"drains", {{"tier1", {{"to", "nowhere"}, {"start", "2026-12-03T18:00:00Z"}}}}}}).find(
                  "/operations/drains/tier1/to: unknown placement \"nowhere\""),
              std::string::npos);
    EXPECT_NE(with({{"drains", {{"tier1", {{"start", "2026-12-03T18:00:00Z"}, {"to_share", 1.5}}}}}}).find(
                  "/operations/drains/tier1/to_share: must be between 0 and 1"),
              std::string::npos);
    EXPECT_NE(with({{"drains", {{"tier1", {{"ramp", "5m"}}}}}}).find("/operations/drains/tier1/start: required field is missing"),
              std::string::npos);
    EXPECT_NE(with({{"drains", {{"tier1", {{"start", "tomorrow"}}}}}}).find(
                  "/operations/drains/tier1/start: not an RFC 3339 time"),
              std::string::npos);
    EXPECT_NE(with({{"drains", {{"tier1", {{"start", "6026-12-03T18:00:00Z"}}}}}}).find(
                  "/operations/drains/tier1/start: not an RFC 3339 time from 1970 to 2200"),
              std::string::npos);
    EXPECT_NE(with({{"drains", {{"tier1", {{"start", "2026-12-03T18:00:00Z"}, {"ramp", "9999999999h"}}}}}}).find(
                  "/operations/drains/tier1/ramp: must be between 0s and 168h"),
              std::string::npos);
    EXPECT_NE(with({{"pins", {{"acme", {{"placement", "tier9"}, {"expires", "2026-12-03T19:00:00Z"}}}}}}).find(
                  "/operations/pins/acme/placement: unknown placement \"tier9\""),
              std::string::npos);
    EXPECT_NE(with({{"pins", {{"acme", {{"expires", "2026-12-03T19:00:00Z"}}}}}}).find(
                  "/operations/pins/acme/placement: required field is missing"),
              std::string::npos);
    EXPECT_NE(with({{"pauses", {{"acme", {{"until", "2026-12-03T19:00:00Z"}, {"retry_after", "0s"}}}}}}).find(
                  "/operations/pauses/acme/retry_after: must be between 1s and 1h"),
              std::string::npos);
    EXPECT_NE(with({{"pauses", {{"", {{"until", "2026-12-03T19:00:00Z"}}}}}}).find("routing key must not be empty"),
              std::string::npos);
    EXPECT_NE(with({{"pauses", "acme"}}).find("/operations/pauses: expected an object, got string"), std::string::npos);
    EXPECT_NE(with(json::array()).find("/operations: expected an object"), std::string::npos);
}

}  // namespace
}  // namespace cell::routing
