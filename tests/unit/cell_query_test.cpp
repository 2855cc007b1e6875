#include "cell_controls.hpp"
#include "cell_query.hpp"

#include <gtest/gtest.h>

namespace cell::demo {
namespace {

TEST(CellQuery, SplitsTargetAtFirstQuestionMark) {
  auto parts = split_target("/a/b%20c?x=1&y=?z");
  EXPECT_EQ(parts.path, "/a/b%20c");
  EXPECT_EQ(parts.query, "x=1&y=?z");
  parts = split_target("/plain");
  EXPECT_EQ(parts.path, "/plain");
  EXPECT_EQ(parts.query, "");
  parts = split_target("/empty?");
  EXPECT_EQ(parts.path, "/empty");
  EXPECT_EQ(parts.query, "");
  parts = split_target("*");
  EXPECT_EQ(parts.path, "*");
}

TEST(CellQuery, PercentDecodeKeepsMalformedEscapes) {
  EXPECT_EQ(percent_decode("a%20b+c"), "a b c");
  EXPECT_EQ(percent_decode("%41%4a%4A"), "AJJ");
  EXPECT_EQ(percent_decode("100%"), "100%");
  EXPECT_EQ(percent_decode("%zz%4"), "%zz%4");
  EXPECT_EQ(percent_decode(""), "");
}

TEST(CellQuery, FindsFirstValue) {
  EXPECT_EQ(find_query_param("a=1&b=2&a=3", "a"), "1");
  EXPECT_EQ(find_query_param("a=1&b=2", "b"), "2");
  EXPECT_EQ(find_query_param("flag&x=1", "flag"), "");
  EXPECT_EQ(find_query_param("%64elay_ms=5", "delay_ms"), "5");
  EXPECT_EQ(find_query_param("ab=1", "a"), std::nullopt);
  EXPECT_EQ(find_query_param("&&a=x%26y&", "a"), "x&y");
  EXPECT_EQ(find_query_param("", "a"), std::nullopt);
}

TEST(CellControls, DefaultsWhenAbsent) {
  const auto parsed = parse_controls("foo=bar", ControlScope::full);
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.controls.delay_ms, 0u);
  EXPECT_FALSE(parsed.controls.status);
  EXPECT_FALSE(parsed.controls.response_bytes);
  EXPECT_FALSE(parsed.controls.abort_after);
  EXPECT_FALSE(parsed.controls.chunked);
  EXPECT_FALSE(parsed.controls.close_delimited);
  EXPECT_FALSE(parsed.controls.early_hints);
}

TEST(CellControls, ParsesEveryKnob) {
  const auto parsed = parse_controls(
      "delay_ms=250&status=418&response_bytes=1048576&chunked=1&pause_ms=10&interim=103",
      ControlScope::full);
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.controls.delay_ms, 250u);
  EXPECT_EQ(parsed.controls.status, 418u);
  EXPECT_EQ(parsed.controls.response_bytes, 1048576u);
  EXPECT_TRUE(parsed.controls.chunked);
  EXPECT_EQ(parsed.controls.pause_ms, 10u);
  EXPECT_TRUE(parsed.controls.early_hints);
  EXPECT_TRUE(parse_controls("close_delimited=1&abort_after=0", ControlScope::timing_only).ok());
  EXPECT_EQ(parse_controls("abort_after=7", ControlScope::full).controls.abort_after, 7u);
}

TEST(CellControls, TimingOnlyScopeIgnoresStatus) {
  const auto parsed = parse_controls("status=fail&delay_ms=5", ControlScope::timing_only);
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.controls.delay_ms, 5u);
  EXPECT_FALSE(parsed.controls.status);
}

TEST(CellControls, RejectsBadValues) {
  for (const char* query :
       {"status=abc", "status=99", "status=100", "status=103", "status=600", "delay_ms=-1",
        "delay_ms=3600001", "delay_ms=1e3", "response_bytes=x", "chunked=yes", "interim=100",
        "chunked=1&close_delimited=1", "abort_after=5&close_delimited=1", "abort_after=5&status=204",
        "pause_ms=", "response_bytes=99999999999999999999999"}) {
    const auto parsed = parse_controls(query, ControlScope::full);
    EXPECT_FALSE(parsed.ok()) << query;
  }
}

}  // namespace
}  // namespace cell::demo
