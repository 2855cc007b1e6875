#include "cell_body_pattern.hpp"
#include "cell_sha256.hpp"

#include <gtest/gtest.h>

#include <string>

namespace cell::demo {
namespace {

std::string generate(std::uint64_t offset, std::size_t length) {
  std::string bytes;
  for (std::size_t i = 0; i < length; ++i) {
    bytes.push_back(static_cast<char>(pattern_byte(offset + i)));
  }
  return bytes;
}

TEST(CellBodyPattern, BytesCycleThroughThePrimePeriod) {
  EXPECT_EQ(pattern_byte(0), 0);
  EXPECT_EQ(pattern_byte(250), 250);
  EXPECT_EQ(pattern_byte(251), 0);
  EXPECT_EQ(pattern_byte(1000), 1000 % 251);
}

TEST(CellBodyPattern, PiecesAtAnyOffsetMatchTheDefinition) {
  const PatternSource& source = pattern_source();
  for (const std::uint64_t offset : {0ull, 1ull, 250ull, 251ull, 65536ull, 1073741823ull}) {
    EXPECT_EQ(source.piece(offset, 1000), generate(offset, 1000)) << offset;
  }
  EXPECT_EQ(source.piece(123, kPieceSize), generate(123, kPieceSize));
  EXPECT_THROW(source.piece(0, kPieceSize + 1), std::length_error);
}

TEST(CellBodyPattern, DigestMatchesHashOfGeneratedBytes) {
  for (const std::uint64_t length : {0ull, 1ull, 251ull, 65536ull, 65537ull, 200000ull}) {
    EXPECT_EQ(pattern_sha256_hex(length), sha256_hex(generate(0, length))) << length;
  }
}

TEST(CellBodyPattern, DigestGivesUpWhenStopping) {
  const std::atomic<bool> stop{true};
  EXPECT_EQ(pattern_sha256_hex(1 << 20, &stop), std::nullopt);
}

TEST(CellBodyPattern, CacheStoresAndEvicts) {
  PatternDigestCache cache;
  EXPECT_EQ(cache.find(10), std::nullopt);
  cache.store(10, "ten");
  EXPECT_EQ(cache.find(10), "ten");
  for (std::uint64_t i = 100; i < 300; ++i) {
    cache.store(i, std::to_string(i));
  }
  EXPECT_EQ(cache.find(299), "299");
}

}  // namespace
}  // namespace cell::demo
