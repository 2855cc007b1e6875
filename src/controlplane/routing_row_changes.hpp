#pragma once
// Which rows of one routing table differ from another's (internal to src/controlplane): the
// diff `cellctl` shows and the keys a delta carries are both made from it.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cell::controlplane::detail {

using RoutingRows = std::vector<std::pair<std::string, std::string>>;

// Positions of a table's keys, for finding each key of the other table. Open addressing in one
// flat array: a million keys make two allocations instead of a million map nodes, which is most
// of what a node-based map would spend here. Positions are 32-bit: a config file of at most
// 64 MiB holds far fewer keys.
class KeyPositions {
public:
    KeyPositions(const RoutingRows& table, std::size_t begin, std::size_t end) : table_(table) {
        const std::size_t wanted = std::max<std::size_t>(16, (end - begin) * 2);
        std::size_t capacity = 16;
        while (capacity < wanted) {
            capacity *= 2;
        }
        mask_ = capacity - 1;
        slots_.assign(capacity, Slot{});
        for (std::size_t i = begin; i < end; ++i) {
            const std::size_t hash = std::hash<std::string_view>{}(table_[i].first);
            std::size_t slot = hash & mask_;
            while (slots_[slot].position != empty) {
                slot = (slot + 1) & mask_;
            }
            slots_[slot] = {static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(hash >> 32)};
        }
    }

    // The key's position in the table, or nullopt.
    std::optional<std::size_t> find(std::string_view key) const {
        const std::size_t hash = std::hash<std::string_view>{}(key);
        const auto tag = static_cast<std::uint32_t>(hash >> 32);
        for (std::size_t slot = hash & mask_;; slot = (slot + 1) & mask_) {
            const Slot& candidate = slots_[slot];
            if (candidate.position == empty) {
                return std::nullopt;
            }
            if (candidate.tag == tag && table_[candidate.position].first == key) {
                return candidate.position;
            }
        }
    }

private:
    static constexpr std::uint32_t empty = 0xffffffffu;
    struct Slot {
        std::uint32_t position = empty;
        std::uint32_t tag = 0;  // high bits of the hash: most probes of other keys end here
    };

    const RoutingRows& table_;
    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
};

// Calls `changes.moved(from_index, to_index)` for each key in both tables whose placement
// differs, `changes.added(to_index)` for each key only in `to` and `changes.removed(from_index)`
// for each key only in `from`. Each call returns false to stop the walk.
//
// Edits usually leave most of the file in place, so the common prefix and suffix (same key at
// the same position) are compared without hashing; only the keys between them go through a
// hash map. The order of the calls: the prefix, then the middle in `to`'s order with its removed
// keys after it, then the suffix. Both tables hold each key once (validation ensures it).
template <typename Changes>
void for_each_row_change(const RoutingRows& from, const RoutingRows& to, Changes& changes) {
    std::size_t prefix = 0;
    const std::size_t shorter = std::min(from.size(), to.size());
    while (prefix < shorter && from[prefix].first == to[prefix].first) {
        ++prefix;
    }
    std::size_t suffix = 0;
    while (suffix < shorter - prefix && from[from.size() - 1 - suffix].first == to[to.size() - 1 - suffix].first) {
        ++suffix;
    }
    const auto aligned = [&](std::size_t from_index, std::size_t to_index) {
        return from[from_index].second == to[to_index].second || changes.moved(from_index, to_index);
    };
    for (std::size_t i = 0; i < prefix; ++i) {
        if (!aligned(i, i)) {
            return;
        }
    }
    const std::size_t from_end = from.size() - suffix;
    const std::size_t to_end = to.size() - suffix;
    if (prefix < from_end || prefix < to_end) {
        const KeyPositions positions(from, prefix, from_end);
        std::vector<bool> still_present(from_end - prefix, false);
        for (std::size_t i = prefix; i < to_end; ++i) {
            const auto found = positions.find(to[i].first);
            if (!found) {
                if (!changes.added(i)) {
                    return;
                }
                continue;
            }
            still_present[*found - prefix] = true;
            if (from[*found].second != to[i].second && !changes.moved(*found, i)) {
                return;
            }
        }
        for (std::size_t i = prefix; i < from_end; ++i) {
            if (!still_present[i - prefix] && !changes.removed(i)) {
                return;
            }
        }
    }
    for (std::size_t i = 0; i < suffix; ++i) {
        if (!aligned(from.size() - suffix + i, to.size() - suffix + i)) {
            return;
        }
    }
}

}  // namespace cell::controlplane::detail
