// JSON log lines, request ids and timestamps.

#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "cell/observability/json_line.hpp"
#include "cell/observability/log.hpp"
#include "cell/util/request_id.hpp"
#include "cell/util/sha256.hpp"
#include "cell/util/time_format.hpp"

namespace cell {
namespace {

// Every value is escaped so that each line stays valid JSON whatever a client sent.
TEST(JsonLine, EscapesAndTypes) {
    observability::JsonLine line;
    line.add("s", std::string_view("a\"b\\c\nd\te\x01\x7f\xff"))
        .add("i", -3)
        .add("u", std::uint64_t{18446744073709551615ULL})
        .add("d", 1.23456)
        .add("b", true)
        .add_raw("o", R"({"k":1})");
    const auto text = std::move(line).finish();
    const auto parsed = nlohmann::json::parse(text);
    EXPECT_EQ(parsed["s"], "a\"b\\c\nd\te\x01\x7f\u00ff");
    EXPECT_EQ(parsed["i"], -3);
    EXPECT_EQ(parsed["u"], 18446744073709551615ULL);
    EXPECT_DOUBLE_EQ(parsed["d"].get<double>(), 1.235);
    EXPECT_EQ(parsed["b"], true);
    EXPECT_EQ(parsed["o"]["k"], 1);
    EXPECT_EQ(text.find('\n'), std::string::npos);
}

// The exact bytes: plain runs kept whole, each escape where its character was, at the start, in
// the middle and at the end of a value.
TEST(JsonLine, EscapedBytesAreExact) {
    const auto escaped = [](std::string_view value) {
        std::string out;
        observability::append_json_string(out, value);
        return out;
    };
    EXPECT_EQ(escaped(""), R"("")");
    EXPECT_EQ(escaped("/api/v1/orders?id=42"), R"("/api/v1/orders?id=42")");
    EXPECT_EQ(escaped("\"tenant\""), R"("\"tenant\"")");
    EXPECT_EQ(escaped("a\\b\r\n\tc"), R"("a\\b\r\n\tc")");
    EXPECT_EQ(escaped(std::string_view("\x00x\x1f\x7f\x80\xff", 6)), R"("\u0000x\u001f\u007f\u0080\u00ff")");
    EXPECT_EQ(escaped("end\x01"), R"("end\u0001")");
}

// Numbers as the log has always written them: integers in full, doubles with three decimals.
TEST(JsonLine, NumbersAreExact) {
    observability::JsonLine line;
    line.add("i", std::int64_t{-9223372036854775807LL - 1})
        .add("u", std::uint64_t{0})
        .add("a", 0.0005)
        .add("b", -2.5)
        .add("c", 1e20)
        .add("d", 1.7976931348623157e308)
        .add("e", 12.3456);
    const auto text = std::move(line).finish();
    EXPECT_EQ(text.substr(0, text.find(R"(,"d":)")),
              R"({"i":-9223372036854775808,"u":0,"a":0.001,"b":-2.500,"c":100000000000000000000.000)");
    EXPECT_EQ(nlohmann::json::parse(text)["d"].get<double>(), 1.7976931348623157e308);
    EXPECT_NE(text.find(R"("e":12.346})"), std::string::npos) << text;
}

// Request ids are 32 lowercase hex digits and do not repeat.
// Every name --help lists parses, plus spdlog's long forms; anything else is refused.
TEST(LogLevel, ParsesTheDocumentedNames) {
    using observability::Level;
    using observability::parse_log_level;
    EXPECT_EQ(parse_log_level("trace"), Level::trace);
    EXPECT_EQ(parse_log_level("debug"), Level::debug);
    EXPECT_EQ(parse_log_level("info"), Level::info);
    EXPECT_EQ(parse_log_level("warn"), Level::warn);
    EXPECT_EQ(parse_log_level("warning"), Level::warn);
    EXPECT_EQ(parse_log_level("error"), Level::err);
    EXPECT_EQ(parse_log_level("critical"), Level::critical);
    EXPECT_EQ(parse_log_level("off"), Level::off);
    EXPECT_EQ(parse_log_level("loud"), std::nullopt);
}

TEST(RequestId, Format) {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        const auto id = util::generate_request_id();
        ASSERT_EQ(id.size(), 32u);
        ASSERT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
        seen.insert(id);
    }
    EXPECT_EQ(seen.size(), 1000u);
}

// RFC 3339 UTC with milliseconds.
TEST(TimeFormat, Rfc3339) {
    using namespace std::chrono;
    const auto t = system_clock::time_point(milliseconds(1764148211123));
    EXPECT_EQ(util::format_rfc3339(t), "2025-11-26T09:10:11.123Z");
    EXPECT_EQ(util::format_rfc3339(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(util::format_rfc3339(system_clock::time_point(milliseconds(1767323045006))), "2026-01-02T03:04:05.006Z");
    EXPECT_EQ(util::format_rfc3339(system_clock::time_point(milliseconds(-1))), "1969-12-31T23:59:59.999Z");
    // The clock's last representable millisecond.
    EXPECT_EQ(util::format_rfc3339(system_clock::time_point(milliseconds(9223372036854))), "2262-04-11T23:47:16.854Z");
}

// SHA-256 of known vectors.
TEST(Sha256, KnownVectors) {
    EXPECT_EQ(util::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(util::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace cell
