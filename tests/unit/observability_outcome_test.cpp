#include <set>
#include <string>

#include <gtest/gtest.h>

#include "cell/observability/outcome.hpp"

namespace cell::observability {
namespace {

TEST(OutcomeTest, EveryOutcomeHasItsOwnWord) {
    std::set<std::string> words;
    for (const Outcome outcome : all_outcomes()) {
        const std::string word(to_string(outcome));
        EXPECT_NE(word, "unknown") << static_cast<int>(outcome);
        EXPECT_EQ(word.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"), std::string::npos) << word;
        EXPECT_TRUE(words.insert(word).second) << "duplicate " << word;
    }
    EXPECT_EQ(words.size(), outcome_count);
}

TEST(OutcomeTest, RouteReasonsKeepTheirHeaderWords) {
    EXPECT_EQ(to_string(Outcome::dedicated), "dedicated");
    EXPECT_EQ(to_string(Outcome::tier), "tier");
    EXPECT_EQ(to_string(Outcome::default_), "default");
}

TEST(OutcomeTest, ServedOutcomesHaveNoErrorSource) {
    for (const Outcome outcome : all_outcomes()) {
        if (is_served(outcome) || outcome == Outcome::debug_endpoint) {
            EXPECT_EQ(source_of(outcome), ErrorSource::none) << to_string(outcome);
        } else {
            EXPECT_NE(source_of(outcome), ErrorSource::none) << to_string(outcome);
        }
    }
    EXPECT_EQ(source_of(Outcome::connect_failed), ErrorSource::upstream);
    EXPECT_EQ(source_of(Outcome::rate_limited), ErrorSource::router);
    EXPECT_EQ(source_of(Outcome::client_closed), ErrorSource::downstream);
    EXPECT_EQ(to_string(ErrorSource::router), "router");
}

TEST(OutcomeTest, StatusClasses) {
    EXPECT_EQ(status_class(101), "1xx");
    EXPECT_EQ(status_class(204), "2xx");
    EXPECT_EQ(status_class(304), "3xx");
    EXPECT_EQ(status_class(499), "4xx");
    EXPECT_EQ(status_class(503), "5xx");
    EXPECT_EQ(status_class(0), "other");
    EXPECT_EQ(status_class(600), "other");
}

}  // namespace
}  // namespace cell::observability
