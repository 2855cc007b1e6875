#include "cell/reload/table_loader.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "cell/config/load.hpp"
#include "cell/config/proxy_settings.hpp"
#include "cell/util/sha256.hpp"

namespace cell::reload {

namespace {

// Closes the descriptor on every way out of read_file.
class FileDescriptor {
public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    ~FileDescriptor() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

// Asks for huge pages under a large buffer about to be filled: a 30 MB config is otherwise
// faulted in 4 KiB at a time, 7,000 faults that cost more than the read itself on a virtual
// machine. Only a hint: where transparent huge pages are off, nothing changes.
void prefer_huge_pages(const char* data, std::size_t size) {
    constexpr std::uintptr_t huge_page = 2 * 1024 * 1024;
    if (size < 2 * huge_page) {
        return;
    }
    const auto begin = (reinterpret_cast<std::uintptr_t>(data) + huge_page - 1) & ~(huge_page - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(data) + size) & ~(huge_page - 1);
    if (begin < end) {
        ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
    }
}

std::string describe_size(std::uint64_t bytes) {
    return std::to_string(bytes) + " bytes";
}

}  // namespace

std::variant<std::string, LoadFailure> read_file(const std::string& path) {
    // Non-blocking: a FIFO put in the file's place must not stall the reader until someone writes.
    const FileDescriptor file(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (file.get() < 0) {
        return LoadFailure{"cannot open " + path + ": " + std::strerror(errno), {}};
    }
    struct stat info {};
    if (::fstat(file.get(), &info) != 0) {
        return LoadFailure{"cannot read " + path + ": " + std::strerror(errno), {}};
    }
    // A directory, FIFO, socket or device (/dev/zero, /dev/urandom) is no config file, and some
    // of them never end.
    if (!S_ISREG(info.st_mode)) {
        return LoadFailure{"cannot read " + path + ": not a regular file", {}};
    }
    const auto too_large = [&](std::uint64_t size) {
        return LoadFailure{path + " is " + describe_size(size) + ", larger than the " +
                               std::to_string(max_config_file_bytes / (1024 * 1024)) +
                               " MiB a config file may be; not read",
                           {}};
    };
    if (static_cast<std::uint64_t>(info.st_size) > max_config_file_bytes) {
        return too_large(static_cast<std::uint64_t>(info.st_size));
    }
    std::string contents;
    contents.reserve(static_cast<std::size_t>(info.st_size));
    prefer_huge_pages(contents.data(), contents.capacity());
    // The file may grow while it is read: stop one chunk past the bound.
    char chunk[64 * 1024];
    for (;;) {
        const ssize_t n = ::read(file.get(), chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return LoadFailure{"cannot read " + path + ": " + std::strerror(errno), {}};
        }
        if (n == 0) {
            break;
        }
        contents.append(chunk, static_cast<std::size_t>(n));
        if (contents.size() > max_config_file_bytes) {
            return too_large(contents.size());
        }
    }
    return contents;
}

std::variant<LoadedTable, LoadFailure> build_table(const std::string& text, const std::string& content_hash,
                                                   const std::string& path,
                                                   const config::ProxySettingsOverrides& flag_overrides,
                                                   const std::string& source,
                                                   resilience::PlacementStateRegistry* states) {
    auto loaded = config::load_config(text);
    if (!loaded.ok()) {
        return LoadFailure{config::describe(loaded.errors), content_hash};
    }
    const auto settings = config::resolve_proxy_settings(loaded.config->proxy, flag_overrides);
    routing::TableOrigin origin{source, path, content_hash, std::chrono::system_clock::now()};
    return LoadedTable{routing::Table::build(*loaded.config, settings, std::move(origin), states), content_hash};
}

std::variant<LoadedTable, LoadFailure> load_table_file(const std::string& path,
                                                       const config::ProxySettingsOverrides& flag_overrides,
                                                       const std::string& source,
                                                       resilience::PlacementStateRegistry* states) {
    auto text = read_file(path);
    if (auto* failure = std::get_if<LoadFailure>(&text)) {
        return std::move(*failure);
    }
    const auto& contents = std::get<std::string>(text);
    return build_table(contents, util::sha256_hex(contents), path, flag_overrides, source, states);
}

}  // namespace cell::reload
