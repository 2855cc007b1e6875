// Hot reload decisions of the file poller, driven by check_now() (no threads, no sleeps), and
// the inotify watch that wakes it: saves of every kind reach the sink long before the 60 s
// interval (bounded waits on the sink, never sleeps).

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "cell/admin/debug_endpoints.hpp"
#include "cell/reload/file_poller.hpp"
#include "cell/reload/file_watch.hpp"
#include "cell/reload/table_loader.hpp"

namespace cell::reload {
namespace {

std::string config_text(const std::string& version, const std::string& acme_placement = "tier1") {
    return R"({"version": ")" + version + R"(", "routingTable": {"acme": ")" + acme_placement +
           R"("}, "cellEndpoints": {"tier1": "http://127.0.0.1:9001", "tier3": "http://127.0.0.1:9003"},
              "defaultPlacement": "tier3", "proxy": {"request_timeout": "7s"}})";
}

class FilePollerTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("poller-test-" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(dir_);
        path_ = (dir_ / "routing.json").string();
        write(config_text("1"));
        auto loaded = load_table_file(path_, {});
        auto& table = std::get<LoadedTable>(loaded);
        publisher_ = std::make_unique<routing::TablePublisher>(table.table);
        sink_ = std::make_unique<PublishingSink>(*publisher_);
        poller_ = std::make_unique<FilePoller>(path_, std::chrono::seconds(60), *sink_,
                                               config::ProxySettingsOverrides{}, table.content_hash);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    void write(const std::string& text) {
        std::ofstream out(path_, std::ios::trunc | std::ios::binary);
        out << text;
    }

    std::filesystem::path dir_;
    std::string path_;
    std::unique_ptr<routing::TablePublisher> publisher_;
    std::unique_ptr<PublishingSink> sink_;
    std::unique_ptr<FilePoller> poller_;
};

// Unchanged content is skipped by hash: no new table.
TEST_F(FilePollerTest, UnchangedContentIsSkipped) {
    poller_->check_now();
    EXPECT_EQ(publisher_->generation(), 1u);
    EXPECT_EQ(poller_->status()->unchanged, 1u);
    EXPECT_EQ(poller_->status()->checks, 1u);
}

// A file that stat() shows untouched since it was read is not read again; SIGHUP reads it anyway,
// and any write is noticed.
TEST_F(FilePollerTest, UntouchedFileIsNotReadAgain) {
    FilePoller poller(path_, std::chrono::seconds(60), *sink_, config::ProxySettingsOverrides{},
                      poller_->status()->current_hash, nullptr, std::chrono::nanoseconds(0));
    poller.check_now();  // reads: same content as served
    EXPECT_EQ(poller.status()->unchanged, 1u);
    EXPECT_EQ(poller.status()->not_read, 0u);
    poller.check_now();
    EXPECT_EQ(poller.status()->unchanged, 2u);
    EXPECT_EQ(poller.status()->not_read, 1u);
    poller.check_now(/*force=*/true);
    EXPECT_EQ(poller.status()->not_read, 1u);
    EXPECT_EQ(poller.status()->unchanged, 3u);

    write(config_text("22", "tier3"));  // another size: a different identity even within one clock tick
    poller.check_now();
    EXPECT_EQ(publisher_->current()->version(), "22");
    EXPECT_EQ(poller.status()->not_read, 1u);
}

// Timestamps advance in ticks: a same-size rewrite right after a read must not be taken for the
// file that was read. With the default settle time a file changed within the last second is
// always read.
TEST_F(FilePollerTest, SameSizeRewriteRightAfterAReadIsNoticed) {
    write(config_text("5", "tier1"));
    poller_->check_now();
    EXPECT_EQ(publisher_->current()->version(), "5");
    write(config_text("6", "tier1"));  // same length, likely the same timestamp tick
    poller_->check_now();
    EXPECT_EQ(publisher_->current()->version(), "6");
    EXPECT_EQ(poller_->status()->not_read, 0u);
}

// A valid change is published as a new generation with the new routes.
TEST_F(FilePollerTest, ValidChangeIsPublished) {
    write(config_text("2", "tier3"));
    poller_->check_now();
    EXPECT_EQ(publisher_->generation(), 2u);
    EXPECT_EQ(publisher_->current()->version(), "2");
    EXPECT_EQ(publisher_->current()->route("acme").placement->name, "tier3");
    EXPECT_EQ(poller_->status()->applied, 1u);
    EXPECT_EQ(publisher_->current()->settings().request_timeout, std::chrono::seconds(7));
}

// Invalid content of each kind is rejected with a reason; the last good table keeps serving.
TEST_F(FilePollerTest, InvalidContentKeepsLastGoodTable) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"{not json", "syntax error"},
        {config_text("3", "tier9"), "/routingTable/acme: unknown placement \"tier9\""},
        {config_text("3").substr(0, 60), "syntax error"},  // half-written
        {"", "document is empty"},
    };
    std::uint64_t rejected = 0;
    for (const auto& [text, reason] : cases) {
        write(text);
        poller_->check_now();
        ++rejected;
        const auto status = poller_->status();
        EXPECT_EQ(status->rejected, rejected) << text;
        EXPECT_NE(status->last_rejected_reason.find(reason), std::string::npos) << status->last_rejected_reason;
        EXPECT_TRUE(status->last_rejected_at.has_value());
        EXPECT_EQ(publisher_->current()->version(), "1");
        EXPECT_EQ(publisher_->generation(), 1u);
    }
}

// The same invalid bytes are not re-reported every interval.
TEST_F(FilePollerTest, RepeatedInvalidContentIsNotReRejected) {
    write("{broken");
    poller_->check_now();
    poller_->check_now();
    EXPECT_EQ(poller_->status()->rejected, 1u);
    EXPECT_EQ(poller_->status()->unchanged, 1u);
}

// An unreadable (missing) file is rejected, and a later valid file is picked up.
TEST_F(FilePollerTest, MissingFileThenRecovery) {
    std::filesystem::remove(path_);
    poller_->check_now();
    EXPECT_EQ(poller_->status()->rejected, 1u);
    EXPECT_NE(poller_->status()->last_rejected_reason.find("cannot open"), std::string::npos);
    write(config_text("4"));
    poller_->check_now();
    EXPECT_EQ(publisher_->current()->version(), "4");
}

// A file that stays missing is one rejection (and one log line), not one per check.
TEST_F(FilePollerTest, StillMissingFileIsNotReRejected) {
    std::filesystem::remove(path_);
    poller_->check_now();
    poller_->check_now();
    poller_->check_now();
    EXPECT_EQ(poller_->status()->rejected, 1u);
    EXPECT_EQ(poller_->status()->unchanged, 2u);
    EXPECT_EQ(publisher_->current()->version(), "1");
}

// Something other than a regular file in the config file's place is refused without reading:
// a FIFO would block the reader, a device might never end.
TEST_F(FilePollerTest, NonRegularFilesAreRefused) {
    std::filesystem::remove(path_);
    ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
    poller_->check_now();  // returns at once: the FIFO has no writer
    EXPECT_EQ(poller_->status()->rejected, 1u);
    EXPECT_NE(poller_->status()->last_rejected_reason.find("not a regular file"), std::string::npos)
        << poller_->status()->last_rejected_reason;
    std::filesystem::remove(path_);
    std::filesystem::create_directory(path_);
    const auto from_directory = read_file(path_);
    ASSERT_TRUE(std::holds_alternative<LoadFailure>(from_directory));
    EXPECT_NE(std::get<LoadFailure>(from_directory).reason.find("not a regular file"), std::string::npos);
    const auto from_device = read_file("/dev/zero");
    ASSERT_TRUE(std::holds_alternative<LoadFailure>(from_device));
    EXPECT_EQ(publisher_->current()->version(), "1");
}

// A file over max_config_file_bytes is refused by its size, before it is read.
TEST_F(FilePollerTest, OversizedFileIsRefused) {
    std::filesystem::resize_file(path_, max_config_file_bytes + 1);  // sparse: no disk space used
    poller_->check_now();
    EXPECT_EQ(poller_->status()->rejected, 1u);
    EXPECT_EQ(poller_->status()->last_rejected_reason,
              path_ + " is 67108865 bytes, larger than the 64 MiB a config file may be; not read");
    EXPECT_EQ(publisher_->current()->version(), "1");
    std::filesystem::resize_file(path_, max_config_file_bytes);  // the bound itself is read
    const auto at_bound = read_file(path_);
    ASSERT_TRUE(std::holds_alternative<std::string>(at_bound));
    EXPECT_EQ(std::get<std::string>(at_bound).size(), max_config_file_bytes);
}

// Garbage makes a syntax error that quotes bytes which are not UTF-8: /debug/config still
// renders, with the rejection's reason in it.
TEST_F(FilePollerTest, GarbageRejectionStillRendersInDebugConfig) {
    write(std::string("f\xb3\x01\xfe garbage"));
    poller_->check_now();
    ASSERT_EQ(poller_->status()->rejected, 1u);
    admin::DebugSources sources;
    sources.publisher = publisher_.get();
    sources.poller = poller_.get();
    const auto document = nlohmann::json::parse(admin::render_debug_config(*publisher_->current(), sources));
    EXPECT_EQ(document["reloads"]["rejected"], 1);
    EXPECT_NE(document["last_rejected"]["reason"].get<std::string>().find("syntax error"), std::string::npos);
}

// Records what reaches it, so a test can wait for a version without sleeping.
class RecordingSink final : public ConfigSink {
public:
    explicit RecordingSink(std::string version) : version_(std::move(version)) {}
    std::string serving_version() const override {
        std::lock_guard lock(mutex_);
        return version_;
    }
    std::uint64_t apply(const LoadedTable& loaded, const std::string&) override {
        {
            std::lock_guard lock(mutex_);
            version_ = loaded.table->version();
            ++applied_;
            applied_at_ = std::chrono::steady_clock::now();
        }
        changed_.notify_all();
        return applied_;
    }
    std::uint64_t applied() const {
        std::lock_guard lock(mutex_);
        return applied_;
    }
    // When `version` is served, within `timeout`; nullopt otherwise.
    std::optional<std::chrono::steady_clock::time_point> wait_for(const std::string& version,
                                                                  std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        if (!changed_.wait_for(lock, timeout, [&] { return version_ == version; })) {
            return std::nullopt;
        }
        return applied_at_;
    }

private:
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::string version_;
    std::uint64_t applied_ = 0;
    std::chrono::steady_clock::time_point applied_at_;
};

// A started poller with a 60 s interval: anything that arrives within seconds came from inotify.
class WatchedFileTest : public ::testing::Test {
protected:
    static constexpr auto generous = std::chrono::seconds(5);

    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("watch-test-" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(dir_);
        path_ = (dir_ / "routing.json").string();
        write_to(path_, config_text("1"));
    }
    void TearDown() override {
        poller_.reset();
        std::filesystem::remove_all(dir_);
    }

    void start(const std::string& path, std::chrono::milliseconds interval = std::chrono::seconds(60)) {
        sink_ = std::make_unique<RecordingSink>("1");
        auto loaded = load_table_file(path, {});
        poller_ = std::make_unique<FilePoller>(path, interval, *sink_, config::ProxySettingsOverrides{},
                                               std::get<LoadedTable>(loaded).content_hash);
        poller_->start();
    }

    static void write_to(const std::filesystem::path& path, const std::string& text) {
        std::ofstream out(path, std::ios::trunc | std::ios::binary);
        out << text;
    }

    // Runs `save`, waits for `version` at the sink and prints how long it took.
    void expect_delivered(const std::string& what, const std::string& version, const std::function<void()>& save) {
        const auto saved_at = std::chrono::steady_clock::now();
        save();
        const auto applied_at = sink_->wait_for(version, generous);
        ASSERT_TRUE(applied_at.has_value()) << what << ": version " << version << " did not reach the sink in 5 s";
        std::printf("[ measure  ] %s -> applied: %.1f ms\n", what.c_str(),
                    std::chrono::duration<double, std::milli>(*applied_at - saved_at).count());
    }

    std::filesystem::path dir_;
    std::string path_;
    std::unique_ptr<RecordingSink> sink_;
    std::unique_ptr<FilePoller> poller_;
};

// A plain write in place, a rename into place and a delete + recreate each reach the sink at once.
TEST_F(WatchedFileTest, EverySaveStyleReachesTheSinkAtOnce) {
    start(path_);
    ASSERT_EQ(poller_->status()->watch_mode, "inotify");
    expect_delivered("write in place", "2", [&] { write_to(path_, config_text("2", "tier3")); });
    expect_delivered("rename into place", "3", [&] {
        write_to(dir_ / ".routing.json.tmp", config_text("3"));
        std::filesystem::rename(dir_ / ".routing.json.tmp", path_);
    });
    expect_delivered("delete and recreate", "4", [&] {
        std::filesystem::remove(path_);
        write_to(path_, config_text("4", "tier3"));
    });
    EXPECT_EQ(sink_->applied(), 3u);
    // No half-written or missing file was read on the way (a rejection is published before the
    // check that follows it starts, so it would show by now).
    const auto status = poller_->status();
    EXPECT_EQ(status->rejected, 0u) << status->last_rejected_reason;
    EXPECT_EQ(status->watch_mode, "inotify");
}

// A Kubernetes ConfigMap volume: routing.json -> ..data/routing.json, ..data -> a timestamped
// directory, updated by renaming a new ..data link over the old one.
TEST_F(WatchedFileTest, ConfigMapStyleSymlinkSwapReachesTheSink) {
    const auto volume = dir_ / "volume";
    std::filesystem::create_directories(volume / "..v1");
    write_to(volume / "..v1" / "routing.json", config_text("1"));
    std::filesystem::create_directory_symlink("..v1", volume / "..data");
    std::filesystem::create_symlink("..data/routing.json", volume / "routing.json");
    start((volume / "routing.json").string());
    ASSERT_EQ(poller_->status()->watch_mode, "inotify");

    auto swap_to = [&](const std::string& name, const std::string& version) {
        std::filesystem::create_directories(volume / name);
        write_to(volume / name / "routing.json", config_text(version, "tier3"));
        std::filesystem::create_directory_symlink(name, volume / "..data_tmp");
        std::filesystem::rename(volume / "..data_tmp", volume / "..data");
    };
    expect_delivered("ConfigMap ..data swap", "2", [&] { swap_to("..v2", "2"); });
    std::filesystem::remove_all(volume / "..v1");
    expect_delivered("second ..data swap", "3", [&] { swap_to("..v3", "3"); });
    // An edit in place of the current target (not how kubelet works, but how a person might).
    expect_delivered("edit of the link target", "4", [&] { write_to(volume / "..v3" / "routing.json", config_text("4")); });
}

// A config path that is a symlink to a file elsewhere: editing the target is seen.
TEST_F(WatchedFileTest, EditOfASymlinkTargetElsewhereReachesTheSink) {
    const auto elsewhere = dir_ / "elsewhere";
    std::filesystem::create_directories(elsewhere);
    write_to(elsewhere / "real.json", config_text("1"));
    const auto link = dir_ / "link.json";
    std::filesystem::create_symlink(elsewhere / "real.json", link);
    start(link.string());
    expect_delivered("edit of an absolute link's target", "2", [&] { write_to(elsewhere / "real.json", config_text("2")); });
    // Re-pointing the link (ln -sfn: a new link renamed over the old one).
    write_to(elsewhere / "other.json", config_text("3"));
    expect_delivered("link re-pointed", "3", [&] {
        std::filesystem::create_symlink(elsewhere / "other.json", dir_ / "link.json.tmp");
        std::filesystem::rename(dir_ / "link.json.tmp", link);
    });
    expect_delivered("edit of the new target", "4", [&] { write_to(elsewhere / "other.json", config_text("4")); });
}

// A directory that cannot be watched (here: not there yet) means polling; once it exists, the
// watch is set up again and reported.
TEST_F(WatchedFileTest, UnwatchableDirectoryFallsBackToPolling) {
    const auto later = dir_ / "later";
    const auto path = later / "routing.json";
    sink_ = std::make_unique<RecordingSink>("1");
    poller_ = std::make_unique<FilePoller>(path.string(), std::chrono::milliseconds(50), *sink_,
                                           config::ProxySettingsOverrides{}, "no hash yet");
    poller_->start();
    EXPECT_EQ(poller_->status()->watch_mode, "poll");
    std::filesystem::create_directories(later);
    write_to(path, config_text("2"));
    ASSERT_TRUE(sink_->wait_for("2", generous).has_value());
    // The watch looks for the directory again every interval and then wakes a check that
    // publishes the new mode: wait for that, bounded.
    const auto deadline = std::chrono::steady_clock::now() + generous;
    while (poller_->status()->watch_mode != "inotify" && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(poller_->status()->watch_mode, "inotify");
}

// Without start() nothing watches the file.
TEST_F(FilePollerTest, UnstartedPollerReportsPolling) {
    poller_->check_now();
    EXPECT_EQ(poller_->status()->watch_mode, "poll");
}

// The watch points of a plain path, a relative symlink chain and an absolute link.
TEST(WatchPoints, FollowTheSymlinkChain) {
    const auto dir = std::filesystem::temp_directory_path() / ("points-test-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir / "..v1");
    std::ofstream(dir / "..v1" / "routing.json") << "{}";
    std::filesystem::create_directory_symlink("..v1", dir / "..data");
    std::filesystem::create_symlink("..data/routing.json", dir / "routing.json");

    const auto plain = watch_points((dir / "..v1" / "routing.json").string());
    ASSERT_EQ(plain.size(), 1u);
    EXPECT_EQ(plain[0].directory, (dir / "..v1").string());
    EXPECT_EQ(plain[0].names, (std::set<std::string>{"routing.json"}));

    const auto chain = watch_points((dir / "routing.json").string());
    ASSERT_EQ(chain.size(), 3u);
    EXPECT_EQ(chain[0].directory, dir.string());
    EXPECT_EQ(chain[0].names, (std::set<std::string>{"routing.json", "..data"}));
    EXPECT_EQ(chain[1].directory, (dir / "..data").string());
    EXPECT_EQ(chain[2].directory, (dir / "..v1").string());

    const auto missing = watch_points((dir / "nothing" / "here.json").string());
    ASSERT_EQ(missing.size(), 1u);
    EXPECT_EQ(missing[0].directory, (dir / "nothing").string());
    std::filesystem::remove_all(dir);
}

// Flags layered over the file win over the file's proxy settings on every reload.
TEST(TableLoader, FlagsWinOverFile) {
    config::ProxySettingsOverrides flags;
    flags.request_timeout = std::chrono::seconds(3);
    auto built = build_table(config_text("1"), "hash", "/x.json", flags);
    const auto& table = std::get<LoadedTable>(built).table;
    EXPECT_EQ(table->settings().request_timeout, std::chrono::seconds(3));
    EXPECT_EQ(table->origin().source, "file");
    EXPECT_EQ(table->origin().path, "/x.json");
}

}  // namespace
}  // namespace cell::reload
