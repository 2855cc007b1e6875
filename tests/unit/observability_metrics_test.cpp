// The Prometheus text exposition: exact text for each metric type, label escaping, and the
// per-worker shards summed at scrape time.

#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <thread>
#include <vector>

#include "cell/observability/exposition.hpp"
#include "cell/observability/histogram.hpp"
#include "cell/observability/request_counters.hpp"

namespace cell::observability {
namespace {

using namespace std::chrono_literals;

// A counter family: HELP, TYPE, then one line per label set.
TEST(ObservabilityExposition, CounterText) {
    Exposition out;
    out.family("cellrouter_requests_total", MetricType::counter, "Requests.");
    out.sample("cellrouter_requests_total", {{"placement", "visa"}, {"code", "2xx"}}, std::uint64_t{3});
    out.sample("cellrouter_requests_total", {{"placement", "none"}, {"code", "4xx"}}, std::uint64_t{18446744073709551615u});
    EXPECT_EQ(out.text(),
              "# HELP cellrouter_requests_total Requests.\n"
              "# TYPE cellrouter_requests_total counter\n"
              "cellrouter_requests_total{placement=\"visa\",code=\"2xx\"} 3\n"
              "cellrouter_requests_total{placement=\"none\",code=\"4xx\"} 18446744073709551615\n");
}

// A gauge without labels has no braces; fractions are plain decimals.
TEST(ObservabilityExposition, GaugeText) {
    Exposition out;
    out.family("cellrouter_config_age_seconds", MetricType::gauge, "Age.");
    out.sample("cellrouter_config_age_seconds", {}, 12.5);
    out.sample("x", {}, 0.0005);
    out.sample("y", {}, 0.0);
    EXPECT_EQ(out.text(),
              "# HELP cellrouter_config_age_seconds Age.\n"
              "# TYPE cellrouter_config_age_seconds gauge\n"
              "cellrouter_config_age_seconds 12.5\n"
              "x 0.0005\n"
              "y 0\n");
}

// Backslash, double quote and line feed are escaped in label values; HELP escapes \ and \n.
TEST(ObservabilityExposition, LabelValueEscaping) {
    EXPECT_EQ(escape_label_value(R"(a\b"c)" "\n" "d"), R"(a\\b\"c\nd)");
    EXPECT_EQ(escape_label_value("plain"), "plain");
    Exposition out;
    out.family("m", MetricType::gauge, "line one\nline \"two\" \\");
    out.sample("m", {{"version", "1.0\"\n"}}, std::uint64_t{1});
    EXPECT_EQ(out.text(),
              "# HELP m line one\\nline \"two\" \\\\\n"
              "# TYPE m gauge\n"
              "m{version=\"1.0\\\"\\n\"} 1\n");
}

TEST(ObservabilityExposition, SpecialValues) {
    EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
    EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
    EXPECT_EQ(format_value(1e300), "1e+300");
}

// Buckets are cumulative, +Inf closes them, then _sum and _count (equal to +Inf).
TEST(ObservabilityExposition, HistogramText) {
    static constexpr std::array<double, 2> bounds{0.1, 1};
    Histogram histogram(bounds);
    histogram.observe(0.05);
    histogram.observe(0.1);  // le is inclusive
    histogram.observe(0.5);
    histogram.observe(4);
    Exposition out;
    out.family("d_seconds", MetricType::histogram, "D.");
    out.histogram("d_seconds", {{"placement", "visa"}}, histogram.counts());
    EXPECT_EQ(out.text(),
              "# HELP d_seconds D.\n"
              "# TYPE d_seconds histogram\n"
              "d_seconds_bucket{placement=\"visa\",le=\"0.1\"} 2\n"
              "d_seconds_bucket{placement=\"visa\",le=\"1\"} 3\n"
              "d_seconds_bucket{placement=\"visa\",le=\"+Inf\"} 4\n"
              "d_seconds_sum{placement=\"visa\"} 4.65\n"
              "d_seconds_count{placement=\"visa\"} 4\n");
}

// A histogram without labels carries only le.
TEST(ObservabilityExposition, HistogramWithoutLabels) {
    static constexpr std::array<double, 1> bounds{0.0005};
    Histogram histogram(bounds);
    Exposition out;
    out.histogram("h", {}, histogram.counts());
    EXPECT_EQ(out.text(), "h_bucket{le=\"0.0005\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
}

TEST(ObservabilityStatusClass, Labels) {
    EXPECT_EQ(status_class_label(status_class_index(200)), "2xx");
    EXPECT_EQ(status_class_label(status_class_index(499)), "4xx");
    EXPECT_EQ(status_class_label(status_class_index(503)), "5xx");
    EXPECT_EQ(status_class_label(status_class_index(0)), "other");
    EXPECT_EQ(status_class_label(status_class_index(600)), "other");
}

// A duration shard puts each observation in the first bucket whose bound is >= it.
TEST(ObservabilityRequestCounters, DurationBuckets) {
    RequestShard shard;
    shard.duration.observe(500us);   // exactly the first bound
    shard.duration.observe(501us);
    shard.duration.observe(11s);     // past every bound
    shard.duration.observe(-1ms);    // a clock step backwards counts as 0
    RequestTotals totals;
    totals.add(shard);
    EXPECT_EQ(totals.duration.buckets[0], 2u);
    EXPECT_EQ(totals.duration.buckets[1], 1u);
    EXPECT_EQ(totals.duration.buckets.back(), 1u);
    EXPECT_EQ(totals.duration.count(), 4u);
    EXPECT_DOUBLE_EQ(totals.duration.sum, 0.0005 + 0.000501 + 11);
}

// Each worker writes its own shard; a scrape sums every shard that exists.
TEST(ObservabilityRequestCounters, ShardsAreSummed) {
    ShardedRequestCounters counters;
    const auto ok = static_cast<std::size_t>(Outcome::dedicated);
    counters.shard(0).requests[ok][status_class_index(200)].add(2);
    counters.shard(3).requests[ok][status_class_index(200)].add(5);
    counters.shard(3).request_body_bytes.add(100);
    counters.shard(7).response_body_bytes.add(40);
    counters.shard(7).failovers[1].add(1);
    const RequestTotals totals = counters.totals();
    EXPECT_EQ(totals.requests[ok][status_class_index(200)], 7u);
    EXPECT_EQ(totals.of(Outcome::dedicated), 7u);
    EXPECT_EQ(totals.of(Outcome::tier), 0u);
    EXPECT_EQ(totals.request_body_bytes, 100u);
    EXPECT_EQ(totals.response_body_bytes, 40u);
    EXPECT_EQ(totals.failovers[1], 1u);
    EXPECT_EQ(&counters.shard(3), &counters.shard(3));  // created once
}

// Workers writing their own shards while another thread scrapes: every count arrives, and
// ThreadSanitizer sees no race.
TEST(ObservabilityRequestCounters, ConcurrentWritersAndScraper) {
    ShardedRequestCounters counters;
    constexpr int per_worker = 20000;
    std::vector<std::thread> workers;
    for (unsigned w = 0; w < 4; ++w) {
        workers.emplace_back([&counters, w] {
            for (int i = 0; i < per_worker; ++i) {
                counters.shard(w).requests[0][1].add(1);
                counters.shard(w).duration.observe(1ms);
            }
        });
    }
    std::uint64_t last = 0;
    for (int i = 0; i < 50; ++i) {
        const auto now = counters.totals().requests[0][1];
        EXPECT_GE(now, last);  // a scrape never sees a counter go back
        last = now;
    }
    for (auto& worker : workers) {
        worker.join();
    }
    const RequestTotals totals = counters.totals();
    EXPECT_EQ(totals.requests[0][1], 4u * per_worker);
    EXPECT_EQ(totals.duration.count(), 4u * per_worker);
}

}  // namespace
}  // namespace cell::observability
