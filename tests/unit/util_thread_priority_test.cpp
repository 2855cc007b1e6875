// Config threads step aside for the workers: their nice value, and only theirs, goes up.

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>

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

// The kernel's struct sched_attr, first version, as sched_getattr fills it.
struct SchedAttributes {
    std::uint32_t size;
    std::uint32_t sched_policy;
    std::uint64_t sched_flags;
    std::int32_t sched_nice;
    std::uint32_t sched_priority;
    std::uint64_t sched_runtime;
    std::uint64_t sched_deadline;
    std::uint64_t sched_period;
};

bool kernel_has_custom_slices() {
    utsname name{};
    int major = 0;
    int minor = 0;
    return ::uname(&name) == 0 && std::sscanf(name.release, "%d.%d", &major, &minor) == 2 &&
           (major > 6 || (major == 6 && minor >= 12));
}

TEST(ThreadPriority, AsksForAShortTimeSlice) {
    if (!kernel_has_custom_slices()) {
        GTEST_SKIP() << "custom time slices need Linux 6.12 or later";
    }
    SchedAttributes attributes{};
    long status = -1;
    std::thread config_thread([&] {
        lower_current_thread_priority();
        status = ::syscall(SYS_sched_getattr, static_cast<pid_t>(::syscall(SYS_gettid)), &attributes,
                           static_cast<unsigned>(sizeof attributes), 0U);
    });
    config_thread.join();
    ASSERT_EQ(status, 0) << "sched_getattr failed";
    EXPECT_EQ(attributes.sched_runtime,
              static_cast<std::uint64_t>(std::chrono::nanoseconds(background_slice).count()));
    EXPECT_EQ(attributes.sched_nice, background_nice);
}

}  // namespace
}  // namespace cell::util
