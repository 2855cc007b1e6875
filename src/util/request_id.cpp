#include "cell/util/request_id.hpp"

#include <array>
#include <cstdint>
#include <random>

namespace cell::util {
namespace {

// splitmix64: tiny, fast and good enough for identifiers (not for secrets).
std::uint64_t next_random(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

std::uint64_t seed_from_device() {
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

}  // namespace

std::string generate_request_id() {
    thread_local std::uint64_t state = seed_from_device();
    static constexpr std::array<char, 16> digits{'0', '1', '2', '3', '4', '5', '6', '7',
                                                 '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
    std::string id(32, '0');
    for (int half = 0; half < 2; ++half) {
        std::uint64_t bits = next_random(state);
        for (int i = 0; i < 16; ++i) {
            id[half * 16 + i] = digits[bits & 0xf];
            bits >>= 4;
        }
    }
    return id;
}

}  // namespace cell::util
