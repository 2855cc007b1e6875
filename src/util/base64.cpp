#include "cell/util/base64.hpp"

#include <array>
#include <cstdint>

namespace cell::util {
namespace {

constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_decode_table() {
    std::array<std::int8_t, 256> table{};
    for (auto& entry : table) {
        entry = -1;
    }
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
        table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    }
    return table;
}

constexpr auto decode_table = make_decode_table();

}  // namespace

std::string base64_encode(std::string_view bytes) {
    // Sized once and written through a pointer: etcd's values are megabytes, and a push_back
    // per character checked the capacity four times per three bytes.
    std::string out((bytes.size() + 2) / 3 * 4, '\0');
    char* next = out.data();
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t n = (std::uint32_t(static_cast<unsigned char>(bytes[i])) << 16) |
                                (std::uint32_t(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                                std::uint32_t(static_cast<unsigned char>(bytes[i + 2]));
        next[0] = alphabet[(n >> 18) & 63];
        next[1] = alphabet[(n >> 12) & 63];
        next[2] = alphabet[(n >> 6) & 63];
        next[3] = alphabet[n & 63];
        next += 4;
    }
    const std::size_t rest = bytes.size() - i;
    if (rest > 0) {
        std::uint32_t n = std::uint32_t(static_cast<unsigned char>(bytes[i])) << 16;
        if (rest == 2) {
            n |= std::uint32_t(static_cast<unsigned char>(bytes[i + 1])) << 8;
        }
        next[0] = alphabet[(n >> 18) & 63];
        next[1] = alphabet[(n >> 12) & 63];
        next[2] = rest == 2 ? alphabet[(n >> 6) & 63] : '=';
        next[3] = '=';
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        int values[4];
        int padding = 0;
        for (int j = 0; j < 4; ++j) {
            const char c = text[i + j];
            if (c == '=' && last && j >= 2) {
                values[j] = 0;
                ++padding;
                continue;
            }
            if (padding > 0) {
                return std::nullopt;  // data after padding
            }
            values[j] = decode_table[static_cast<unsigned char>(c)];
            if (values[j] < 0) {
                return std::nullopt;
            }
        }
        const std::uint32_t n = (std::uint32_t(values[0]) << 18) | (std::uint32_t(values[1]) << 12) |
                                (std::uint32_t(values[2]) << 6) | std::uint32_t(values[3]);
        out.push_back(static_cast<char>((n >> 16) & 0xff));
        if (padding < 2) {
            out.push_back(static_cast<char>((n >> 8) & 0xff));
        }
        if (padding < 1) {
            out.push_back(static_cast<char>(n & 0xff));
        }
    }
    return out;
}

}  // namespace cell::util
