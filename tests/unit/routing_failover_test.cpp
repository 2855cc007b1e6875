// Which placement serves: health and breaker state along the fallback chain.
#include "cell/routing/failover.hpp"

#include <gtest/gtest.h>

#include <string>

#include "cell/config/load.hpp"

namespace cell::routing {
namespace {

using namespace std::chrono_literals;
using Permit = resilience::CircuitBreaker::Permit;

// visa -> tier1 -> tier2; tier3 is the default; every placement has a health check and a
// breaker that opens after one failure for 10 s.
const char* const chain_config = R"({
    "version": "1", "routingTable": {"visa": "visa", "acme": "tier1", "solo": "solo"},
    "placements": {
        "visa":  {"url": "http://v:1", "fallback": "tier1", "health_check": {}, "circuit_breaker": {"failure_threshold": 1, "timeout": "10s"}},
        "tier1": {"url": "http://a:1", "fallback": "tier2", "health_check": {}, "circuit_breaker": {"failure_threshold": 1, "timeout": "10s"}},
        "tier2": {"url": "http://b:1", "health_check": {}, "circuit_breaker": {"failure_threshold": 1, "timeout": "10s"}},
        "tier3": {"url": "http://c:1", "health_check": {}, "circuit_breaker": {"failure_threshold": 1, "timeout": "10s"}},
        "solo":  {"url": "http://s:1"}},
    "defaultPlacement": "tier3"})";

class FailoverTest : public ::testing::Test {
protected:
    void SetUp() override {
        const auto loaded = config::load_config(chain_config);
        ASSERT_TRUE(loaded.ok()) << config::describe(loaded.errors);
        table_ = Table::build(*loaded.config, config::ProxySettings{}, TableOrigin{});
    }

    const PlacementTarget& placement(const std::string& name) const { return *table_->find_placement(name); }

    void make_unhealthy(const std::string& name) {
        const resilience::HealthThresholds thresholds{1, 1};
        placement(name).state->health.record_probe(false, "HTTP 503", std::chrono::system_clock::now(), thresholds);
        ASSERT_FALSE(placement(name).state->health.routable());
    }

    void open_breaker(const std::string& name) {
        const PlacementTarget& target = placement(name);
        const auto& settings = *target.policy.circuit_breaker;
        const Permit permit = target.state->breaker.try_acquire(settings, now_);
        target.state->breaker.record(permit, resilience::Outcome::failure, settings, now_);
        ASSERT_EQ(target.state->breaker.snapshot(settings).state, resilience::BreakerState::open);
    }

    PlacementChoice choose(const std::string& routed) { return choose_placement(*table_, placement(routed), now_); }

    TableConstPtr table_;
    resilience::SteadyClock::time_point now_ = resilience::SteadyClock::now();
};

TEST_F(FailoverTest, HealthyRoutedPlacementServes) {
    const PlacementChoice choice = choose("visa");
    EXPECT_EQ(choice.serving, &placement("visa"));
    EXPECT_EQ(choice.failover, FailoverReason::none);
    EXPECT_FALSE(choice.fail_open);
    EXPECT_EQ(choice.permit, Permit::normal);
}

TEST_F(FailoverTest, UnhealthyGoesDownTheChain) {
    make_unhealthy("visa");
    PlacementChoice choice = choose("visa");
    EXPECT_EQ(choice.serving, &placement("tier1"));
    EXPECT_EQ(choice.failover, FailoverReason::unhealthy);
    make_unhealthy("tier1");
    choice = choose("visa");
    EXPECT_EQ(choice.serving, &placement("tier2"));
    EXPECT_EQ(choice.failover, FailoverReason::unhealthy);
}

TEST_F(FailoverTest, ChainEndsAtTheDefaultPlacement) {
    make_unhealthy("visa");
    make_unhealthy("tier1");
    make_unhealthy("tier2");
    const PlacementChoice choice = choose("visa");
    EXPECT_EQ(choice.serving, &placement("tier3"));
    EXPECT_EQ(choice.failover, FailoverReason::unhealthy);
    EXPECT_FALSE(choice.fail_open);
}

TEST_F(FailoverTest, OpenBreakerGoesDownTheChainWithoutTakingPermits) {
    open_breaker("tier1");
    const PlacementChoice choice = choose("tier1");
    EXPECT_EQ(choice.serving, &placement("tier2"));
    EXPECT_EQ(choice.failover, FailoverReason::circuit_open);
    EXPECT_EQ(choice.permit, Permit::normal);  // tier2's own permit
}

TEST_F(FailoverTest, EverythingUnhealthyFailsOpenToTheRoutedPlacement) {
    for (const char* name : {"visa", "tier1", "tier2", "tier3"}) {
        make_unhealthy(name);
    }
    const PlacementChoice choice = choose("visa");
    EXPECT_EQ(choice.serving, &placement("visa"));
    EXPECT_EQ(choice.failover, FailoverReason::none);
    EXPECT_TRUE(choice.fail_open);
}

TEST_F(FailoverTest, FailOpenSkipsOpenBreakers) {
    for (const char* name : {"visa", "tier1", "tier2", "tier3"}) {
        make_unhealthy(name);
    }
    open_breaker("visa");
    const PlacementChoice choice = choose("visa");
    EXPECT_EQ(choice.serving, &placement("tier1"));
    EXPECT_EQ(choice.failover, FailoverReason::unhealthy);
    EXPECT_TRUE(choice.fail_open);
}

TEST_F(FailoverTest, EveryBreakerOpenMeansNoPlacement) {
    for (const char* name : {"tier1", "tier2", "tier3"}) {
        open_breaker(name);
    }
    const PlacementChoice choice = choose("tier1");
    EXPECT_EQ(choice.serving, nullptr);
    EXPECT_EQ(choice.failover, FailoverReason::circuit_open);
}

TEST_F(FailoverTest, PlacementWithoutPolicyAlwaysServes) {
    const PlacementChoice choice = choose("solo");
    EXPECT_EQ(choice.serving, &placement("solo"));
    EXPECT_EQ(choice.permit, Permit::rejected);  // no breaker: nothing to record
}

TEST_F(FailoverTest, HalfOpenGrantsOneTrialThenFallsBack) {
    open_breaker("tier1");
    now_ += 11s;
    const PlacementChoice trial = choose("tier1");
    EXPECT_EQ(trial.serving, &placement("tier1"));
    EXPECT_EQ(trial.permit, Permit::trial);
    const PlacementChoice next = choose("tier1");
    EXPECT_EQ(next.serving, &placement("tier2"));
    EXPECT_EQ(next.failover, FailoverReason::circuit_open);
}

TEST_F(FailoverTest, PreviewTakesNoPermit) {
    open_breaker("tier1");
    now_ += 11s;
    const PlacementChoice preview = preview_placement(*table_, placement("tier1"), now_);
    EXPECT_EQ(preview.serving, &placement("tier1"));
    // The real request still gets the single trial.
    EXPECT_EQ(choose("tier1").permit, Permit::trial);
}

}  // namespace
}  // namespace cell::routing
