#pragma once
// Change notifications for the config file (Linux inotify), so that a save reaches the file
// poller within milliseconds instead of at its next interval. The poll interval stays the
// safety net: for writers that keep the file open, for file systems that send no events (NFS,
// many FUSE mounts), for a full event queue and for a directory that cannot be watched.
//
// It watches DIRECTORIES, never the file: a watch on the file's inode is lost when an editor
// saves by rename or the file is deleted and recreated, while its directory sees every way a new
// file can land under the name. Events are filtered by entry name.
//
// Symlinks: for a path that is a symlink, every hop is followed (at most 8). For each link the
// watch covers the link's own name in its directory, and, for a relative target, the target's
// first component there. That is how a Kubernetes ConfigMap volume updates:
// `routing.json -> ..data/routing.json`, and `..data -> ..2026_12_03_...` is swapped by renaming a
// new `..data` link over the old one, which shows up as IN_MOVED_TO "..data" in the volume's
// directory. The directory the chain ends in is watched too, for edits in place of the target.
// After every burst of events the watched set is computed again, so a swapped link moves the
// watch to the new target directory.
//
// Which events count as a change: IN_CLOSE_WRITE (a writer finished), IN_MOVED_TO (renamed into
// place, `mv`, editors' save by rename, link swaps), IN_ATTRIB (permissions fixed, `touch`) and
// IN_CREATE of anything but a regular file (a new symlink). Ignored on
// purpose: IN_CREATE of a regular file (its writer has not written yet; its IN_CLOSE_WRITE
// follows), IN_MODIFY (fires in the middle of a write and would read half a file), IN_DELETE and
// IN_MOVED_FROM (a vanished file brings nothing new to serve; the next poll reports it as it
// always did, and a delete-then-recreate is announced by the recreation). A hard link made onto
// the name looks like a new regular file and is left to the poll.
//
// A burst of events from one save (close, attrib, rename...) is gathered for `debounce` and
// reported once.
//
// Thread safety: start() and stop() from the owner; active() from any thread. `changed` runs on
// the watch's own thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace cell::reload {

// A directory to watch and the names of its entries that decide what the config path reads.
struct WatchPoint {
    std::string directory;
    std::set<std::string> names;
};

// The watch points of `path` (made absolute): its own directory first, then one per symlink hop
// and the directory of the file the chain ends at. Nothing here needs the file to exist.
std::vector<WatchPoint> watch_points(const std::string& path);

class FileWatch {
public:
    FileWatch(std::string path, std::chrono::milliseconds debounce, std::chrono::milliseconds retry,
              std::function<void()> changed);
    ~FileWatch();
    FileWatch(const FileWatch&) = delete;
    FileWatch& operator=(const FileWatch&) = delete;

    // Starts the watch thread. False, with the reason logged once, when inotify is unavailable.
    // When the file's directory cannot be watched yet (missing, no permission) the thread still
    // runs and tries again every `retry`; each change of state is logged and reported through
    // `changed`.
    bool start();
    void stop();

    // True while the config file's own directory is watched: a save is seen at once.
    bool active() const { return active_.load(std::memory_order_acquire); }

private:
    struct WatchedDirectory {
        std::string directory;
        std::set<std::string> names;
    };

    void run();
    void wait_out_burst();  // gathers the rest of a burst of events, for at most debounce_
    bool drain();           // reads the queued events; true when one may have changed the file
    bool counts_as_change(int descriptor, std::uint32_t mask, const std::string& name) const;
    void refresh();         // (re)computes the watch points and adds or removes watches

    const std::string path_;
    const std::chrono::milliseconds debounce_;
    const std::chrono::milliseconds retry_;
    const std::function<void()> changed_;

    int inotify_fd_ = -1;
    int stop_fd_ = -1;  // an eventfd; stop() writes it to end the thread's poll()
    bool stopping_ = false;      // set by the watch thread when it saw stop_fd_
    bool state_logged_ = false;  // the watch thread's after start()
    std::map<int, WatchedDirectory> watches_;  // by watch descriptor; the watch thread's after start()
    std::atomic<bool> active_{false};
    std::thread thread_;
};

}  // namespace cell::reload
