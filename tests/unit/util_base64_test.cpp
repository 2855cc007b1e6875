// Base64 as etcd's JSON gateway carries keys and values.

#include <gtest/gtest.h>

#include <random>

#include "cell/util/base64.hpp"

namespace cell::util {
namespace {

// RFC 4648's test vectors.
TEST(Base64, KnownVectors) {
    const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                           {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                           {"foobar", "Zm9vYmFy"}};
    for (const auto& [plain, encoded] : vectors) {
        EXPECT_EQ(base64_encode(plain), encoded);
        EXPECT_EQ(base64_decode(encoded), std::optional<std::string>(plain));
    }
}

// Every byte value survives a round trip, at every length modulo 3.
TEST(Base64, BinaryRoundTrip) {
    std::mt19937 random(7);
    for (std::size_t size = 0; size < 300; ++size) {
        std::string bytes(size, '\0');
        for (auto& byte : bytes) {
            byte = static_cast<char>(random() & 0xff);
        }
        EXPECT_EQ(base64_decode(base64_encode(bytes)), std::optional<std::string>(bytes)) << size;
    }
}

TEST(Base64, InvalidTextIsRefused) {
    EXPECT_FALSE(base64_decode("Zg="));     // not a multiple of 4
    EXPECT_FALSE(base64_decode("Zg=a"));    // data after padding
    EXPECT_FALSE(base64_decode("=Zga"));    // padding first
    EXPECT_FALSE(base64_decode("Zm9v!A=="));  // outside the alphabet
    EXPECT_FALSE(base64_decode("Zm9-"));    // the URL alphabet is not this one
}

}  // namespace
}  // namespace cell::util
