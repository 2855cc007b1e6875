#include "cell_echo_json.hpp"
#include "cell_request_log.hpp"
#include "cell_timestamp.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <regex>

namespace cell::demo {
namespace {

using Json = nlohmann::json;

RequestSummary sample() {
  RequestSummary summary;
  summary.method = "POST";
  summary.target = "/p/a%2Fb?x=1&y";
  summary.version = 10;
  summary.headers = {{"host", "example"},         {"x-request-id", "rid"},
                     {"X-Forwarded-For", "1.1.1.1"}, {"x-forwarded-for", "2.2.2.2"},
                     {"Content-Type", "text/plain"}, {"X-Other", "o"}};
  summary.body_bytes = 3;
  summary.body_sha256 = "abc";
  return summary;
}

TEST(CellEchoJson, CarriesEveryField) {
  const Json body = Json::parse(echo_body(sample(), "cell-a", "2024-01-01T00:00:00.000Z"));
  EXPECT_EQ(body["cell"], "cell-a");
  EXPECT_EQ(body["message"], "Hello from cell cell-a");
  EXPECT_EQ(body["timestamp"], "2024-01-01T00:00:00.000Z");
  EXPECT_EQ(body["method"], "POST");
  EXPECT_EQ(body["path"], "/p/a%2Fb");
  EXPECT_EQ(body["query"], "x=1&y");
  EXPECT_EQ(body["target"], "/p/a%2Fb?x=1&y");
  EXPECT_EQ(body["http_version"], "1.0");
  EXPECT_EQ(body["body_bytes"], 3);
  EXPECT_EQ(body["body_sha256"], "abc");
  const Json expected_headers = {{"Host", "example"},
                                 {"X-Request-Id", "rid"},
                                 {"X-Forwarded-For", "1.1.1.1, 2.2.2.2"},
                                 {"Content-Type", "text/plain"}};
  EXPECT_EQ(body["headers"], expected_headers);
  ASSERT_EQ(body["all_headers"].size(), 6u);
  EXPECT_EQ(body["all_headers"][0], Json::array({"host", "example"}));
  EXPECT_EQ(body["all_headers"][5], Json::array({"X-Other", "o"}));
}

TEST(CellEchoJson, InvalidUtf8DoesNotThrow) {
  RequestSummary summary = sample();
  summary.target = "/\xff\xfe";
  summary.headers.emplace_back("X-Bin", "\xc3\x28");
  std::string text;
  ASSERT_NO_THROW(text = echo_body(summary, "c", "t"));
  const Json body = Json::parse(text);  // throws on invalid JSON
  // Each invalid byte becomes U+FFFD; valid text around it is kept.
  EXPECT_EQ(body["target"], "/\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(body["all_headers"].back(), Json::array({"X-Bin", "\xef\xbf\xbd("}));
  EXPECT_EQ(body["cell"], "c");
}

TEST(CellEchoJson, HealthAndErrorBodies) {
  EXPECT_EQ(health_body("c", true), R"({"status":"healthy","cell":"c"})");
  EXPECT_EQ(health_body("c", false), R"({"status":"unhealthy","cell":"c"})");
  EXPECT_EQ(error_body("c", "injected failure"), R"({"error":"injected failure","cell":"c"})");
}

TEST(CellEchoJson, HeaderValueIsCaseInsensitive) {
  EXPECT_EQ(header_value(sample().headers, "X-REQUEST-ID"), "rid");
  EXPECT_EQ(header_value(sample().headers, "missing"), std::nullopt);
}

TEST(CellTimestamp, Rfc3339WithMilliseconds) {
  using namespace std::chrono;
  const system_clock::time_point when{milliseconds(1'700'000'000'123)};
  EXPECT_EQ(format_rfc3339_millis(when), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(format_rfc3339_millis(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  const std::regex shape(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  EXPECT_TRUE(std::regex_match(format_rfc3339_millis(system_clock::now()), shape));
}

TEST(CellRequestLog, LinesHaveTheDocumentedShape) {
  EXPECT_EQ(listening_line("c", "127.0.0.1", 8080),
            R"({"event":"listening","cell":"c","address":"127.0.0.1","port":8080})");
  const std::string line = request_log_line({.cell = "c",
                                             .method = "GET",
                                             .path = "/x",
                                             .status = 200,
                                             .body_bytes = 5,
                                             .request_id = "r",
                                             .routing_key = std::nullopt,
                                             .duration_ms = 1.23456});
  EXPECT_EQ(line, R"({"event":"request","cell":"c","method":"GET","path":"/x","status":200,)"
                  R"("body_bytes":5,"request_id":"r","routing_key":null,"duration_ms":1.235})");
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace cell::demo
