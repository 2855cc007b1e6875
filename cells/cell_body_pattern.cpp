#include "cell_body_pattern.hpp"

#include "cell_sha256.hpp"

#include <algorithm>
#include <stdexcept>

namespace cell::demo {

PatternSource::PatternSource() : bytes_(kPieceSize + kPatternPeriod) {
  for (std::size_t i = 0; i < bytes_.size(); ++i) {
    bytes_[i] = static_cast<char>(pattern_byte(i));
  }
}

std::string_view PatternSource::piece(std::uint64_t offset, std::size_t length) const {
  if (length > kPieceSize) {
    throw std::length_error("pattern piece larger than kPieceSize");
  }
  return {bytes_.data() + offset % kPatternPeriod, length};
}

const PatternSource& pattern_source() {
  static const PatternSource source;
  return source;
}

std::optional<std::string> pattern_sha256_hex(std::uint64_t length,
                                              const std::atomic<bool>* stop) {
  const PatternSource& source = pattern_source();
  Sha256 sha;
  for (std::uint64_t offset = 0; offset < length;) {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
      return std::nullopt;
    }
    const auto size = static_cast<std::size_t>(std::min<std::uint64_t>(kPieceSize, length - offset));
    sha.update(source.piece(offset, size));
    offset += size;
  }
  return sha.final_hex();
}

std::optional<std::string> PatternDigestCache::find(std::uint64_t length) const {
  const std::lock_guard lock(mutex_);
  if (const auto it = digests_.find(length); it != digests_.end()) {
    return it->second;
  }
  return std::nullopt;
}

void PatternDigestCache::store(std::uint64_t length, std::string digest) {
  const std::lock_guard lock(mutex_);
  if (digests_.size() >= kMaxEntries && !digests_.contains(length)) {
    // Arbitrary eviction is fine: entries are cheap to recompute for the sizes tests use.
    digests_.erase(digests_.begin());
  }
  digests_[length] = std::move(digest);
}

}  // namespace cell::demo
