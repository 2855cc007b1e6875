// The routing table's flat key index: exact lookups of arbitrary byte strings.

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cell/routing/key_index.hpp"

namespace cell::routing {
namespace {

// Sends every key to the same slot with the same stored hash, so each lookup walks one probe
// chain and tells keys apart only by comparing their bytes.
std::uint64_t one_hash_for_all(std::string_view) { return 0x1234'5678'9abc'def0; }

// "prefix" + the number, appended rather than written with +: GCC 12 warns falsely
// (-Wrestrict) on "literal" + std::string.
std::string numbered_key(std::string_view prefix, std::uint32_t number) {
    std::string key(prefix);
    key += std::to_string(number);
    return key;
}

// A table of no keys finds nothing, not even the empty key.
TEST(RoutingKeyIndex, EmptyIndexFindsNothing) {
    const KeyIndex index;
    EXPECT_EQ(index.size(), 0u);
    EXPECT_FALSE(index.find("acme"));
    EXPECT_FALSE(index.find(""));
    const KeyIndex reserved(0, 0);
    EXPECT_FALSE(reserved.find("acme"));
}

// One key is found with its value; near misses are not.
TEST(RoutingKeyIndex, SingleKey) {
    KeyIndex index(1, 4);
    EXPECT_TRUE(index.insert("acme", 7));
    EXPECT_EQ(index.size(), 1u);
    EXPECT_EQ(index.find("acme"), 7u);
    EXPECT_FALSE(index.find("acm"));
    EXPECT_FALSE(index.find("acme "));
    EXPECT_FALSE(index.find("ACME"));
    EXPECT_FALSE(index.find(""));
}

// A repeated key keeps its first value, as std::unordered_map::emplace does.
TEST(RoutingKeyIndex, RepeatedKeyKeepsFirstValue) {
    KeyIndex index(2, 8);
    EXPECT_TRUE(index.insert("acme", 1));
    EXPECT_FALSE(index.insert("acme", 2));
    EXPECT_EQ(index.size(), 1u);
    EXPECT_EQ(index.find("acme"), 1u);
}

// The empty string is a key like any other (validation rejects it in routing files, the index
// does not).
TEST(RoutingKeyIndex, EmptyStringKey) {
    KeyIndex index(2, 1);
    EXPECT_TRUE(index.insert("", 3));
    EXPECT_TRUE(index.insert("a", 4));
    EXPECT_EQ(index.find(""), 3u);
    EXPECT_EQ(index.find("a"), 4u);
    EXPECT_FALSE(index.insert("", 5));
}

// Keys that are prefixes of each other differ by length alone; with one hash for all, only the
// byte comparison can tell them apart.
TEST(RoutingKeyIndex, KeysThatArePrefixesOfEachOther) {
    KeyIndex index(0, 0, one_hash_for_all);
    const std::vector<std::string> keys = {"", "t", "te", "ten", "tenant", "tenant-", "tenant-a"};
    for (std::uint32_t i = 0; i < keys.size(); ++i) {
        ASSERT_TRUE(index.insert(keys[i], i));
    }
    for (std::uint32_t i = 0; i < keys.size(); ++i) {
        EXPECT_EQ(index.find(keys[i]), i) << keys[i];
    }
    EXPECT_FALSE(index.find("tenant-ab"));
    EXPECT_FALSE(index.find("tenan"));
    EXPECT_FALSE(index.find("e"));
}

// Keys are bytes: embedded NULs, high bytes and lengths past a record's alignment all count.
TEST(RoutingKeyIndex, ArbitraryBytes) {
    KeyIndex index(0, 0, one_hash_for_all);
    const std::string nul_inside("a\0b", 3);
    const std::string nul_only(1, '\0');
    const std::string high_bytes("\xff\xfe\x80", 3);
    const std::string long_key(1000, 'x');
    ASSERT_TRUE(index.insert(nul_inside, 1));
    ASSERT_TRUE(index.insert(nul_only, 2));
    ASSERT_TRUE(index.insert(high_bytes, 3));
    ASSERT_TRUE(index.insert(long_key, 4));
    EXPECT_EQ(index.find(nul_inside), 1u);
    EXPECT_EQ(index.find(nul_only), 2u);
    EXPECT_EQ(index.find(high_bytes), 3u);
    EXPECT_EQ(index.find(long_key), 4u);
    EXPECT_FALSE(index.find("a"));
    EXPECT_FALSE(index.find(std::string("a\0c", 3)));
    EXPECT_FALSE(index.find(std::string(999, 'x')));
    EXPECT_FALSE(index.find(""));
}

// Hundreds of keys in a single probe chain, across several rehashes and wrapping past the end of
// the slot array: every key is found, every absent key walks the chain to its end.
TEST(RoutingKeyIndex, OneLongProbeChain) {
    KeyIndex index(1, 1, one_hash_for_all);
    constexpr std::uint32_t count = 500;
    for (std::uint32_t i = 0; i < count; ++i) {
        ASSERT_TRUE(index.insert(numbered_key("key-", i), i));
    }
    EXPECT_EQ(index.size(), count);
    for (std::uint32_t i = 0; i < count; ++i) {
        EXPECT_EQ(index.find(numbered_key("key-", i)), i);
    }
    EXPECT_FALSE(index.find("key-500"));
    EXPECT_FALSE(index.find("key-"));
    EXPECT_FALSE(index.insert("key-42", 0));
}

// The index stays at most half full, in a power-of-two number of slots, however it is sized.
TEST(RoutingKeyIndex, AtMostHalfFull) {
    KeyIndex reserved(1000, 8000);
    KeyIndex grown(0, 0);
    for (std::uint32_t i = 0; i < 1000; ++i) {
        reserved.insert(numbered_key("k", i), i);
        grown.insert(numbered_key("k", i), i);
        ASSERT_LE(grown.size() * 2, grown.slot_count());
    }
    EXPECT_EQ(reserved.slot_count(), 2048u);  // sized once, never grown
    EXPECT_LE(reserved.size() * 2, reserved.slot_count());
    EXPECT_EQ(grown.slot_count() & (grown.slot_count() - 1), 0u);
}

std::string random_key(std::mt19937_64& random) {
    // Short lengths are common so that keys repeat and prefixes of other keys occur.
    const std::size_t length = random() % 4 == 0 ? random() % 4 : random() % 40;
    std::string key(length, '\0');
    for (char& byte : key) {
        byte = static_cast<char>(random() % 4 == 0 ? random() % 256 : 'a' + random() % 3);
    }
    return key;
}

// Same answers as std::unordered_map for 100k random byte strings, present and absent, with
// the index sized in advance and grown from empty.
TEST(RoutingKeyIndex, MatchesUnorderedMap) {
    std::mt19937_64 random(20261126);
    std::unordered_map<std::string, std::uint32_t> expected;
    std::vector<std::string> inserted;
    for (std::uint32_t i = 0; i < 100'000; ++i) {
        inserted.push_back(random_key(random));
    }
    std::size_t key_bytes = 0;
    for (const auto& key : inserted) {
        key_bytes += key.size();
    }
    KeyIndex reserved(inserted.size(), key_bytes);
    KeyIndex grown;
    for (std::uint32_t i = 0; i < inserted.size(); ++i) {
        const bool is_new = expected.emplace(inserted[i], i).second;
        ASSERT_EQ(reserved.insert(inserted[i], i), is_new);
        ASSERT_EQ(grown.insert(inserted[i], i), is_new);
    }
    ASSERT_EQ(reserved.size(), expected.size());
    ASSERT_EQ(grown.size(), expected.size());
    for (const auto& [key, value] : expected) {
        ASSERT_EQ(reserved.find(key), value);
        ASSERT_EQ(grown.find(key), value);
    }
    std::size_t absent = 0;
    for (int i = 0; i < 100'000; ++i) {
        const std::string key = random_key(random);
        const auto it = expected.find(key);
        const std::optional<std::uint32_t> want =
            it == expected.end() ? std::nullopt : std::optional<std::uint32_t>(it->second);
        absent += it == expected.end() ? 1 : 0;
        ASSERT_EQ(reserved.find(key), want);
        ASSERT_EQ(grown.find(key), want);
    }
    EXPECT_GT(absent, 50'000u);  // the absent-key path was really exercised
}

}  // namespace
}  // namespace cell::routing
