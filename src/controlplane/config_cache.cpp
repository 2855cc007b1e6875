#include "cell/controlplane/config_cache.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "cell/controlplane/protocol.hpp"


namespace cell::controlplane {
namespace {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

bool write_all(int fd, const std::string& text) {
    std::size_t written = 0;
    while (written < text.size()) {
        const auto n = ::write(fd, text.data() + written, text.size() - written);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        written += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

std::uint64_t cached_snapshot_revision(const std::string& path) {
    auto text = reload::read_file(path);
    const auto* contents = std::get_if<std::string>(&text);
    return contents != nullptr ? revision_of(*contents) : 0;
}

std::string write_cache_atomically(const std::string& path, const std::string& text) {
    const std::filesystem::path target(path);
    const auto directory = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    std::error_code ec;
    std::filesystem::create_directories(directory, ec);
    const std::string temporary = path + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return errno_text("cannot create " + temporary);
    }
    if (!write_all(fd, text) || ::fsync(fd) != 0) {
        const auto error = errno_text("cannot write " + temporary);
        ::close(fd);
        ::unlink(temporary.c_str());
        return error;
    }
    ::close(fd);
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        const auto error = errno_text("cannot rename " + temporary + " to " + path);
        ::unlink(temporary.c_str());
        return error;
    }
    // The rename is durable only once the directory entry is.
    const int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        ::fsync(dir_fd);
        ::close(dir_fd);
    }
    return {};
}

std::variant<StartupChoice, reload::LoadFailure> choose_startup_table(
    const std::string& bootstrap_path, const std::string& cache_path,
    const config::ProxySettingsOverrides& flag_overrides) {
    auto bootstrap = reload::load_table_file(bootstrap_path, flag_overrides, "file");
    std::string notice;
    if (!cache_path.empty() && std::filesystem::exists(cache_path)) {
        auto cache = reload::load_table_file(cache_path, flag_overrides, "cache");
        if (auto* cached = std::get_if<reload::LoadedTable>(&cache)) {
            std::error_code cache_ec;
            std::error_code bootstrap_ec;
            const auto cache_time = std::filesystem::last_write_time(cache_path, cache_ec);
            const auto bootstrap_time = std::filesystem::last_write_time(bootstrap_path, bootstrap_ec);
            const bool bootstrap_usable = std::holds_alternative<reload::LoadedTable>(bootstrap);
            if (!bootstrap_usable || bootstrap_ec || (!cache_ec && cache_time > bootstrap_time)) {
                return StartupChoice{std::move(*cached), "cache is valid and newer than the bootstrap file"};
            }
            notice = "cache is older than the bootstrap file; using the bootstrap file";
        } else {
            notice = "ignoring corrupt cache " + cache_path + ": " + std::get<reload::LoadFailure>(cache).reason;
        }
    }
    if (auto* table = std::get_if<reload::LoadedTable>(&bootstrap)) {
        return StartupChoice{std::move(*table), notice.empty() ? "no cache; using the bootstrap file" : notice};
    }
    auto failure = std::get<reload::LoadFailure>(std::move(bootstrap));
    if (!notice.empty()) {
        failure.reason += " (" + notice + ")";
    }
    return failure;
}

}  // namespace cell::controlplane
