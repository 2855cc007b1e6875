#pragma once

namespace cell::util {

// The nice value that threads doing config work (reading, parsing and building tables) take, so
// that on a core they share with a worker the worker's requests come first: a reload is
// delayed, never the traffic. Under full load such a thread still gets about a tenth of the core.
inline constexpr int background_nice = 10;

// Lowers the calling thread's scheduling priority to `background_nice` (Linux: per-thread nice).
// Returns false, changing nothing, where that is not permitted.
bool lower_current_thread_priority();

}  // namespace cell::util
