#include "cell/reload/file_watch.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "cell/observability/log.hpp"
#include "cell/util/thread_priority.hpp"

namespace cell::reload {

namespace fs = std::filesystem;
using observability::Level;

namespace {

// Directory events only: the file's own inode is never watched (see the header).
constexpr std::uint32_t watch_mask =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

// A symlink chain longer than this is left to the poll (the kernel itself gives up at 40).
constexpr int max_symlink_hops = 8;

std::string errno_text(std::string_view call, int error) {
    std::string text = std::string(call) + ": " + std::strerror(error);
    // The kernel's words for the two inotify limits name neither.
    if (error == ENOSPC) {
        text += " (the inotify watch limit, sysctl fs.inotify.max_user_watches, is reached)";
    } else if (error == EMFILE) {
        text += " (the inotify instance limit, sysctl fs.inotify.max_user_instances, or the open file limit is reached)";
    }
    return text;
}

void add_point(std::vector<WatchPoint>& points, const fs::path& directory, const std::string& name) {
    const std::string dir = directory.empty() ? std::string("/") : directory.string();
    for (auto& point : points) {
        if (point.directory == dir) {
            point.names.insert(name);
            return;
        }
    }
    points.push_back(WatchPoint{dir, {name}});
}

void log_watch_state(const std::string& path, bool active, const std::string& detail, std::chrono::milliseconds retry) {
    const Level level = active ? Level::info : Level::warn;
    auto line = observability::event_line(level, active ? "config_watch" : "config_watch_unavailable");
    line.add("path", path).add("watch_mode", active ? "inotify" : "poll").add("detail", detail);
    if (!active) {
        line.add("poll_interval_ms", static_cast<std::int64_t>(retry.count()));
    }
    observability::emit_event(level, std::move(line));
}

}  // namespace

std::vector<WatchPoint> watch_points(const std::string& path) {
    std::vector<WatchPoint> points;
    std::error_code error;
    fs::path current = fs::absolute(fs::path(path), error).lexically_normal();
    if (error) {
        return points;
    }
    for (int hop = 0; hop <= max_symlink_hops; ++hop) {
        add_point(points, current.parent_path(), current.filename().string());
        if (!fs::is_symlink(fs::symlink_status(current, error))) {
            break;
        }
        fs::path target = fs::read_symlink(current, error);
        if (error) {
            break;
        }
        if (target.is_relative()) {
            // `..data/routing.json`: a new `..data` renamed over the old one re-points the chain.
            const fs::path first = *target.begin();
            if (first != "." && first != "..") {
                add_point(points, current.parent_path(), first.string());
            }
            target = current.parent_path() / target;
        }
        current = target.lexically_normal();
    }
    // Where the chain ends, with symlinked directories resolved: edits in place of the target.
    const fs::path resolved = fs::canonical(fs::path(path), error);
    if (!error) {
        add_point(points, resolved.parent_path(), resolved.filename().string());
    }
    return points;
}

FileWatch::FileWatch(std::string path, std::chrono::milliseconds debounce, std::chrono::milliseconds retry,
                     std::function<void()> changed)
    : path_(std::move(path)), debounce_(debounce), retry_(retry), changed_(std::move(changed)) {}

FileWatch::~FileWatch() {
    stop();
    if (inotify_fd_ >= 0) {
        ::close(inotify_fd_);
    }
    if (stop_fd_ >= 0) {
        ::close(stop_fd_);
    }
}

bool FileWatch::start() {
    inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd_ < 0) {
        log_watch_state(path_, false, errno_text("inotify_init1", errno), retry_);
        return false;
    }
    stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (stop_fd_ < 0) {
        log_watch_state(path_, false, errno_text("eventfd", errno), retry_);
        ::close(inotify_fd_);
        inotify_fd_ = -1;
        return false;
    }
    refresh();
    thread_ = std::thread([this] {
        // Reading events is config work: it yields to requests like the poller does.
        util::lower_current_thread_priority();
        run();
    });
    return true;
}

void FileWatch::stop() {
    if (!thread_.joinable()) {
        return;
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto written = ::write(stop_fd_, &one, sizeof one);
    thread_.join();
    active_.store(false, std::memory_order_release);
}

void FileWatch::refresh() {
    const auto points = watch_points(path_);
    std::map<int, WatchedDirectory> next;
    bool own_directory_watched = false;
    std::string failure = points.empty() ? "cannot make the path absolute" : "";
    for (std::size_t i = 0; i < points.size(); ++i) {
        const int descriptor = ::inotify_add_watch(inotify_fd_, points[i].directory.c_str(), watch_mask);
        if (descriptor < 0) {
            if (i == 0) {
                failure = errno_text("inotify_add_watch " + points[i].directory, errno);
            }
            continue;  // a missing target directory is seen again after the next swap
        }
        own_directory_watched = own_directory_watched || i == 0;
        // Two points on one directory inode share a descriptor: merge their names.
        auto& watched = next[descriptor];
        if (watched.directory.empty()) {
            watched.directory = points[i].directory;
        }
        watched.names.insert(points[i].names.begin(), points[i].names.end());
    }
    for (const auto& [descriptor, watched] : watches_) {
        if (!next.contains(descriptor)) {
            ::inotify_rm_watch(inotify_fd_, descriptor);  // EINVAL when the kernel dropped it already: fine
        }
    }
    watches_ = std::move(next);
    const bool was_active = active_.exchange(own_directory_watched, std::memory_order_acq_rel);
    // Logged on every change of state, starting with the first: one line, not one per retry.
    if (was_active != own_directory_watched || !state_logged_) {
        state_logged_ = true;
        std::string detail;
        if (own_directory_watched) {
            for (const auto& [descriptor, watched] : watches_) {
                detail += (detail.empty() ? "watching " : ", ") + watched.directory;
            }
        } else {
            detail = failure;
        }
        log_watch_state(path_, own_directory_watched, detail, retry_);
    }
}

bool FileWatch::counts_as_change(int descriptor, std::uint32_t mask, const std::string& name) const {
    if ((mask & IN_Q_OVERFLOW) != 0) {
        return true;  // events were lost: look again
    }
    const auto watched = watches_.find(descriptor);
    if (watched == watches_.end()) {
        return false;  // e.g. IN_IGNORED for a watch refresh() removed itself
    }
    if ((mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) != 0) {
        return true;  // a watched directory went away or moved: set the watches up again
    }
    if (name.empty() || !watched->second.names.contains(name)) {
        return false;
    }
    if ((mask & IN_CREATE) != 0) {
        // A new regular file is empty until its writer closes it (IN_CLOSE_WRITE follows).
        struct stat info {};
        const std::string entry = watched->second.directory + "/" + name;
        return ::lstat(entry.c_str(), &info) == 0 && !S_ISREG(info.st_mode);
    }
    return true;
}

bool FileWatch::drain() {
    // Aligned for inotify_event; room for many events with names up to NAME_MAX.
    alignas(inotify_event) std::array<char, 16 * 1024> buffer{};
    bool changed = false;
    for (;;) {
        const ssize_t n = ::read(inotify_fd_, buffer.data(), buffer.size());
        if (n <= 0) {
            return changed;  // EAGAIN: the queue is empty (EINTR: the next poll() comes back)
        }
        for (ssize_t offset = 0; offset < n;) {
            const auto* event = reinterpret_cast<const inotify_event*>(buffer.data() + offset);
            const std::string name = event->len > 0 ? std::string(event->name) : std::string();
            changed = counts_as_change(event->wd, event->mask, name) || changed;
            offset += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
        }
    }
}

void FileWatch::wait_out_burst() {
    const auto deadline = std::chrono::steady_clock::now() + debounce_;
    for (;;) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return;
        }
        std::array<pollfd, 2> descriptors{{{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}}};
        if (::poll(descriptors.data(), descriptors.size(), static_cast<int>(left.count())) > 0) {
            if ((descriptors[1].revents & POLLIN) != 0) {
                stopping_ = true;
                return;
            }
            drain();
        }
    }
}

void FileWatch::run() {
    for (;;) {
        std::array<pollfd, 2> descriptors{{{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}}};
        // Without a watch on the file's directory, look for it again every retry_.
        const int timeout = active() ? -1 : static_cast<int>(retry_.count());
        const int ready = ::poll(descriptors.data(), descriptors.size(), timeout);
        if (ready < 0) {
            if (errno == EINTR) {
                continue;
            }
            active_.store(false, std::memory_order_release);
            log_watch_state(path_, false, errno_text("poll", errno), retry_);
            changed_();  // so the status says "poll" from now on
            return;
        }
        if ((descriptors[1].revents & POLLIN) != 0) {
            return;
        }
        if (ready == 0) {
            refresh();
            if (active()) {
                changed_();  // the file may have changed while nothing watched it
            }
            continue;
        }
        if (!drain()) {
            continue;
        }
        wait_out_burst();
        if (stopping_) {
            return;
        }
        refresh();  // a rename or a swapped link may have moved what the path resolves to
        changed_();
    }
}

}  // namespace cell::reload
