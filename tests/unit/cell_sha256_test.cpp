#include "cell_sha256.hpp"

#include <gtest/gtest.h>

#include <string>

namespace cell::demo {
namespace {

// FIPS 180-2 test vectors.
TEST(CellSha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(CellSha256, IncrementalMatchesOneShot) {
  const std::string million(1'000'000, 'a');
  Sha256 sha;
  for (std::size_t offset = 0; offset < million.size(); offset += 4093) {
    sha.update(std::string_view(million).substr(offset, 4093));
  }
  EXPECT_EQ(sha.final_hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(CellSha256, EmptyUpdatesAreHarmless) {
  Sha256 sha;
  sha.update(nullptr, 0);
  sha.update("abc");
  sha.update("", 0);
  EXPECT_EQ(sha.final_hex(), sha256_hex("abc"));
}

TEST(CellSha256, HexIsLowercase) {
  const unsigned char bytes[] = {0x00, 0xab, 0xff, 0x10};
  EXPECT_EQ(to_hex(bytes, sizeof bytes), "00abff10");
}

}  // namespace
}  // namespace cell::demo
