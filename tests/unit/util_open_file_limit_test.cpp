// Raising the open-file soft limit to the hard limit at startup.

#include <gtest/gtest.h>

#include <sys/resource.h>

#include "cell/util/open_file_limit.hpp"

namespace cell::util {
namespace {

// From a lowered soft limit, the soft limit ends at the hard limit, and the report says so.
TEST(OpenFileLimit, RaisesTheSoftLimitToTheHardLimit) {
    rlimit original{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
    if (original.rlim_max < 512) {
        GTEST_SKIP() << "hard limit " << original.rlim_max << " leaves nothing to raise";
    }
    rlimit lowered = original;
    lowered.rlim_cur = 256;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);

    const auto limit = raise_open_file_limit();
    ASSERT_TRUE(limit.has_value());
    EXPECT_EQ(limit->before, 256u);
    EXPECT_EQ(limit->after, original.rlim_max);
    EXPECT_EQ(limit->hard, original.rlim_max);
    rlimit now{};
    ::getrlimit(RLIMIT_NOFILE, &now);
    EXPECT_EQ(now.rlim_cur, original.rlim_max);

    // Already at the hard limit: nothing changes.
    const auto again = raise_open_file_limit();
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->before, again->after);
    ::setrlimit(RLIMIT_NOFILE, &original);
}

}  // namespace
}  // namespace cell::util
