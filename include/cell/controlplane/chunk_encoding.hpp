#pragma once
// How a config text is stored in etcd's chunks (docs/milestones/m6-control-plane-ha.md,
// "Layout"): as it is, or compressed with zstd. A million-key table is 30 MB of JSON and about
// 10 MB compressed at level 1, which etcd takes in less than half the time and keeps in a third
// of the space.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace cell::controlplane {

enum class ChunkEncoding { identity, zstd };

// "identity" or "zstd": the manifest's "encoding" field and the flag's values.
const char* encoding_name(ChunkEncoding encoding);
std::optional<ChunkEncoding> parse_chunk_encoding(std::string_view name);

// One zstd frame of `text` at level 1 (fast: about 250 MB/s here).
std::string zstd_compress(std::string_view text);

// The text of one zstd frame, which must declare exactly `expected_bytes`; nullopt when it is not
// a frame of that size or does not decompress.
std::optional<std::string> zstd_decompress(std::string_view frame, std::size_t expected_bytes);

}  // namespace cell::controlplane
