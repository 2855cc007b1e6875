#include "cell/routing/key_index.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <utility>

namespace cell::routing {

namespace {

constexpr std::size_t header_bytes = 2 * sizeof(std::uint32_t);

// Header and key, padded so that the next record's header starts aligned.
std::size_t record_bytes(std::size_t key_size, std::size_t alignment) {
    return (header_bytes + key_size + alignment - 1) / alignment * alignment;
}

}  // namespace

std::uint64_t hash_routing_key(std::string_view key) { return std::hash<std::string_view>{}(key); }

KeyIndex::KeyIndex(std::size_t key_count, std::size_t key_bytes, KeyHasher hasher)
    : slots_(slots_for(key_count)), hasher_(hasher) {
    // Padding is at most alignment - 1 bytes a record; reserving it all keeps the arena from
    // moving (and briefly doubling) while a large table is built.
    arena_.reserve(key_bytes + key_count * (header_bytes + record_alignment - 1));
}

std::size_t KeyIndex::slots_for(std::size_t key_count) {
    // At most half full, so that a probe for an absent key ends after about two slots.
    return std::bit_ceil(std::max<std::size_t>(8, key_count * 2));
}

bool KeyIndex::insert(std::string_view key, std::uint32_t value) { return insert_prepared(key, hasher_(key), value); }

bool KeyIndex::insert_prepared(std::string_view key, std::uint64_t hash, std::uint32_t value) {
    if ((size_ + 1) * 2 > slots_.size()) {
        grow();
    }
    const std::uint32_t tag = hash_tag(hash);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
        Slot& slot = slots_[i];
        if (slot.record_plus_one == 0) {
            slot = Slot{tag, append_record(key, value)};
            ++size_;
            return true;
        }
        if (slot.hash_tag == tag && key_at(slot.record_plus_one) == key) {
            return false;
        }
    }
}

std::optional<std::uint32_t> KeyIndex::find(std::string_view key) const {
    const std::uint64_t hash = hasher_(key);
    const std::uint32_t tag = hash_tag(hash);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
        const Slot slot = slots_[i];
        if (slot.record_plus_one == 0) {
            return std::nullopt;
        }
        if (slot.hash_tag == tag && key_at(slot.record_plus_one) == key) {
            return header_at(slot.record_plus_one).value;
        }
    }
}

KeyIndex::RecordHeader KeyIndex::header_at(std::uint32_t record_plus_one) const {
    // memcpy rather than a cast: the arena is a char buffer, not an array of headers.
    RecordHeader header;
    std::memcpy(&header, arena_.data() + std::size_t{record_plus_one - 1} * record_alignment, sizeof header);
    return header;
}

std::string_view KeyIndex::key_at(std::uint32_t record_plus_one) const {
    const std::size_t offset = std::size_t{record_plus_one - 1} * record_alignment;
    return {arena_.data() + offset + header_bytes, header_at(record_plus_one).key_size};
}

std::uint32_t KeyIndex::append_record(std::string_view key, std::uint32_t value) {
    if (key.size() > UINT32_MAX) {
        throw std::length_error("routing key index: key longer than 4 GiB");
    }
    const std::size_t offset = arena_.size();
    const std::size_t units = offset / record_alignment;
    if (units >= UINT32_MAX) {
        throw std::length_error("routing key index: more than 16 GiB of keys");
    }
    const RecordHeader header{static_cast<std::uint32_t>(key.size()), value};
    arena_.resize(offset + record_bytes(key.size(), record_alignment));
    std::memcpy(arena_.data() + offset, &header, sizeof header);
    std::memcpy(arena_.data() + offset + header_bytes, key.data(), key.size());
    return static_cast<std::uint32_t>(units + 1);
}

void KeyIndex::grow() {
    // The slots keep only the hash bits that do not choose a slot, so the keys are hashed again.
    std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(slots_.size() * 2));
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& slot : old) {
        if (slot.record_plus_one == 0) {
            continue;
        }
        std::size_t i = hasher_(key_at(slot.record_plus_one)) & mask;
        while (slots_[i].record_plus_one != 0) {
            i = (i + 1) & mask;
        }
        slots_[i] = slot;
    }
}

}  // namespace cell::routing
