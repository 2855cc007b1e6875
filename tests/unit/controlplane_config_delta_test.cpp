// Deltas between routing configs: what the control plane encodes, what a router puts together
// from it and the table it serves, and every way a delta is refused.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "cell/config/load.hpp"
#include "cell/config/proxy_settings.hpp"
#include "cell/controlplane/config_delta.hpp"
#include "cell/controlplane/protocol.hpp"
#include "cell/util/sha256.hpp"

namespace cell::controlplane {
namespace {

using nlohmann::json;

json document_with(std::size_t keys, const std::string& version) {
    json table = json::object();
    for (std::size_t i = 0; i < keys; ++i) {
        table["tenant-" + std::to_string(i)] = i % 2 == 0 ? "tier1" : "tier2";
    }
    return json{{"version", version},
                {"routingTable", std::move(table)},
                {"cellEndpoints",
                 {{"tier1", "http://127.0.0.1:9001"}, {"tier2", "http://127.0.0.1:9002"}, {"tier3", "http://127.0.0.1:9003"}}},
                {"defaultPlacement", "tier3"}};
}

routing::TableConstPtr table_of(const std::string& text) {
    auto loaded = config::load_config(text);
    EXPECT_TRUE(loaded.ok()) << config::describe(loaded.errors);
    const auto settings = config::resolve_proxy_settings(loaded.config->proxy, {});
    return routing::Table::build(*loaded.config, settings, routing::TableOrigin{"test", "", util::sha256_hex(text), {}});
}

std::map<std::string, std::string> rows_of(const config::Config& config) {
    return {config.routing_table.begin(), config.routing_table.end()};
}

std::map<std::string, std::string> rows_of(const routing::Table& table) {
    std::map<std::string, std::string> rows;
    table.for_each_key([&](std::string_view key, const routing::PlacementTarget& placement) {
        rows.emplace(std::string(key), placement.name);
    });
    return rows;
}

struct Encoded {
    routing::TableConstPtr base;
    routing::TableConstPtr next;
    std::string next_text;
    std::string frame;
};

// Encodes the delta from `before` to `after`; the frame is empty when none was made.
Encoded encode(const json& before, const json& after, std::uint64_t revision = 7) {
    Encoded encoded;
    const std::string base_text = before.dump();
    encoded.next_text = after.dump();
    encoded.base = table_of(base_text);
    encoded.next = table_of(encoded.next_text);
    const std::string full = encode_snapshot(encoded.next_text, revision);
    DeltaSource source{encoded.base.get(), "base-hash", encoded.next.get(), encoded.next_text,
                       util::sha256_hex(full), after["version"].get<std::string>(), revision};
    encoded.frame = encode_delta(source, full.size()).value_or("");
    return encoded;
}

// Removes, moves and adds keys, adds a placement and changes an endpoint and the proxy settings:
// the router's result is the new config, whole, and its cache text loads as that config again.
TEST(ConfigDeltaTest, RoundTripGivesTheNewConfig) {
    const json before = document_with(2000, "1.0.0");
    json after = document_with(2000, "2.0.0");
    after["routingTable"].erase("tenant-3");
    after["routingTable"].erase("tenant-10");
    after["routingTable"]["tenant-4"] = "tier2";
    after["routingTable"]["tenant-5"] = "tier4";
    after["routingTable"]["newcomer"] = "tier4";
    after["cellEndpoints"]["tier4"] = "http://127.0.0.1:9004";
    after["cellEndpoints"]["tier2"] = "http://127.0.0.1:9102";
    after["proxy"] = {{"max_connections", 5000}};
    const auto encoded = encode(before, after);
    ASSERT_FALSE(encoded.frame.empty());
    EXPECT_TRUE(encoded.frame.starts_with(R"({"type":"config_delta")")) << encoded.frame.substr(0, 60);
    EXPECT_LT(encoded.frame.size(), encoded.next_text.size() / 4);

    auto decoded = decode_message(encoded.frame);
    ASSERT_TRUE(std::holds_alternative<Message>(decoded));
    const auto* delta = std::get_if<ConfigDelta>(&std::get<Message>(decoded));
    ASSERT_NE(delta, nullptr);
    EXPECT_EQ(delta->version, "2.0.0");
    EXPECT_EQ(delta->revision, 7u);
    EXPECT_EQ(delta->base_hash, "base-hash");

    auto applied = apply_delta(*encoded.base, encoded.frame, true);
    ASSERT_TRUE(std::holds_alternative<AppliedDelta>(applied)) << std::get<DeltaRefusal>(applied).reason;
    auto& result = std::get<AppliedDelta>(applied);
    const auto loaded = config::load_config(result.config);
    ASSERT_TRUE(loaded.ok()) << config::describe(loaded.errors);
    EXPECT_EQ(rows_of(*loaded.config), rows_of(*encoded.next));
    EXPECT_EQ(loaded.config->version, "2.0.0");
    EXPECT_EQ(loaded.config->placements.size(), 4u);
    EXPECT_EQ(loaded.config->proxy.max_connections, 5000u);
    EXPECT_EQ(table_digest(*loaded.config), table_digest(*encoded.next));
    // Unchanged keys keep the base's order; the new ones follow.
    EXPECT_EQ(loaded.config->routing_table.front().first, "tenant-0");
    EXPECT_EQ(loaded.config->routing_table.back().first, "newcomer");

    const auto cached = config::load_config(result.document);
    ASSERT_TRUE(cached.ok()) << config::describe(cached.errors);
    EXPECT_EQ(rows_of(*cached.config), rows_of(*encoded.next));
    EXPECT_EQ(revision_of(result.document), 7u);
}

// Keys that need escaping in JSON survive the trip both ways.
TEST(ConfigDeltaTest, KeysThatNeedEscapingSurvive) {
    const json before = document_with(400, "1");
    json after = document_with(400, "2");
    for (const std::string& key : {std::string("quote\"d"), std::string("back\\slash"), std::string("tab\there"),
                                  std::string("nul\x01"), std::string("caf\xc3\xa9")}) {
        after["routingTable"][key] = "tier2";
    }
    const auto encoded = encode(before, after);
    ASSERT_FALSE(encoded.frame.empty());
    auto applied = apply_delta(*encoded.base, encoded.frame, true);
    ASSERT_TRUE(std::holds_alternative<AppliedDelta>(applied)) << std::get<DeltaRefusal>(applied).reason;
    EXPECT_EQ(rows_of(std::get<AppliedDelta>(applied).config), rows_of(*encoded.next));
    const auto cached = config::load_config(std::get<AppliedDelta>(applied).document);
    ASSERT_TRUE(cached.ok()) << config::describe(cached.errors);
    EXPECT_EQ(rows_of(*cached.config), rows_of(*encoded.next));
}

// Random changes, many times: the result always equals the new table.
TEST(ConfigDeltaTest, RandomChangesAlwaysGiveTheNewTable) {
    std::mt19937 random(12345);
    for (int round = 0; round < 20; ++round) {
        const json before = document_with(1000, "a");
        json after = document_with(1000, "b");
        for (int change = 0; change < 30; ++change) {
            const std::string key = "tenant-" + std::to_string(random() % 1000);
            switch (random() % 3) {
                case 0: after["routingTable"].erase(key); break;
                case 1: after["routingTable"][key] = "tier3"; break;
                default: after["routingTable"]["added-" + std::to_string(random())] = "tier1"; break;
            }
        }
        const auto encoded = encode(before, after);
        ASSERT_FALSE(encoded.frame.empty());
        auto applied = apply_delta(*encoded.base, encoded.frame, false);
        ASSERT_TRUE(std::holds_alternative<AppliedDelta>(applied)) << std::get<DeltaRefusal>(applied).reason;
        EXPECT_EQ(rows_of(std::get<AppliedDelta>(applied).config), rows_of(*encoded.next)) << "round " << round;
        EXPECT_TRUE(std::get<AppliedDelta>(applied).document.empty());
    }
}

// Applied to another table than its base, a delta is refused: keys it removes are missing, or
// the digest of the result is not the control plane's.
TEST(ConfigDeltaTest, AnotherBaseIsRefused) {
    const json before = document_with(1000, "1");
    json after = document_with(1000, "2");
    after["routingTable"]["tenant-1"] = "tier3";
    const auto encoded = encode(before, after);
    ASSERT_FALSE(encoded.frame.empty());

    json other = document_with(1000, "0");
    other["routingTable"]["tenant-2"] = "tier3";  // differs from the base in one unmoved key
    const auto other_table = table_of(other.dump());
    auto applied = apply_delta(*other_table, encoded.frame, false);
    ASSERT_TRUE(std::holds_alternative<DeltaRefusal>(applied));
    EXPECT_NE(std::get<DeltaRefusal>(applied).reason.find("table_digest"), std::string::npos);

    json removing = document_with(1000, "3");
    removing["routingTable"].erase("tenant-7");
    const auto removal = encode(before, removing);
    const auto smaller = table_of(document_with(5, "x").dump());
    applied = apply_delta(*smaller, removal.frame, false);
    ASSERT_TRUE(std::holds_alternative<DeltaRefusal>(applied));
    EXPECT_NE(std::get<DeltaRefusal>(applied).reason.find("does not have"), std::string::npos);
}

// A tampered or malformed frame is refused with a reason, never applied.
TEST(ConfigDeltaTest, MalformedFramesAreRefused) {
    const json before = document_with(1000, "1");
    json after = document_with(1000, "2");
    after["routingTable"]["tenant-1"] = "tier3";
    const auto encoded = encode(before, after);
    ASSERT_FALSE(encoded.frame.empty());
    json frame = json::parse(encoded.frame);

    const auto refused = [&](json changed) {
        auto applied = apply_delta(*encoded.base, changed.dump(), false);
        return std::holds_alternative<DeltaRefusal>(applied);
    };
    json moved = frame;
    moved["routingTable"]["set"]["tenant-1"] = "tier2";
    EXPECT_TRUE(refused(moved));
    json counted = frame;
    counted["routing_keys"] = 999;
    EXPECT_TRUE(refused(counted));
    json keys_inside = frame;
    keys_inside["config"]["routingTable"] = {{"x", "tier1"}};
    EXPECT_TRUE(refused(keys_inside));
    json no_set = frame;
    no_set["routingTable"].erase("set");
    EXPECT_TRUE(refused(no_set));
    json number = frame;
    number["routingTable"]["set"]["tenant-9"] = 3;
    EXPECT_TRUE(refused(number));
    json bad_config = frame;
    bad_config["config"]["cellEndpoints"] = "not an object";
    EXPECT_TRUE(refused(bad_config));
    EXPECT_TRUE(std::holds_alternative<DeltaRefusal>(apply_delta(*encoded.base, "[1,2]", false)));
    EXPECT_TRUE(std::holds_alternative<DeltaRefusal>(apply_delta(*encoded.base, "{\"type\":", false)));
}

// No delta when it would not pay, or when the document's routingTable cannot be cut out for
// certain: the routers get the whole snapshot.
TEST(ConfigDeltaTest, NoDeltaWhenItDoesNotPayOrIsInDoubt) {
    const json before = document_with(1000, "1");
    json everything_moved = document_with(1000, "2");
    for (auto& [key, placement] : everything_moved["routingTable"].items()) {
        placement = "tier3";
    }
    EXPECT_TRUE(encode(before, everything_moved).frame.empty());

    const json small_before = document_with(3, "1");
    json small_after = document_with(3, "2");
    small_after["routingTable"]["tenant-0"] = "tier2";
    EXPECT_TRUE(encode(small_before, small_after).frame.empty());  // the config part is most of it

    // An escaped member name might be "routingTable": not cut.
    json after = document_with(1000, "2");
    after["routingTable"]["tenant-1"] = "tier3";
    std::string text = after.dump();
    const auto at = text.find("\"version\"");
    text.replace(at, 9, "\"vers\\u0069on\"");
    const auto base = table_of(before.dump());
    const auto next = table_of(text);
    DeltaSource source{base.get(), "h0", next.get(), text, "h1", "2", 1};
    EXPECT_FALSE(encode_delta(source, text.size()).has_value());
}

// The keys of a delta found from the two configs' rows are those found from the two tables:
// the same keys set to the same placements, the same keys removed, the same count and digest,
// and no delta from either when it does not pay. Rows that keep their places, rows reordered,
// and every change at the first and the last row.
TEST(ConfigDeltaTest, KeysFromTheConfigsAreTheKeysFromTheTables) {
    const auto parsed = [](const json& set_or_remove) {
        std::map<std::string, std::string> entries;
        if (set_or_remove.is_object()) {
            for (const auto& [key, placement] : set_or_remove.items()) {
                entries.emplace(key, placement.get<std::string>());
            }
        } else {
            for (const auto& key : set_or_remove) {
                entries.emplace(key.get<std::string>(), "");
            }
        }
        return entries;
    };
    const auto check = [&](const config::Config& before, const config::Config& after, std::size_t budget,
                           const std::string& label) {
        const auto from_rows = delta_keys(before, after, budget);
        const auto base = routing::Table::build(before, config::resolve_proxy_settings(before.proxy, {}),
                                                routing::TableOrigin{"test", "", "a", {}});
        const auto next = routing::Table::build(after, config::resolve_proxy_settings(after.proxy, {}),
                                                routing::TableOrigin{"test", "", "b", {}});
        const auto from_tables = delta_keys(*base, *next, budget);
        ASSERT_EQ(from_rows.has_value(), from_tables.has_value()) << label;
        if (!from_rows) {
            return;
        }
        EXPECT_EQ(parsed(json::parse(from_rows->set)), parsed(json::parse(from_tables->set))) << label;
        EXPECT_EQ(parsed(json::parse(from_rows->remove)), parsed(json::parse(from_tables->remove))) << label;
        EXPECT_EQ(from_rows->routing_keys, from_tables->routing_keys) << label;
        EXPECT_EQ(from_rows->digest, from_tables->digest) << label;
    };
    auto loaded = config::load_config(document_with(1000, "1").dump());
    ASSERT_TRUE(loaded.ok());
    const config::Config& before = *loaded.config;
    std::mt19937 random(777);
    for (int round = 0; round < 40; ++round) {
        config::Config after = before;
        auto& rows = after.routing_table;
        for (int change = 0; change < 25; ++change) {
            const std::size_t at = random() % rows.size();
            switch (random() % 4) {
                case 0: rows.erase(rows.begin() + static_cast<std::ptrdiff_t>(at)); break;
                case 1: rows[at].second = rows[at].second == "tier1" ? "tier2" : "tier1"; break;
                case 2: rows.emplace(rows.begin() + static_cast<std::ptrdiff_t>(at), "added-" + std::to_string(random()), "tier3"); break;
                default: std::swap(rows[at], rows[random() % rows.size()]); break;
            }
        }
        if (round % 5 == 0) {
            rows.front().second = "tier3";
            rows.back().second = "tier3";
        }
        if (round % 7 == 0) {
            std::shuffle(rows.begin(), rows.end(), random);
        }
        check(before, after, 1 << 20, "round " + std::to_string(round));
        check(before, after, 200, "small budget, round " + std::to_string(round));
    }
    check(before, before, 1 << 20, "unchanged");
    config::Config emptied = before;
    emptied.routing_table.clear();
    check(before, emptied, 1 << 20, "every key removed");
    check(emptied, before, 1 << 20, "every key added");
}

// Both sides compute the same digest; it depends on every key and placement, not on order.
TEST(ConfigDeltaTest, DigestIsTheSameOnBothSidesAndOrderFree) {
    const json document = document_with(100, "1");
    const auto table = table_of(document.dump());
    auto loaded = config::load_config(document.dump());
    ASSERT_TRUE(loaded.ok());
    EXPECT_EQ(table_digest(*table), table_digest(*loaded.config));
    auto reversed = *loaded.config;
    std::reverse(reversed.routing_table.begin(), reversed.routing_table.end());
    EXPECT_EQ(table_digest(reversed), table_digest(*loaded.config));
    auto moved = *loaded.config;
    moved.routing_table[0].second = "tier3";
    EXPECT_NE(table_digest(moved), table_digest(*loaded.config));
    auto split = *loaded.config;
    split.routing_table[0] = {"ab", "c"};
    auto joined = *loaded.config;
    joined.routing_table[0] = {"a", "bc"};
    EXPECT_NE(table_digest(split), table_digest(joined));
}

}  // namespace
}  // namespace cell::controlplane
