#pragma once

#include <chrono>

namespace cell::util {

// The nice value that threads doing config work (reading, parsing and building tables) take, so
// that on a core they share with a worker the worker's requests come first: a reload is
// delayed, never the traffic. Under full load such a thread still gets about a tenth of the core.
inline constexpr int background_nice = 10;

// The time slice they ask for (Linux 6.12 and later; older kernels ignore it): when the scheduler
// lets such a thread run ahead of a busy worker on their shared core, the worker's requests wait
// this long, not a default slice of several milliseconds.
inline constexpr std::chrono::microseconds background_slice{100};

// Lowers the calling thread's scheduling priority to `background_nice` (Linux: per-thread nice)
// and asks for `background_slice`. Returns false, changing nothing, where that is not permitted.
bool lower_current_thread_priority();

}  // namespace cell::util
