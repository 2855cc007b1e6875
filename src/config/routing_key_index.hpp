#pragma once
// Duplicate detection for routing tables of a million keys (internal to src/config).

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cell::config::detail {

// An open-addressing set of row numbers, keyed by each row's routing key. It stores no key
// copies, only 8 bytes a slot, and grows from stored hashes without touching the keys again;
// a node-based std::unordered_set spent most of a 1M-key parse chasing pointers. Rows are
// numbered in 32 bits, which no table that fits in memory as text can exceed.
class RoutingKeyIndex {
public:
    using Table = std::vector<std::pair<std::string, std::string>>;

    // Room for `expected_keys` without growing.
    explicit RoutingKeyIndex(std::size_t expected_keys = 0) {
        std::size_t slots = 64;
        while (slots < expected_keys * 2) {
            slots *= 2;
        }
        slots_.resize(slots);
    }

    // Hashes a key and starts loading its slot, so that a later insert() finds it in cache: the
    // slot load is a cache miss on a large table, and the parser reads the next rows meanwhile.
    std::uint32_t prepare(std::string_view key) const {
        const auto hash = static_cast<std::uint32_t>(std::hash<std::string_view>{}(key));
        __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
        return hash;
    }

    // Adds table[row], whose key prepare() returned hash for; false when an earlier row has the
    // same key (the index is unchanged).
    bool insert(const Table& table, std::size_t row, std::uint32_t hash) {
        if ((size_ + 1) * 2 > slots_.size()) {
            grow();
        }
        const std::string_view key = table[row].first;
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
            Slot& slot = slots_[i];
            if (slot.row_plus_one == 0) {
                slot = Slot{hash, static_cast<std::uint32_t>(row + 1)};
                ++size_;
                return true;
            }
            if (slot.hash == hash && table[slot.row_plus_one - 1].first == key) {
                return false;
            }
        }
    }

private:
    struct Slot {
        std::uint32_t hash = 0;
        std::uint32_t row_plus_one = 0;  // 0: empty
    };

    void grow() {
        std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(slots_.size() * 2));
        const std::size_t mask = slots_.size() - 1;
        for (const Slot& slot : old) {
            if (slot.row_plus_one == 0) {
                continue;
            }
            std::size_t i = slot.hash & mask;
            while (slots_[i].row_plus_one != 0) {
                i = (i + 1) & mask;
            }
            slots_[i] = slot;
        }
    }

    std::vector<Slot> slots_;
    std::size_t size_ = 0;
};

}  // namespace cell::config::detail
