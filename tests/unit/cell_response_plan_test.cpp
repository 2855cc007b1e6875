#include "cell_response_plan.hpp"
#include "cell_state.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace cell::demo {
namespace {

constexpr std::string_view kTimestamp = "2024-01-02T03:04:05.678Z";

RequestSummary request(std::string method, std::string target, unsigned version = 11) {
  RequestSummary summary;
  summary.method = std::move(method);
  summary.target = std::move(target);
  summary.version = version;
  summary.body_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  return summary;
}

nlohmann::json body_of(const ResponsePlan& plan) {
  return nlohmann::json::parse(plan.json);
}

TEST(CellResponsePlan, EchoesByDefault) {
  CellState state{"a", 0.0};
  const auto plan = plan_response(request("GET", "/x?y=1"), state, 0.5, kTimestamp);
  EXPECT_EQ(plan.status, 200u);
  EXPECT_EQ(plan.body_kind, BodyKind::json);
  EXPECT_EQ(plan.framing, Framing::content_length);
  EXPECT_FALSE(plan.close_after);
  EXPECT_EQ(body_of(plan)["path"], "/x");
  EXPECT_EQ(body_of(plan)["timestamp"], kTimestamp);
  EXPECT_EQ(bytes_to_send(plan), plan.json.size());
}

TEST(CellResponsePlan, FailRateSwitch) {
  CellState state{"a", 0.0};
  EXPECT_EQ(plan_response(request("GET", "/x"), state, 0.5, kTimestamp).status, 200u);
  const auto set = plan_response(request("POST", "/admin/fail-rate?rate=1"), state, 0.0, kTimestamp);
  EXPECT_EQ(set.status, 200u);
  EXPECT_EQ(body_of(set)["fail_rate"], 1.0);
  EXPECT_EQ(plan_response(request("GET", "/x"), state, 0.5, kTimestamp).status, 500u);
  EXPECT_EQ(plan_response(request("GET", "/health"), state, 0.5, kTimestamp).status, 200u);  // health untouched
  EXPECT_EQ(plan_response(request("POST", "/admin/fail-rate?rate=2"), state, 0.0, kTimestamp).status, 400u);
  EXPECT_EQ(plan_response(request("POST", "/admin/fail-rate?rate=x"), state, 0.0, kTimestamp).status, 400u);
  EXPECT_EQ(plan_response(request("POST", "/admin/fail-rate"), state, 0.0, kTimestamp).status, 400u);
  EXPECT_EQ(plan_response(request("DELETE", "/admin/fail-rate"), state, 0.0, kTimestamp).status, 405u);
  EXPECT_EQ(body_of(plan_response(request("GET", "/admin/fail-rate"), state, 0.0, kTimestamp))["fail_rate"], 1.0);
  plan_response(request("POST", "/admin/fail-rate?rate=0"), state, 0.0, kTimestamp);
  EXPECT_EQ(plan_response(request("GET", "/x"), state, 0.5, kTimestamp).status, 200u);
}

TEST(CellResponsePlan, HealthFollowsAdminFlips) {
  CellState state{"a", 1.0};  // fail rate must not touch health or admin
  EXPECT_EQ(plan_response(request("GET", "/health"), state, 0.0, kTimestamp).status, 200u);

  auto flip = plan_response(request("POST", "/admin/health?status=fail"), state, 0.0, kTimestamp);
  EXPECT_EQ(flip.status, 200u);
  EXPECT_EQ(body_of(flip)["status"], "unhealthy");
  const auto sick = plan_response(request("GET", "/health"), state, 0.0, kTimestamp);
  EXPECT_EQ(sick.status, 503u);
  EXPECT_EQ(body_of(sick), (nlohmann::json{{"status", "unhealthy"}, {"cell", "a"}}));

  EXPECT_EQ(plan_response(request("POST", "/admin/health?status=maybe"), state, 0.0, kTimestamp).status, 400u);
  EXPECT_EQ(plan_response(request("POST", "/admin/health"), state, 0.0, kTimestamp).status, 400u);
  EXPECT_EQ(plan_response(request("DELETE", "/admin/health"), state, 0.0, kTimestamp).status, 405u);
  EXPECT_EQ(plan_response(request("GET", "/admin/nope"), state, 0.0, kTimestamp).status, 404u);
  EXPECT_FALSE(state.healthy.load());

  plan_response(request("POST", "/admin/health?status=ok"), state, 0.0, kTimestamp);
  EXPECT_TRUE(state.healthy.load());
}

TEST(CellResponsePlan, FailRateUsesTheDraw) {
  CellState state{"a", 0.3};
  const auto failed = plan_response(request("GET", "/x"), state, 0.29, kTimestamp);
  EXPECT_EQ(failed.status, 500u);
  EXPECT_EQ(body_of(failed), (nlohmann::json{{"error", "injected failure"}, {"cell", "a"}}));
  EXPECT_EQ(plan_response(request("GET", "/x"), state, 0.3, kTimestamp).status, 200u);
  CellState never{"b", 0.0};
  EXPECT_EQ(plan_response(request("GET", "/x"), never, 0.0, kTimestamp).status, 200u);
}

TEST(CellResponsePlan, StatusWithoutBody) {
  CellState state{"a", 0.0};
  const auto plan = plan_response(request("GET", "/x?status=204"), state, 0.5, kTimestamp);
  EXPECT_EQ(plan.status, 204u);
  EXPECT_EQ(bytes_to_send(plan), 0u);
  EXPECT_FALSE(status_allows_body(304));
  EXPECT_TRUE(status_allows_body(200));
}

TEST(CellResponsePlan, GeneratedBodyFraming) {
  CellState state{"a", 0.0};
  auto plan = plan_response(request("GET", "/x?response_bytes=1000&chunked=1&pause_ms=5"), state,
                            0.5, kTimestamp);
  EXPECT_EQ(plan.body_kind, BodyKind::pattern);
  EXPECT_EQ(plan.framing, Framing::chunked);
  EXPECT_TRUE(plan.needs_pattern_digest);
  EXPECT_EQ(plan.pause_ms, 5u);
  EXPECT_EQ(bytes_to_send(plan), 1000u);
  EXPECT_EQ(plan.content_type, "application/octet-stream");

  // HTTP/1.0 cannot carry chunked coding.
  plan = plan_response(request("GET", "/x?response_bytes=10&chunked=1", 10), state, 0.5, kTimestamp);
  EXPECT_EQ(plan.framing, Framing::content_length);

  plan = plan_response(request("GET", "/x?response_bytes=10&close_delimited=1"), state, 0.5, kTimestamp);
  EXPECT_EQ(plan.framing, Framing::close_delimited);
  EXPECT_TRUE(plan.close_after);
}

TEST(CellResponsePlan, AbortAnnouncesMoreThanItSends) {
  CellState state{"a", 0.0};
  auto plan = plan_response(request("GET", "/x?abort_after=100"), state, 0.5, kTimestamp);
  EXPECT_EQ(plan.announced_length, 200u);
  EXPECT_EQ(bytes_to_send(plan), 100u);
  EXPECT_TRUE(plan.close_after);
  EXPECT_FALSE(plan.needs_pattern_digest);

  plan = plan_response(request("GET", "/x?abort_after=0"), state, 0.5, kTimestamp);
  EXPECT_EQ(plan.body_kind, BodyKind::json);
  EXPECT_EQ(plan.announced_length, 2 * plan.json.size());
  EXPECT_EQ(bytes_to_send(plan), 0u);
}

TEST(CellResponsePlan, TimingControlsApplyEverywhereButOnlyTo11ForInterim) {
  CellState state{"a", 0.0};
  auto plan = plan_response(request("GET", "/health?delay_ms=20&interim=103"), state, 0.5, kTimestamp);
  EXPECT_EQ(plan.delay_ms, 20u);
  EXPECT_TRUE(plan.early_hints);
  plan = plan_response(request("GET", "/x?interim=103", 10), state, 0.5, kTimestamp);
  EXPECT_FALSE(plan.early_hints);
}

TEST(CellResponsePlan, BadControlsAnswer400) {
  CellState state{"a", 0.0};
  const auto plan = plan_response(request("GET", "/x?status=abc"), state, 0.5, kTimestamp);
  EXPECT_EQ(plan.status, 400u);
  EXPECT_NE(body_of(plan)["error"].get<std::string>().find("status"), std::string::npos);
  const auto error = plan_error("a", 431, "too big");
  EXPECT_EQ(error.status, 431u);
  EXPECT_TRUE(error.close_after);
}

}  // namespace
}  // namespace cell::demo
