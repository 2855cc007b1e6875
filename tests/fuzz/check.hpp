#pragma once
// A violated property ends the run the way a sanitizer report does, so libFuzzer keeps the
// input that broke it.

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition, what)                                                      \
    do {                                                                                 \
        if (!(condition)) {                                                              \
            std::fprintf(stderr, "fuzz property violated at %s:%d: %s\n  (%s)\n", __FILE__, \
                         __LINE__, what, #condition);                                    \
            std::abort();                                                                \
        }                                                                                \
    } while (false)
