#include "cell/controlplane/chunk_encoding.hpp"

#include <stdexcept>

#include <zstd.h>

namespace cell::controlplane {

const char* encoding_name(ChunkEncoding encoding) {
    return encoding == ChunkEncoding::zstd ? "zstd" : "identity";
}

std::optional<ChunkEncoding> parse_chunk_encoding(std::string_view name) {
    if (name == "zstd") {
        return ChunkEncoding::zstd;
    }
    if (name == "identity") {
        return ChunkEncoding::identity;
    }
    return std::nullopt;
}

std::string zstd_compress(std::string_view text) {
    std::string frame(ZSTD_compressBound(text.size()), '\0');
    const std::size_t size = ZSTD_compress(frame.data(), frame.size(), text.data(), text.size(), 1);
    if (ZSTD_isError(size) != 0) {
        throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(size));
    }
    frame.resize(size);
    frame.shrink_to_fit();
    return frame;
}

std::optional<std::string> zstd_decompress(std::string_view frame, std::size_t expected_bytes) {
    const unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
    if (declared == ZSTD_CONTENTSIZE_ERROR || declared == ZSTD_CONTENTSIZE_UNKNOWN || declared != expected_bytes) {
        return std::nullopt;
    }
    std::string text(expected_bytes, '\0');
    const std::size_t size = ZSTD_decompress(text.data(), text.size(), frame.data(), frame.size());
    if (ZSTD_isError(size) != 0 || size != expected_bytes) {
        return std::nullopt;
    }
    return text;
}

}  // namespace cell::controlplane
