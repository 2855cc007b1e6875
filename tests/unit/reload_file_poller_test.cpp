// Hot reload decisions of the file poller, driven by check_now() (no threads, no sleeps).

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "cell/admin/debug_endpoints.hpp"
#include "cell/reload/file_poller.hpp"
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
