#include "cell/controlplane/chunk_encoding.hpp"

#include <gtest/gtest.h>

#include <string>

#include "cell/controlplane/etcd_config_store.hpp"

namespace cell::controlplane {
namespace {

std::string table_text(int keys) {
    std::string text = R"({"version":"1","routingTable":{)";
    for (int i = 0; i < keys; ++i) {
        text += (i == 0 ? "\"" : ",\"") + std::string("tenant-") + std::to_string(i * 7919) + "\":\"tier" +
                std::to_string(1 + i % 3) + "\"";
    }
    return text + "}}";
}

TEST(ChunkEncoding, ZstdRoundTripsAndIsSmaller) {
    const std::string text = table_text(20'000);
    const std::string frame = zstd_compress(text);
    EXPECT_LT(frame.size(), text.size() / 3);
    EXPECT_EQ(zstd_decompress(frame, text.size()), text);
    EXPECT_EQ(zstd_decompress(zstd_compress(""), 0), std::string());
}

// A frame of another size, a truncated frame or bytes that are no frame at all are refused,
// never returned as text.
TEST(ChunkEncoding, RefusesWhatIsNotTheFrameOfTheExpectedText) {
    const std::string text = table_text(1'000);
    const std::string frame = zstd_compress(text);
    EXPECT_FALSE(zstd_decompress(frame, text.size() + 1).has_value());
    EXPECT_FALSE(zstd_decompress(frame.substr(0, frame.size() / 2), text.size()).has_value());
    EXPECT_FALSE(zstd_decompress(text, text.size()).has_value());
    EXPECT_FALSE(zstd_decompress("", 0).has_value());
}

TEST(ChunkEncoding, NamesParseBack) {
    EXPECT_EQ(parse_chunk_encoding("zstd"), ChunkEncoding::zstd);
    EXPECT_EQ(parse_chunk_encoding("identity"), ChunkEncoding::identity);
    EXPECT_FALSE(parse_chunk_encoding("gzip").has_value());
    EXPECT_STREQ(encoding_name(ChunkEncoding::zstd), "zstd");
}

// Format 1 manifests (chunks as they are) stay readable; a compressed version is format 2 and
// names its encoding, so that replicas that cannot read it refuse the manifest outright.
TEST(ChunkEncoding, ManifestRecordsTheEncoding) {
    VersionRecord record;
    record.content_hash = std::string(64, 'a');
    record.bytes = 100;
    record.chunks = 1;
    const auto plain = to_json(record);
    EXPECT_EQ(plain["format"], 1);
    EXPECT_FALSE(plain.contains("encoding"));
    EXPECT_EQ(version_record_from(plain.dump())->encoding, ChunkEncoding::identity);

    record.encoding = ChunkEncoding::zstd;
    const auto compressed = to_json(record);
    EXPECT_EQ(compressed["format"], 2);
    EXPECT_EQ(compressed["encoding"], "zstd");
    EXPECT_EQ(version_record_from(compressed.dump())->encoding, ChunkEncoding::zstd);

    auto unknown = compressed;
    unknown["encoding"] = "brotli";
    EXPECT_FALSE(version_record_from(unknown.dump()).has_value());
    unknown.erase("encoding");
    EXPECT_FALSE(version_record_from(unknown.dump()).has_value());
}

}  // namespace
}  // namespace cell::controlplane
