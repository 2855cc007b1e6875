#include "cell/config/duration.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <optional>
#include <string>

namespace cell::config {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

struct Spelling {
    std::string text;
    Duration value;
};

// Each unit ms, s, m, h scales the count to milliseconds.
TEST(ConfigDuration, ParsesEachUnit) {
    const Spelling cases[] = {
        {"500ms", milliseconds(500)}, {"10s", seconds(10)}, {"1m", minutes(1)},
        {"2h", hours(2)},             {"0s", Duration(0)},  {"007s", seconds(7)},
    };
    for (const Spelling& c : cases) {
        EXPECT_EQ(parse_duration(c.text), std::optional<Duration>(c.value)) << c.text;
    }
}

// Anything but <digits><unit> is rejected: no unit, sign, fraction, space, other units.
TEST(ConfigDuration, RejectsMalformedText) {
    const std::string cases[] = {"",    "10",  "s",     "-1s",  "+1s", "1.5s", " 1s", "1s ",
                                 "1 s", "1S",  "1sec",  "1ms5", "1d",  "1us",  "ms",  "1mss",
                                 "1hm", "0x1s", "1e3ms"};
    for (const std::string& text : cases) {
        EXPECT_EQ(parse_duration(text), std::nullopt) << '"' << text << '"';
    }
}

// Counts whose millisecond value does not fit the representation are rejected, not wrapped.
TEST(ConfigDuration, RejectsOverflow) {
    const auto max = std::numeric_limits<Duration::rep>::max();
    EXPECT_EQ(parse_duration(std::to_string(max) + "ms"), std::optional<Duration>(Duration(max)));
    EXPECT_EQ(parse_duration(std::to_string(max) + "0ms"), std::nullopt);
    EXPECT_EQ(parse_duration(std::to_string(max / 1000 + 1) + "s"), std::nullopt);
    EXPECT_EQ(parse_duration(std::to_string(max / 3'600'000 + 1) + "h"), std::nullopt);
    EXPECT_EQ(parse_duration("99999999999999999999999999ms"), std::nullopt);
}

// format_duration picks the largest unit that represents the value exactly.
TEST(ConfigDuration, FormatsWithTheShortestExactSpelling) {
    const Spelling cases[] = {
        {"1500ms", milliseconds(1500)}, {"10s", seconds(10)},  {"1m", seconds(60)},
        {"90s", seconds(90)},           {"1h", minutes(60)},   {"25h", hours(25)},
        {"1ms", milliseconds(1)},       {"0s", Duration(0)},   {"-2s", seconds(-2)},
    };
    for (const Spelling& c : cases) {
        EXPECT_EQ(format_duration(c.value), c.text);
    }
}

// Whatever format_duration writes for a non-negative value, parse_duration reads back unchanged.
TEST(ConfigDuration, FormatRoundTripsThroughParse) {
    const Duration values[] = {Duration(0),  milliseconds(1),  milliseconds(999), seconds(1),
                               seconds(61),  minutes(59),      hours(1),          hours(100'000),
                               Duration(std::numeric_limits<Duration::rep>::max())};
    for (const Duration value : values) {
        EXPECT_EQ(parse_duration(format_duration(value)), std::optional<Duration>(value))
            << value.count();
    }
}

// The most negative value formats without overflowing on negation.
TEST(ConfigDuration, FormatsTheMostNegativeValue) {
    const auto min = std::numeric_limits<Duration::rep>::min();
    EXPECT_EQ(format_duration(Duration(min)), std::to_string(min) + "ms");
}

}  // namespace
}  // namespace cell::config
