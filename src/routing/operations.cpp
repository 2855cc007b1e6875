#include "cell/routing/operations.hpp"

#include <algorithm>

namespace cell::routing {

double DrainRule::share_at(config::WallTime now) const {
    if (now <= start) {
        return from_share;
    }
    if (ramp.count() <= 0 || now >= start + ramp) {
        return to_share;
    }
    const double progress = std::chrono::duration<double>(now - start) / std::chrono::duration<double>(ramp);
    return from_share + (to_share - from_share) * std::clamp(progress, 0.0, 1.0);
}

double drain_position(std::string_view placement, std::string_view key) {
    constexpr std::uint64_t offset = 14695981039346656037ull;
    constexpr std::uint64_t prime = 1099511628211ull;
    std::uint64_t hash = offset;
    for (const char c : placement) {
        hash = (hash ^ static_cast<unsigned char>(c)) * prime;
    }
    hash *= prime;  // the separator: ("ab", "c") and ("a", "bc") differ
    for (const char c : key) {
        hash = (hash ^ static_cast<unsigned char>(c)) * prime;
    }
    // FNV's low bits mix poorly for short inputs: fold the high half in before taking 53 bits.
    hash ^= hash >> 29;
    hash *= 0xbf58476d1ce4e5b9ull;
    hash ^= hash >> 32;
    return static_cast<double>(hash >> 11) * 0x1.0p-53;
}

}  // namespace cell::routing
