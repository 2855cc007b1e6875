#pragma once
// M2 hot reload: a thread that re-reads the config file every interval, at once on trigger()
// (SIGHUP) and, on Linux, at once when inotify reports a save (reload/file_watch.hpp; the
// interval stays the safety net). It skips unchanged content by hash, validates off the request
// path and hands each valid new config to its sink (for the router: an atomic table swap).
// Invalid content is logged and rejected; the last good table keeps serving.
//
// Thread safety: trigger(), status() and stop() may be called from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cell/config/types.hpp"
#include "cell/reload/file_watch.hpp"
#include "cell/resilience/placement_state.hpp"
#include "cell/reload/table_loader.hpp"
#include "cell/routing/snapshot.hpp"
#include "cell/util/atomic_shared_ptr.hpp"

namespace cell::reload {

// Where the poller delivers each valid new config: the router publishes it as its routing
// table; the control plane broadcasts it to its routers.
class ConfigSink {
public:
    virtual ~ConfigSink() = default;
    virtual std::string serving_version() const = 0;
    // `text` is the file's content, `loaded` the table built from it. Returns a generation
    // number for the log (0 when the sink has none).
    virtual std::uint64_t apply(const LoadedTable& loaded, const std::string& text) = 0;
    // Why the sink cannot take `text` whatever its content (the control plane: a snapshot too
    // big to send), checked before the costly parse; nullopt when it can. The poller rejects
    // such a file like an invalid one.
    virtual std::optional<std::string> refusal(const std::string& /*text*/) const { return std::nullopt; }
};

// The router's sink: publish the table to the workers.
class PublishingSink final : public ConfigSink {
public:
    explicit PublishingSink(routing::TablePublisher& publisher) : publisher_(publisher) {}
    std::string serving_version() const override { return publisher_.current()->version(); }
    std::uint64_t apply(const LoadedTable& loaded, const std::string&) override {
        return publisher_.publish(loaded.table);
    }

private:
    routing::TablePublisher& publisher_;
};

struct ReloadStatus {
    std::uint64_t checks = 0;       // times the file was looked at
    std::uint64_t unchanged = 0;    // skipped: the file untouched since it was read, or the same content hash
    std::uint64_t not_read = 0;     // of those, skipped without reading: stat() showed it untouched
    std::uint64_t applied = 0;      // new tables published
    std::uint64_t rejected = 0;     // unreadable or invalid content
    std::string current_hash;       // hash of the content being served
    std::chrono::system_clock::time_point last_reload_at;  // when the serving table was loaded
    std::optional<std::chrono::system_clock::time_point> last_rejected_at;
    std::string last_rejected_reason;
    std::string last_rejected_hash;
    // "inotify" while a save wakes the poller at once, "poll" when only the interval (and
    // SIGHUP) will see it: no inotify, an unwatchable directory, or check_now() without start().
    std::string watch_mode = "poll";
};

class FilePoller {
public:
    // `states` (optional) carries placement state from one table to the next (routing::Table::build).
    // `settle`: how old a file's last change must be before stat() alone may vouch that it is
    // unchanged (file timestamps advance in ticks of a few milliseconds).
    FilePoller(std::string path, std::chrono::milliseconds interval, ConfigSink& sink,
               config::ProxySettingsOverrides flag_overrides, std::string initial_hash,
               resilience::PlacementStateRegistry* states = nullptr,
               std::chrono::nanoseconds settle = std::chrono::seconds(1));
    ~FilePoller();
    FilePoller(const FilePoller&) = delete;
    FilePoller& operator=(const FilePoller&) = delete;

    // Starts the inotify watch (when available) without checking anything yet: a save from now
    // on is seen once start() runs the poller thread. The router watches before its listeners
    // open, so no save after it says "listening" waits for the interval.
    void start_watching();
    // Starts the watch, unless start_watching() did, and the poller thread.
    void start();
    void stop();
    void trigger();

    // How long a burst of file events is gathered into one check: one save is several events
    // (close, attrib, rename) within a millisecond or two.
    static constexpr std::chrono::milliseconds watch_debounce{10};

    std::shared_ptr<const ReloadStatus> status() const { return status_.load(std::memory_order_acquire); }

    // One check, on the caller's thread (the poller thread uses it; tests may too). Unless
    // `force` (SIGHUP), a file whose identity and timestamps show it untouched since the last
    // read is not read again.
    void check_now(bool force = false);

    // What stat() says about the file: a write changes the change time (which no tool can set
    // back), a rename into place changes the inode.
    struct FileIdentity {
        std::uint64_t device = 0;
        std::uint64_t inode = 0;
        std::int64_t size = 0;
        std::int64_t modified_ns = 0;
        std::int64_t changed_ns = 0;
        bool operator==(const FileIdentity&) const = default;
    };

private:
    void run();
    void file_changed();
    std::string watch_mode() const;
    void reject(ReloadStatus& next, std::string reason, std::string hash);

    const std::string path_;
    const std::chrono::milliseconds interval_;
    ConfigSink& sink_;
    const config::ProxySettingsOverrides flag_overrides_;
    resilience::PlacementStateRegistry* const states_;
    const std::chrono::nanoseconds settle_;

    util::AtomicSharedPtr<const ReloadStatus> status_;
    std::mutex mutex_;  // guards stopping_, triggered_, file_changed_
    std::condition_variable wake_;
    bool stopping_ = false;
    bool triggered_ = false;
    bool file_changed_ = false;
    std::mutex check_mutex_;
    std::optional<FileIdentity> last_read_;  // guarded by check_mutex_
    std::unique_ptr<FileWatch> watch_;  // set by start_watching(), before the threads that read it
    std::thread thread_;
};

}  // namespace cell::reload
