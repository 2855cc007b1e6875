#include "cell/util/freed_memory.hpp"

#include <climits>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace cell::util {

bool keep_freed_memory(std::size_t bytes) {
#if defined(__GLIBC__)
    const int setting = bytes > static_cast<std::size_t>(INT_MAX) ? INT_MAX : static_cast<int>(bytes);
    // Setting either one also stops glibc from moving them itself as blocks are freed.
    const bool mapped = ::mallopt(M_MMAP_THRESHOLD, setting) == 1;
    const bool trimmed = ::mallopt(M_TRIM_THRESHOLD, setting) == 1;
    return mapped && trimmed;
#else
    (void)bytes;
    return false;
#endif
}

}  // namespace cell::util
