// keep_freed_memory: a large block comes from malloc's heap rather than a mapping of its own,
// and stays in the process, ready for the next one, once it is freed. It changes this test
// process's malloc settings for the tests after it; they only make large blocks cheaper.

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "cell/util/freed_memory.hpp"

namespace cell::util {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;  // the sanitizers bring an allocator of their own
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif
#else
constexpr bool sanitized = false;
#endif

TEST(FreedMemory, LargeBlocksComeFromTheHeapAndStayWhenFreed) {
#if !defined(__GLIBC__)
    GTEST_SKIP() << "glibc's malloc only";
#else
    if (sanitized) {
        GTEST_SKIP() << "a sanitizer's allocator ignores malloc's settings";
    }
    constexpr std::size_t block_bytes = std::size_t{32} << 20;  // above glibc's own mapping threshold
    ASSERT_TRUE(keep_freed_memory(std::size_t{256} << 20));
    const struct mallinfo2 before = mallinfo2();
    void* block = std::malloc(block_bytes);
    ASSERT_NE(block, nullptr);
    std::memset(block, 1, block_bytes);
    const struct mallinfo2 held = mallinfo2();
    EXPECT_EQ(held.hblks, before.hblks) << "the block got a mapping of its own";
    std::free(block);
    const struct mallinfo2 after = mallinfo2();
    EXPECT_GE(after.fordblks, block_bytes) << "the freed block went back to the kernel";
#endif
}

}  // namespace
}  // namespace cell::util
