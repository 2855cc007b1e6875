#pragma once
// A control plane handling a million-key config allocates a few hundred MB for each upload
// (the text, the parsed rows, the table) and frees it a second later. glibc's malloc hands
// blocks that large back to the kernel at once, and the next upload faults every page in again:
// on a virtual machine that is most of a second of CPU per `cellctl diff` (docs/milestones/
// m6-control-plane-ha.md, "Measured"). Keeping freed memory for reuse trades an RSS that stays
// at its peak for that CPU.

#include <cstddef>

namespace cell::util {

// Makes malloc serve blocks up to `bytes` from its heaps instead of fresh mappings, and keep up
// to `bytes` of freed memory at the top of each heap instead of returning it. Call it before
// any thread starts. False where the C library is not glibc, or when it refused a setting.
bool keep_freed_memory(std::size_t bytes);

}  // namespace cell::util
