#pragma once
// The routing table's key lookup: routing key -> placement index, in two flat arrays.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace cell::routing {

// Hashes a routing key; the index's only source of hashes, injectable so that tests can force
// every key into one probe chain.
using KeyHasher = std::uint64_t (*)(std::string_view key);

// std::hash, as the config parser's duplicate detection uses.
std::uint64_t hash_routing_key(std::string_view key);

// An open-addressing hash map from any byte string (the empty one included) to a 32-bit value.
// A std::unordered_map spends a node allocation and two or three dependent cache misses per
// lookup of a million-key table; here a lookup reads one 8-byte slot, and only when the slot's
// stored hash matches, the key's record:
//
//   slots_  power-of-two array, at most half full, linear probing. Each slot holds 32 bits of
//           the key's hash (the bits that do not choose the slot, so a miss is filtered out
//           without reading the key) and where the key's record starts in the arena.
//   arena_  every record back to back, 4-byte aligned: key length, value, key bytes.
//
// Keys are inserted once while the routing table is built and never removed.
//
// Thread safety: const members may be called from any number of threads at once; insert()
// must not run concurrently with anything else.
class KeyIndex {
public:
    KeyIndex() : KeyIndex(0, 0) {}

    // Room for `key_count` keys totalling `key_bytes` bytes, so that inserting them neither
    // rehashes nor moves the arena. More keys are still accepted, at the price of both.
    KeyIndex(std::size_t key_count, std::size_t key_bytes, KeyHasher hasher = hash_routing_key);

    // Maps `key` to `value`; false, and nothing changes, when `key` is already present (the
    // first value stays, as with std::unordered_map::emplace).
    // Throws std::length_error past 16 GiB of records or a key of 4 GiB.
    bool insert(std::string_view key, std::uint32_t value);

    // Hashes `key` for insert_prepared() and starts loading its slot into the cache. Building a
    // large table is a cache miss per key; prepared a few keys ahead, the misses overlap instead
    // of coming one after another.
    std::uint64_t prepare(std::string_view key) const {
        const std::uint64_t hash = hasher_(key);
        __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
        return hash;
    }
    // insert(key, value), with `hash` from prepare(key).
    bool insert_prepared(std::string_view key, std::uint64_t hash, std::uint32_t value);

    // The value of `key`, if present. Allocates nothing.
    std::optional<std::uint32_t> find(std::string_view key) const;

    std::size_t size() const { return size_; }

    // Calls `visit(key, value)` for every key, in the order they were inserted: the config's
    // order, so a table can be written back, or compared with another, without a copy of it.
    template <typename Visitor>
    void for_each(Visitor&& visit) const {
        for (std::size_t offset = 0; offset < arena_.size();) {
            const auto record_plus_one = static_cast<std::uint32_t>(offset / record_alignment + 1);
            const RecordHeader header = header_at(record_plus_one);
            visit(key_at(record_plus_one), header.value);
            offset += record_size(header.key_size);
        }
    }

    // Power of two, at least twice size().
    std::size_t slot_count() const { return slots_.size(); }

private:
    struct Slot {
        std::uint32_t hash_tag = 0;
        // Offset of the key's record in arena_, in units of record_alignment, plus one: 0 marks
        // an empty slot. Scaling the offset lets 32 bits reach 16 GiB of records.
        std::uint32_t record_plus_one = 0;
    };

    struct RecordHeader {
        std::uint32_t key_size;
        std::uint32_t value;
    };

    static constexpr std::size_t record_alignment = 4;

    static std::uint32_t hash_tag(std::uint64_t hash) { return static_cast<std::uint32_t>(hash >> 32); }
    static std::size_t slots_for(std::size_t key_count);
    static std::size_t record_size(std::size_t key_size) {
        return (sizeof(RecordHeader) + key_size + record_alignment - 1) / record_alignment * record_alignment;
    }

    RecordHeader header_at(std::uint32_t record_plus_one) const;
    std::string_view key_at(std::uint32_t record_plus_one) const;
    std::uint32_t append_record(std::string_view key, std::uint32_t value);
    void grow();

    std::vector<Slot> slots_;
    std::vector<char> arena_;
    std::size_t size_ = 0;
    KeyHasher hasher_;
};

}  // namespace cell::routing
