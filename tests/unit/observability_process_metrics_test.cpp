// process_* metrics parsed from samples of /proc text.

#include <gtest/gtest.h>

#include "cell/observability/process_metrics.hpp"

namespace cell::observability {
namespace {

// A command name with spaces and a ')' must not shift the fields.
constexpr std::string_view stat_sample =
    "4242 (cell (router) x) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 75 0 0 20 0 3 0 "
    "123456 275013632 6864 18446744073709551615 1 1 0 0 0 0 0 4096 17415 0 0 0 17 1 0 0 0 0 0\n";

TEST(ObservabilityProcessMetrics, ParsesProcStat) {
    const auto stat = parse_proc_stat(stat_sample);
    ASSERT_TRUE(stat);
    EXPECT_EQ(stat->user_ticks, 250u);
    EXPECT_EQ(stat->system_ticks, 75u);
    EXPECT_EQ(stat->start_ticks, 123456u);
    EXPECT_EQ(stat->virtual_bytes, 275013632u);
    EXPECT_EQ(stat->resident_pages, 6864u);
}

TEST(ObservabilityProcessMetrics, RejectsTruncatedStat) {
    EXPECT_FALSE(parse_proc_stat("4242 (cell) S 1 2 3"));
    EXPECT_FALSE(parse_proc_stat("no parenthesis"));
}

TEST(ObservabilityProcessMetrics, ParsesBootTime) {
    EXPECT_EQ(parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1796290000\nprocesses 7\n"), 1796290000u);
    EXPECT_FALSE(parse_boot_time("cpu 1 2 3\n"));
}

TEST(ObservabilityProcessMetrics, ParsesMaxOpenFiles) {
    const std::string limits =
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max cpu time              unlimited            unlimited            seconds   \n"
        "Max open files            20000                1048576              files     \n";
    EXPECT_EQ(parse_max_open_files(limits), 20000u);
    EXPECT_FALSE(parse_max_open_files("Max open files            unlimited            unlimited            files\n"));
    EXPECT_FALSE(parse_max_open_files("Max processes 1 1 processes\n"));
}

// Ticks become seconds, pages bytes, and the start time is boot time plus the start ticks.
TEST(ObservabilityProcessMetrics, CombinesIntoMetrics) {
    const auto stat = parse_proc_stat(stat_sample);
    ASSERT_TRUE(stat);
    const auto metrics = process_metrics_from(*stat, 1796290000, 21, 20000, 100, 4096);
    EXPECT_DOUBLE_EQ(metrics.cpu_seconds, 3.25);
    EXPECT_EQ(metrics.resident_memory_bytes, 6864u * 4096u);
    EXPECT_EQ(metrics.virtual_memory_bytes, 275013632u);
    EXPECT_EQ(metrics.open_fds, 21u);
    EXPECT_DOUBLE_EQ(metrics.start_time_seconds, 1796290000 + 1234.56);
    Exposition out;
    write_process_metrics(out, metrics);
    EXPECT_NE(out.text().find("\nprocess_cpu_seconds_total 3.25\n"), std::string::npos) << out.text();
    EXPECT_NE(out.text().find("\nprocess_max_fds 20000\n"), std::string::npos);
    EXPECT_NE(out.text().find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);
}

// The live reading of this test process: plausible, not zero.
TEST(ObservabilityProcessMetrics, ReadsThisProcess) {
    const auto metrics = read_process_metrics();
    ASSERT_TRUE(metrics);
    EXPECT_GT(metrics->resident_memory_bytes, 0u);
    EXPECT_GE(metrics->virtual_memory_bytes, metrics->resident_memory_bytes);
    EXPECT_GE(metrics->open_fds, 3u);
    EXPECT_GT(metrics->start_time_seconds, 1.5e9);
}

}  // namespace
}  // namespace cell::observability
