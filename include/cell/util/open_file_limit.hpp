#pragma once
// Every client connection, cell connection and config read costs a file descriptor, and the
// usual soft limit (1024) is reached long before memory or CPU run out.

#include <cstdint>
#include <optional>

namespace cell::util {

struct OpenFileLimit {
    std::uint64_t before = 0;  // the soft limit the process started with
    std::uint64_t after = 0;   // the soft limit now (the hard limit, when raising worked)
    std::uint64_t hard = 0;
};

// Raises this process's soft RLIMIT_NOFILE to its hard limit (which needs no privilege).
// Returns nullopt when the limits cannot be read; `after` equals `before` when raising failed.
std::optional<OpenFileLimit> raise_open_file_limit();

}  // namespace cell::util
