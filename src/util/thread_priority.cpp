#include "cell/util/thread_priority.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace cell::util {

bool lower_current_thread_priority() {
    // On Linux the nice value belongs to the thread: PRIO_PROCESS with a thread id changes only it.
    const auto thread_id = static_cast<id_t>(::syscall(SYS_gettid));
    return ::setpriority(PRIO_PROCESS, thread_id, background_nice) == 0;
}

}  // namespace cell::util
