// The staged rollout's rules with an injected clock: canary choice, acks, soak, the error-spike
// margin, nacks, deadlines; and the per-version counts routers report.
#include <gtest/gtest.h>

#include <set>

#include "cell/controlplane/protocol.hpp"
#include "cell/controlplane/rollout.hpp"
#include "cell/controlplane/rollout_record.hpp"
#include "cell/routing/version_counters.hpp"

namespace cell::controlplane {
namespace {

using namespace std::chrono_literals;

RolloutTime at(std::chrono::milliseconds since_start) { return RolloutTime{} + 1000h + since_start; }

RolloutPlan plan_with(std::vector<std::string> canaries) {
    RolloutPlan plan;
    plan.id = "v2@t";
    plan.canaries = std::move(canaries);
    plan.stable_version = "v1";
    plan.candidate_version = "v2";
    plan.soak = 10s;
    plan.ack_timeout = 5s;
    plan.error_margin = 0.05;
    plan.min_requests = 20;
    return plan;
}

TEST(CanarySpecTest, SharesAndPatterns) {
    const auto share = std::get<CanarySpec>(parse_canary_spec("10%"));
    EXPECT_DOUBLE_EQ(share.share, 0.10);
    EXPECT_TRUE(share.pattern.empty());
    EXPECT_DOUBLE_EQ(std::get<CanarySpec>(parse_canary_spec("2.5%")).share, 0.025);
    EXPECT_DOUBLE_EQ(std::get<CanarySpec>(parse_canary_spec("100%")).share, 1.0);
    EXPECT_EQ(std::get<CanarySpec>(parse_canary_spec("edge-a-*")).pattern, "edge-a-*");
    for (const char* bad : {"", "0%", "101%", "%", "1.2.3%", "-5%", "ten%"}) {
        EXPECT_TRUE(std::holds_alternative<std::string>(parse_canary_spec(bad))) << bad;
    }
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_canary_spec(std::string(300, 'a'))));
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_canary_spec("a\nb")));
}

TEST(CanarySpecTest, NodePatterns) {
    EXPECT_TRUE(matches_node_pattern("edge-a-*", "edge-a-1"));
    EXPECT_TRUE(matches_node_pattern("edge-a-*", "edge-a-"));
    EXPECT_FALSE(matches_node_pattern("edge-a-*", "edge-b-1"));
    EXPECT_TRUE(matches_node_pattern("*-1", "edge-a-1"));
    EXPECT_TRUE(matches_node_pattern("edge-?-1", "edge-b-1"));
    EXPECT_FALSE(matches_node_pattern("edge-?-1", "edge-bb-1"));
    EXPECT_TRUE(matches_node_pattern("*", ""));
    EXPECT_TRUE(matches_node_pattern("a*b*c", "aXXbYYc"));
    EXPECT_FALSE(matches_node_pattern("a*b*c", "aXXbYY"));
    // Many stars against a long non-matching id finishes (no exponential backtracking).
    EXPECT_FALSE(matches_node_pattern(std::string(100, '*') + "b", std::string(10'000, 'a')));
}

TEST(CanarySpecTest, ChoosesAShareAtLeastOneAndEveryPatternMatch) {
    std::vector<std::string> routers;
    for (int i = 0; i < 25; ++i) {
        routers.push_back("router-" + std::to_string(i));
    }
    const auto ten = std::get<CanarySpec>(parse_canary_spec("10%"));
    const auto chosen = choose_canaries(ten, routers, "v2@1");
    EXPECT_EQ(chosen.size(), 3u);  // 2.5 rounded up
    EXPECT_EQ(choose_canaries(ten, routers, "v2@1"), chosen);  // the same rollout, the same set
    std::set<std::vector<std::string>> sets;
    for (int salt = 0; salt < 10; ++salt) {
        sets.insert(choose_canaries(ten, routers, "v2@" + std::to_string(salt)));
    }
    EXPECT_GT(sets.size(), 1u);  // another rollout, usually another set
    EXPECT_EQ(choose_canaries(ten, {"only"}, "x"), std::vector<std::string>{"only"});
    EXPECT_TRUE(choose_canaries(ten, {}, "x").empty());
    const auto pattern = std::get<CanarySpec>(parse_canary_spec("router-1*"));
    EXPECT_EQ(choose_canaries(pattern, routers, "x").size(), 11u);  // 1, 10..19
}

TEST(RolloutTest, CompletesAfterEveryAckAndTheSoak) {
    Rollout rollout(plan_with({"a", "b"}), at(0ms));
    EXPECT_EQ(rollout.phase(), RolloutPhase::canary);
    EXPECT_TRUE(rollout.canaries_on_candidate());
    EXPECT_TRUE(rollout.is_canary("a"));
    EXPECT_FALSE(rollout.is_canary("c"));
    rollout.on_ack("a", at(100ms));
    rollout.on_ack("c", at(150ms));  // not a canary: ignored
    EXPECT_EQ(rollout.phase(), RolloutPhase::canary);
    rollout.on_ack("b", at(200ms));
    ASSERT_EQ(rollout.phase(), RolloutPhase::soaking);
    EXPECT_EQ(*rollout.soak_ends_at(), at(10'200ms));
    EXPECT_FALSE(rollout.tick(at(6s)));  // past the ack timeout, but every canary acked
    rollout.on_counts({100, 1}, {1000, 5}, at(7s));  // 1 % against 0.5 %: within the margin
    EXPECT_EQ(rollout.phase(), RolloutPhase::soaking);
    EXPECT_FALSE(rollout.tick(at(10'199ms)));
    EXPECT_TRUE(rollout.tick(at(10'200ms)));
    EXPECT_EQ(rollout.phase(), RolloutPhase::promoting);
    EXPECT_FALSE(rollout.tick(at(10'300ms)));  // says so once
    rollout.on_promoted(at(10'400ms));
    EXPECT_EQ(rollout.phase(), RolloutPhase::promoted);
    EXPECT_TRUE(rollout.finished());
    EXPECT_FALSE(rollout.canaries_on_candidate());
    ASSERT_EQ(rollout.steps().size(), 4u);
    EXPECT_NE(rollout.steps()[2].what.find("soak passed (canaries 1.0% errors, the rest 0.5%)"), std::string::npos)
        << rollout.steps()[2].what;
}

TEST(RolloutTest, HaltsOnACanaryNack) {
    Rollout rollout(plan_with({"a", "b"}), at(0ms));
    rollout.on_ack("a", at(100ms));
    rollout.on_nack("c", "not a canary", at(150ms));  // ignored
    EXPECT_EQ(rollout.phase(), RolloutPhase::canary);
    rollout.on_nack("b", "/cellEndpoints/tier9: unknown", at(200ms));
    EXPECT_EQ(rollout.phase(), RolloutPhase::halted);
    EXPECT_FALSE(rollout.canaries_on_candidate());
    EXPECT_EQ(rollout.halt_reason(), "canary b refused v2: /cellEndpoints/tier9: unknown");
    EXPECT_FALSE(rollout.tick(at(20s)));  // stays halted
    rollout.on_promoted(at(21s));
    EXPECT_EQ(rollout.phase(), RolloutPhase::halted);
}

TEST(RolloutTest, HaltsOnAnErrorSpikeBeyondTheMargin) {
    Rollout rollout(plan_with({"a"}), at(0ms));
    rollout.on_ack("a", at(100ms));
    rollout.on_counts({10, 10}, {1000, 0}, at(1s));  // too few canary requests to compare
    EXPECT_EQ(rollout.phase(), RolloutPhase::soaking);
    rollout.on_counts({100, 5}, {1000, 1}, at(2s));  // 5 % against 0.1 %: within 5 points
    EXPECT_EQ(rollout.phase(), RolloutPhase::soaking);
    rollout.on_counts({100, 6}, {1000, 1}, at(3s));  // 6 % against 0.1 %: over
    EXPECT_EQ(rollout.phase(), RolloutPhase::halted);
    EXPECT_EQ(rollout.halt_reason(),
              "error spike on the canaries: 6.0% of 100 requests failed on v2, against 0.1% of 1000 on v1 elsewhere "
              "(margin 5.0%)");
    EXPECT_EQ(rollout.canary_counts().errors, 6u);
}

TEST(RolloutTest, TheRestFailingToOnlyRaisesTheBar) {
    Rollout rollout(plan_with({"a"}), at(0ms));
    rollout.on_ack("a", at(0ms));
    rollout.on_counts({100, 50}, {1000, 480}, at(1s));  // a bad cell everywhere, not the candidate
    EXPECT_EQ(rollout.phase(), RolloutPhase::soaking);
}

TEST(RolloutTest, HaltsWhenACanaryDoesNotAckInTime) {
    Rollout rollout(plan_with({"a", "b"}), at(0ms));
    rollout.on_ack("a", at(100ms));
    EXPECT_FALSE(rollout.tick(at(4'999ms)));
    EXPECT_EQ(rollout.phase(), RolloutPhase::canary);
    EXPECT_FALSE(rollout.tick(at(5s)));
    EXPECT_EQ(rollout.phase(), RolloutPhase::halted);
    EXPECT_EQ(rollout.halt_reason(), "canaries did not ack v2 within 5s: b");
}

TEST(RolloutTest, AbortAndFailedPromotionHalt) {
    Rollout aborted(plan_with({"a"}), at(0ms));
    aborted.abort("superseded by version v3", at(1s));
    EXPECT_EQ(aborted.phase(), RolloutPhase::halted);
    EXPECT_EQ(aborted.halt_reason(), "superseded by version v3");

    Rollout failed(plan_with({"a"}), at(0ms));
    failed.on_ack("a", at(0ms));
    ASSERT_TRUE(failed.tick(at(10s)));
    failed.on_nack("a", "late", at(10'050ms));  // promoting: the nack of an old push changes nothing
    EXPECT_EQ(failed.phase(), RolloutPhase::promoting);
    failed.on_promotion_failed("etcd unavailable", at(10'100ms));
    EXPECT_EQ(failed.phase(), RolloutPhase::halted);
    EXPECT_EQ(failed.halt_reason(), "promotion failed: etcd unavailable");
}

TEST(RolloutTest, TheSameConfigAppliedOutsideCountsAsPromoted) {
    Rollout rollout(plan_with({"a"}), at(0ms));
    rollout.on_promoted(at(1s));
    EXPECT_EQ(rollout.phase(), RolloutPhase::promoted);
    EXPECT_NE(rollout.steps().back().what.find("outside the rollout"), std::string::npos);
}

TEST(VersionCountersTest, SumsEveryWorkersShard) {
    routing::VersionCounters counters;
    for (std::size_t worker = 0; worker < 100; worker += 2) {  // past 64 workers share shards
        counters.record(worker, false, false);
        counters.record(worker, true, worker % 2 == 0);
    }
    const auto totals = counters.totals();
    EXPECT_EQ(totals.requests, 100u);
    EXPECT_EQ(totals.errors, 50u);
    EXPECT_EQ(totals.upstream_failures, 50u);
}

TEST(ReportMessageTest, RoundTripAndRefusals) {
    Report report;
    report.node_id = "edge-1";
    report.versions = {{"v2", "abc", 100, 7, 3}, {"v1", "", 5000, 2, 0}};
    const auto decoded = decode_message(encode(report));
    ASSERT_TRUE(std::holds_alternative<Message>(decoded));
    const auto& back = std::get<Report>(std::get<Message>(decoded));
    EXPECT_EQ(back.node_id, "edge-1");
    ASSERT_EQ(back.versions.size(), 2u);
    EXPECT_EQ(back.versions[0].version, "v2");
    EXPECT_EQ(back.versions[0].content_hash, "abc");
    EXPECT_EQ(back.versions[0].requests, 100u);
    EXPECT_EQ(back.versions[0].errors, 7u);
    EXPECT_EQ(back.versions[0].upstream_failures, 3u);
    EXPECT_EQ(back.versions[1].requests, 5000u);
    for (const char* bad :
         {R"({"type":"report"})", R"({"type":"report","versions":{}})", R"({"type":"report","versions":[1]})",
          R"({"type":"report","versions":[{"version":"v","requests":-1,"errors":0,"upstream_failures":0}]})",
          R"({"type":"report","versions":[{"version":"v","requests":1,"errors":2,"upstream_failures":0}]})",
          R"({"type":"report","versions":[{"version":"v","requests":2,"errors":1,"upstream_failures":2}]})",
          R"({"type":"report","versions":[{"version":"v","requests":2}]})"}) {
        EXPECT_TRUE(std::holds_alternative<DecodeError>(decode_message(bad))) << bad;
    }
    // Only the newest few versions are kept.
    std::string many = R"({"type":"report","versions":[)";
    for (int i = 0; i < 10; ++i) {
        many += std::string(i ? "," : "") + R"({"version":"v)" + std::to_string(i) +
                R"(","requests":1,"errors":0,"upstream_failures":0})";
    }
    many += "]}";
    const auto trimmed = decode_message(many);
    ASSERT_TRUE(std::holds_alternative<Message>(trimmed));
    EXPECT_EQ(std::get<Report>(std::get<Message>(trimmed)).versions.size(), max_reported_versions);
}

// A rollout written to the store by one replica reads back the same on another.
TEST(RolloutRecordTest, RoundTrip) {
    auto plan = plan_with({"a", "b"});
    plan.canary = std::get<CanarySpec>(parse_canary_spec("edge-*"));
    plan.started_by = "ops@host";
    Rollout rollout(plan, at(0ms));
    rollout.on_ack("a", at(100ms));
    rollout.on_ack("b", at(200ms));
    rollout.on_counts({100, 2}, {900, 1}, at(1s));
    RolloutRecord record{rollout.plan(), rollout.state(), "127.0.0.1:8081", 41, {}, at(2s)};
    record.candidate.content_hash = std::string(64, 'a');
    record.candidate.bytes = 1234;
    record.candidate.chunks = 1;
    record.candidate.version = "v2";
    const auto back = decode_rollout_record(encode_rollout_record(record));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->plan.id, "v2@t");
    EXPECT_EQ(back->plan.canary.pattern, "edge-*");
    EXPECT_EQ(back->plan.canaries, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(back->plan.soak, 10s);
    EXPECT_EQ(back->plan.started_by, "ops@host");
    EXPECT_EQ(back->state.phase, RolloutPhase::soaking);
    EXPECT_EQ(back->state.soak_ends_at, at(10'200ms));
    EXPECT_EQ(back->state.acked.size(), 2u);
    EXPECT_EQ(back->state.canary_counts.errors, 2u);
    EXPECT_EQ(back->state.steps.size(), 2u);
    EXPECT_EQ(back->driver, "127.0.0.1:8081");
    EXPECT_EQ(back->stable_revision, 41u);
    EXPECT_EQ(back->candidate.content_hash, std::string(64, 'a'));
    EXPECT_EQ(back->candidate.chunks, 1u);
    EXPECT_EQ(back->heartbeat, at(2s));
    // Followed elsewhere, the machine goes on from where the record left it.
    Rollout followed(back->plan, back->state);
    EXPECT_TRUE(followed.tick(at(10'200ms)));
    EXPECT_FALSE(decode_rollout_record("{}").has_value());
    EXPECT_FALSE(decode_rollout_record("not json").has_value());

    RolloutReport report{"127.0.0.1:8083", {"a"}, {{"b", "too big"}}, {50, 1}, {500, 0}};
    const auto report_back = decode_rollout_report(encode_rollout_report(report));
    ASSERT_TRUE(report_back.has_value());
    EXPECT_EQ(report_back->acked, std::vector<std::string>{"a"});
    EXPECT_EQ(report_back->nacks.at("b"), "too big");
    EXPECT_EQ(report_back->other_counts.requests, 500u);
    EXPECT_FALSE(decode_rollout_report("[]").has_value());
}

}  // namespace
}  // namespace cell::controlplane
