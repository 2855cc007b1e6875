#include "cell/reload/file_poller.hpp"

#include <sys/stat.h>

#include "cell/observability/log.hpp"
#include "cell/reload/table_loader.hpp"
#include "cell/util/sha256.hpp"
#include "cell/util/thread_priority.hpp"

namespace cell::reload {

using observability::Level;

namespace {

std::int64_t nanoseconds(const timespec& time) {
    return static_cast<std::int64_t>(time.tv_sec) * 1'000'000'000 + time.tv_nsec;
}

std::optional<FilePoller::FileIdentity> identity_of(const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        return std::nullopt;
    }
    return FilePoller::FileIdentity{static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino),
                                    static_cast<std::int64_t>(info.st_size), nanoseconds(info.st_mtim),
                                    nanoseconds(info.st_ctim)};
}

// File timestamps advance in clock ticks of a few milliseconds, so a second write of the same
// size in the same tick as the one we read would look untouched. Only a file whose last change
// is older than `settle` is trusted to be what we read.
bool settled(const FilePoller::FileIdentity& identity, std::chrono::nanoseconds settle) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return nanoseconds(now) - identity.changed_ns > settle.count();
}

}  // namespace

FilePoller::FilePoller(std::string path, std::chrono::milliseconds interval, ConfigSink& sink,
                       config::ProxySettingsOverrides flag_overrides, std::string initial_hash,
                       resilience::PlacementStateRegistry* states, std::chrono::nanoseconds settle)
    : path_(std::move(path)),
      interval_(interval),
      sink_(sink),
      flag_overrides_(flag_overrides),
      states_(states),
      settle_(settle) {
    auto initial = std::make_shared<ReloadStatus>();
    initial->current_hash = std::move(initial_hash);
    initial->last_reload_at = std::chrono::system_clock::now();
    status_.store(std::move(initial));
}

FilePoller::~FilePoller() { stop(); }

void FilePoller::start_watching() {
    if (watch_) {
        return;
    }
    watch_ = std::make_unique<FileWatch>(path_, watch_debounce, interval_, [this] { file_changed(); });
    watch_->start();
    std::lock_guard serialize(check_mutex_);
    ReloadStatus next = *status();
    next.watch_mode = watch_mode();
    status_.store(std::make_shared<const ReloadStatus>(std::move(next)));
}

void FilePoller::start() {
    start_watching();
    thread_ = std::thread([this] {
        util::lower_current_thread_priority();
        run();
    });
}

void FilePoller::stop() {
    if (watch_) {
        watch_->stop();
    }
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void FilePoller::trigger() {
    {
        std::lock_guard lock(mutex_);
        triggered_ = true;
    }
    wake_.notify_all();
}

void FilePoller::file_changed() {
    {
        std::lock_guard lock(mutex_);
        file_changed_ = true;
    }
    wake_.notify_all();
}

std::string FilePoller::watch_mode() const { return watch_ && watch_->active() ? "inotify" : "poll"; }

void FilePoller::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        wake_.wait_for(lock, interval_, [this] { return stopping_ || triggered_ || file_changed_; });
        if (stopping_) {
            break;
        }
        const bool by_signal = triggered_;
        const bool by_watch = file_changed_;
        triggered_ = false;
        file_changed_ = false;
        lock.unlock();
        if (by_signal) {
            observability::log_event(Level::info, "reload_triggered", "SIGHUP: checking the config file now");
        }
        // A reported save is read whatever stat() says: the skip is for the idle interval, and an
        // event is the kernel saying the file changed (a recreated file can even get the old
        // inode back). Reading costs one file read when nothing new came, e.g. after a `touch`.
        check_now(by_signal || by_watch);
        lock.lock();
    }
}

void FilePoller::reject(ReloadStatus& next, std::string reason, std::string hash) {
    ++next.rejected;
    next.last_rejected_at = std::chrono::system_clock::now();
    next.last_rejected_reason = reason;
    next.last_rejected_hash = hash;
    observability::emit_event(Level::err, std::move(observability::event_line(Level::err, "config_rejected")
                                                        .add("path", path_)
                                                        .add("content_hash", hash)
                                                        .add("reason", reason)
                                                        .add("serving_version", sink_.serving_version())));
}

void FilePoller::check_now(bool force) {
    std::lock_guard serialize(check_mutex_);
    ReloadStatus next = *status();
    ++next.checks;
    next.watch_mode = watch_mode();
    // Before reading: a write in between leaves an identity that differs next time.
    const auto identity = identity_of(path_);
    if (!force && identity && last_read_ && *identity == *last_read_) {
        ++next.unchanged;
        ++next.not_read;
        status_.store(std::make_shared<const ReloadStatus>(std::move(next)));
        return;
    }
    last_read_ = identity && settled(*identity, settle_) ? identity : std::nullopt;
    auto text = read_file(path_);
    if (auto* failure = std::get_if<LoadFailure>(&text)) {
        // A file that stays missing or unreadable is one rejection, not one per interval.
        if (next.last_rejected_hash.empty() && next.last_rejected_at && failure->reason == next.last_rejected_reason) {
            ++next.unchanged;
            status_.store(std::make_shared<const ReloadStatus>(std::move(next)));
            return;
        }
        reject(next, std::move(failure->reason), {});
        status_.store(std::make_shared<const ReloadStatus>(std::move(next)));
        return;
    }
    const auto& contents = std::get<std::string>(text);
    std::string hash = util::sha256_hex(contents);
    // The same bytes as the serving table, or as the last rejected attempt: nothing new to say.
    if (hash == next.current_hash || hash == next.last_rejected_hash) {
        ++next.unchanged;
        status_.store(std::make_shared<const ReloadStatus>(std::move(next)));
        return;
    }
    if (auto refused = sink_.refusal(contents)) {
        reject(next, std::move(*refused), std::move(hash));
        status_.store(std::make_shared<const ReloadStatus>(std::move(next)));
        return;
    }
    auto built = build_table(contents, hash, path_, flag_overrides_, "file", states_);
    if (auto* failure = std::get_if<LoadFailure>(&built)) {
        reject(next, std::move(failure->reason), std::move(hash));
        status_.store(std::make_shared<const ReloadStatus>(std::move(next)));
        return;
    }
    auto& loaded = std::get<LoadedTable>(built);
    const std::string previous_version = sink_.serving_version();
    const auto generation = sink_.apply(loaded, contents);
    ++next.applied;
    next.current_hash = hash;
    next.last_reload_at = loaded.table->origin().loaded_at;
    next.last_rejected_hash.clear();
    status_.store(std::make_shared<const ReloadStatus>(std::move(next)));
    observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "config_reloaded")
                                                         .add("path", path_)
                                                         .add("version", loaded.table->version())
                                                         .add("previous_version", previous_version)
                                                         .add("content_hash", hash)
                                                         .add("generation", generation)
                                                         .add("routing_keys", loaded.table->routing_key_count())
                                                         .add("placements", loaded.table->placements().size())));
}

}  // namespace cell::reload
