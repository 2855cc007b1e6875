// Config threads step aside for the workers: their nice value, and only theirs, goes up.

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <thread>

#include "cell/util/thread_priority.hpp"

namespace cell::util {
namespace {

int nice_of(pid_t thread_id) {
    errno = 0;
    return ::getpriority(PRIO_PROCESS, static_cast<id_t>(thread_id));
}

TEST(ThreadPriority, LowersOnlyTheCallingThread) {
    const auto main_thread = static_cast<pid_t>(::syscall(SYS_gettid));
    const int before = nice_of(main_thread);
    int lowered = 0;
    bool changed = false;
    std::thread config_thread([&] {
        changed = lower_current_thread_priority();
        lowered = nice_of(static_cast<pid_t>(::syscall(SYS_gettid)));
    });
    config_thread.join();
    ASSERT_TRUE(changed);
    EXPECT_EQ(lowered, std::max(before, background_nice));
    EXPECT_EQ(nice_of(main_thread), before);
}

}  // namespace
}  // namespace cell::util
