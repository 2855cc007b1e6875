#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cell::demo {

// Generated bodies repeat bytes 0..250; a prime period keeps misaligned copies detectable.
inline constexpr std::size_t kPatternPeriod = 251;
inline constexpr std::size_t kPieceSize = 64 * 1024;

constexpr unsigned char pattern_byte(std::uint64_t offset) {
  return static_cast<unsigned char>(offset % kPatternPeriod);
}

// One immutable buffer long enough that any piece of up to kPieceSize bytes starting at any
// body offset is a contiguous slice, so sending never copies.
class PatternSource {
 public:
  PatternSource();
  std::string_view piece(std::uint64_t offset, std::size_t length) const;

 private:
  std::vector<char> bytes_;
};

const PatternSource& pattern_source();

// SHA-256 of the first `length` pattern bytes. Returns nullopt when `stop` became true,
// so a shutdown does not wait for a gigabyte-sized hash.
std::optional<std::string> pattern_sha256_hex(std::uint64_t length,
                                              const std::atomic<bool>* stop = nullptr);

// Tests download the same large sizes repeatedly; hashing 1 GiB each time would dominate.
class PatternDigestCache {
 public:
  std::optional<std::string> find(std::uint64_t length) const;
  void store(std::uint64_t length, std::string digest);

 private:
  static constexpr std::size_t kMaxEntries = 64;
  mutable std::mutex mutex_;
  std::map<std::uint64_t, std::string> digests_;
};

}  // namespace cell::demo
