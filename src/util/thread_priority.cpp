#include "cell/util/thread_priority.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace cell::util {
namespace {

// The kernel's struct sched_attr, first version (48 bytes); <linux/sched/types.h> cannot be
// included together with glibc's <sched.h>.
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
static_assert(sizeof(SchedAttributes) == 48);

// Linux 6.12 and later take sched_attr.sched_runtime of a fair-scheduled thread as the EEVDF
// scheduler's custom slice; older kernels ignore the field for SCHED_OTHER.
bool shorten_time_slice(pid_t thread_id) {
    SchedAttributes attributes{};
    attributes.size = sizeof attributes;
    attributes.sched_policy = SCHED_OTHER;
    attributes.sched_nice = background_nice;
    attributes.sched_runtime = static_cast<std::uint64_t>(std::chrono::nanoseconds(background_slice).count());
    return ::syscall(SYS_sched_setattr, thread_id, &attributes, 0U) == 0;
}

}  // namespace

bool lower_current_thread_priority() {
    // On Linux the nice value belongs to the thread: PRIO_PROCESS with a thread id changes only it.
    const auto thread_id = static_cast<pid_t>(::syscall(SYS_gettid));
    if (::setpriority(PRIO_PROCESS, static_cast<id_t>(thread_id), background_nice) != 0) {
        return false;
    }
    shorten_time_slice(thread_id);
    return true;
}

}  // namespace cell::util
