// Router side of the control-plane protocol, without a network: applying snapshots, the
// replies, the cache, and the startup choice between bootstrap file and cache.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "cell/controlplane/config_cache.hpp"
#include "cell/controlplane/config_delta.hpp"
#include "cell/controlplane/snapshot_applier.hpp"
#include "cell/reload/table_loader.hpp"
#include "cell/util/sha256.hpp"

namespace cell::controlplane {
namespace {

using nlohmann::json;

std::string config_json(const std::string& version, const std::string& acme = "tier1") {
    return json{{"version", version},
                {"routingTable", {{"acme", acme}}},
                {"cellEndpoints", {{"tier1", "http://127.0.0.1:9001"}, {"tier3", "http://127.0.0.1:9003"}}},
                {"defaultPlacement", "tier3"}}
        .dump();
}

std::string snapshot_text(const std::string& version, const std::string& acme = "tier1") {
    return encode_snapshot(config_json(version, acme));
}

class ApplierTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("applier-test-" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(dir_);
        cache_ = (dir_ / "cache.json").string();
        auto built = reload::build_table(config_json("0.0.1"), "bootstrap-hash", "boot.json", {});
        publisher_ = std::make_unique<routing::TablePublisher>(std::get<reload::LoadedTable>(built).table);
        applier_ = std::make_unique<SnapshotApplier>(*publisher_, config::ProxySettingsOverrides{}, cache_, "node-a");
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    json apply(const std::string& text, const std::string& version) {
        return json::parse(applier_->apply(ConfigSnapshot{version, text}));
    }

    std::filesystem::path dir_;
    std::string cache_;
    std::unique_ptr<routing::TablePublisher> publisher_;
    std::unique_ptr<SnapshotApplier> applier_;
};

// A valid snapshot is published, persisted and acked with its version, hash and node id.
TEST_F(ApplierTest, ValidSnapshotIsAppliedCachedAndAcked) {
    const auto text = snapshot_text("1.0.0", "tier3");
    const auto reply = apply(text, "1.0.0");
    EXPECT_EQ(reply["type"], "ack");
    EXPECT_EQ(reply["version"], "1.0.0");
    EXPECT_EQ(reply["node_id"], "node-a");
    EXPECT_EQ(reply["content_hash"].get<std::string>().size(), 64u);
    EXPECT_EQ(publisher_->current()->version(), "1.0.0");
    EXPECT_EQ(publisher_->current()->origin().source, "control_plane");
    EXPECT_EQ(publisher_->current()->route("acme").placement->name, "tier3");
    std::ifstream cached(cache_);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(cached), {}), text);
    EXPECT_EQ(applier_->status()->applied, 1u);
}

// An invalid snapshot is nacked with the error and the version still served; nothing changes.
TEST_F(ApplierTest, InvalidSnapshotIsNacked) {
    const auto reply = apply(snapshot_text("2.0.0", "tier9"), "2.0.0");
    EXPECT_EQ(reply["type"], "nack");
    EXPECT_EQ(reply["version"], "2.0.0");
    EXPECT_NE(reply["error"].get<std::string>().find("/routingTable/acme: unknown placement \"tier9\""),
              std::string::npos);
    EXPECT_EQ(reply["serving_version"], "0.0.1");
    EXPECT_EQ(publisher_->current()->version(), "0.0.1");
    EXPECT_EQ(publisher_->generation(), 1u);
    EXPECT_FALSE(std::filesystem::exists(cache_));
    EXPECT_EQ(applier_->status()->rejected, 1u);
}

// A snapshot that is not even JSON is nacked with an empty version (there is none to answer).
TEST_F(ApplierTest, GarbledSnapshotIsNacked) {
    const auto reply = apply(R"({"type":"config_snapshot","version":"3", "routingTable": )", "3");
    EXPECT_EQ(reply["type"], "nack");
    EXPECT_EQ(reply["version"], "3");
    EXPECT_NE(reply["error"].get<std::string>().find("syntax error"), std::string::npos);
}

// The periodic re-send of the same content is acked without a swap.
TEST_F(ApplierTest, SameContentIsAckedWithoutSwap) {
    const auto text = snapshot_text("1.0.0");
    apply(text, "1.0.0");
    const auto generation = publisher_->generation();
    const auto reply = apply(text, "1.0.0");
    EXPECT_EQ(reply["type"], "ack");
    EXPECT_EQ(publisher_->generation(), generation);
    EXPECT_EQ(applier_->status()->unchanged, 1u);
}

// Snapshots are ordered by store revision: an older one is nacked and changes nothing, a newer
// one applies, and one without a revision (a file-mode control plane) is not ordered.
TEST_F(ApplierTest, OlderRevisionIsNacked) {
    auto revised = [](const std::string& version, const std::string& acme, std::uint64_t revision) {
        return ConfigSnapshot{version, encode_snapshot(config_json(version, acme), revision), revision};
    };
    EXPECT_EQ(json::parse(applier_->apply(revised("2.0.0", "tier3", 20)))["type"], "ack");
    EXPECT_EQ(applier_->applied_revision(), 20u);

    const auto stale = json::parse(applier_->apply(revised("1.0.0", "tier1", 10)));
    EXPECT_EQ(stale["type"], "nack");
    EXPECT_EQ(stale["revision"], 10);
    EXPECT_EQ(stale["serving_version"], "2.0.0");
    EXPECT_NE(stale["error"].get<std::string>().find("older than the applied revision 20"), std::string::npos);
    EXPECT_EQ(publisher_->current()->version(), "2.0.0");
    EXPECT_EQ(applier_->status()->stale, 1u);
    EXPECT_EQ(applier_->status()->rejected, 1u);

    const auto ack = json::parse(applier_->apply(revised("3.0.0", "tier1", 30)));
    EXPECT_EQ(ack["type"], "ack");
    EXPECT_EQ(ack["revision"], 30);
    EXPECT_EQ(publisher_->current()->version(), "3.0.0");

    // A rollback is a new revision, so it applies even though its content is older.
    EXPECT_EQ(json::parse(applier_->apply(revised("2.0.0", "tier3", 31)))["type"], "ack");
    EXPECT_EQ(publisher_->current()->version(), "2.0.0");

    EXPECT_EQ(json::parse(applier_->apply(ConfigSnapshot{"4.0.0", snapshot_text("4.0.0")}))["type"], "ack");
    EXPECT_EQ(applier_->applied_revision(), 0u);
}

// A router that starts from its cache starts from the cached revision.
// A config of `keys` routing keys (acme among them), big enough for a delta to pay.
std::string large_config(const std::string& version, const std::string& acme, std::size_t keys = 1000) {
    json document = json::parse(config_json(version, acme));
    for (std::size_t i = 0; i < keys; ++i) {
        document["routingTable"]["tenant-" + std::to_string(i)] = "tier1";
    }
    return document.dump();
}

routing::TableConstPtr built_table(const std::string& text) {
    auto built = reload::build_table(text, "", "", {});
    return std::get<reload::LoadedTable>(built).table;
}

// The delta frame from `before` to `after`, as the control plane encodes it for a router that
// serves the snapshot whose content hash is `base_hash`.
std::string delta_frame(const std::string& before, const std::string& after, const std::string& base_hash,
                        const std::string& version, std::uint64_t revision) {
    const auto base = built_table(before);
    const auto next = built_table(after);
    const std::string full = encode_snapshot(after, revision);
    DeltaSource source{base.get(), base_hash, next.get(), after, util::sha256_hex(full), version, revision};
    return encode_delta(source, full.size()).value();
}

ConfigDelta decoded_delta(const std::string& frame) {
    auto decoded = decode_message(frame);
    return std::get<ConfigDelta>(std::get<Message>(decoded));
}

// A delta on the table served gives the table the full snapshot would, acked with the full
// snapshot's content hash, and the cache holds the whole new config with its revision.
TEST_F(ApplierTest, DeltaOnItsBaseIsAppliedAsTheFullSnapshotWouldBe) {
    const std::string first = large_config("1.0.0", "tier1");
    const std::string first_frame = encode_snapshot(first, 10);
    ASSERT_EQ(json::parse(applier_->apply(ConfigSnapshot{"1.0.0", first_frame, 10}))["type"], "ack");
    const std::string second = large_config("2.0.0", "tier3");
    const ConfigDelta delta = decoded_delta(delta_frame(first, second, util::sha256_hex(first_frame), "2.0.0", 11));

    const json reply = json::parse(applier_->apply(delta));
    EXPECT_EQ(reply["type"], "ack");
    EXPECT_EQ(reply["version"], "2.0.0");
    EXPECT_EQ(reply["revision"], 11);
    EXPECT_EQ(reply["content_hash"], util::sha256_hex(encode_snapshot(second, 11)));
    const auto served = publisher_->current();
    EXPECT_EQ(served->version(), "2.0.0");
    EXPECT_EQ(served->origin().content_hash, delta.content_hash);
    EXPECT_EQ(served->route("acme").placement->name, "tier3");
    EXPECT_EQ(served->routing_key_count(), 1001u);
    EXPECT_EQ(applier_->status()->deltas_applied, 1u);
    EXPECT_EQ(applier_->applied_revision(), 11u);

    std::ifstream cached(cache_);
    const std::string cache_text(std::istreambuf_iterator<char>(cached), {});
    EXPECT_EQ(revision_of(cache_text), 11u);
    const auto reloaded = built_table(cache_text);
    EXPECT_EQ(reloaded->version(), "2.0.0");
    EXPECT_EQ(reloaded->route("acme").placement->name, "tier3");
    EXPECT_EQ(table_digest(*reloaded), table_digest(*served));

    // The full snapshot of the same version, sent again later, changes nothing.
    const json again = json::parse(applier_->apply(ConfigSnapshot{"2.0.0", encode_snapshot(second, 11), 11}));
    EXPECT_EQ(again["type"], "ack");
    EXPECT_EQ(applier_->status()->unchanged, 1u);
}

// A delta for another base is answered with a nack asking for the full snapshot; nothing
// changes and it is not counted as a rejected config.
TEST_F(ApplierTest, DeltaForAnotherBaseAsksForTheFullSnapshot) {
    const std::string first = large_config("1.0.0", "tier1");
    ASSERT_EQ(json::parse(applier_->apply(ConfigSnapshot{"1.0.0", encode_snapshot(first, 10), 10}))["type"], "ack");
    const ConfigDelta delta =
        decoded_delta(delta_frame(first, large_config("2.0.0", "tier3"), std::string(64, 'f'), "2.0.0", 11));
    const json reply = json::parse(applier_->apply(delta));
    EXPECT_EQ(reply["type"], "nack");
    EXPECT_EQ(reply["need_full"], true);
    EXPECT_EQ(reply["serving_version"], "1.0.0");
    EXPECT_EQ(publisher_->current()->version(), "1.0.0");
    EXPECT_EQ(applier_->status()->deltas_refused, 1u);
    EXPECT_EQ(applier_->status()->rejected, 0u);
}

// An older delta is stale like an older snapshot; a delta whose result fails validation is
// nacked like an invalid snapshot (the full one would fail too, so it does not ask for it).
TEST_F(ApplierTest, StaleAndInvalidDeltasAreNacked) {
    const std::string first = large_config("1.0.0", "tier1");
    const std::string first_frame = encode_snapshot(first, 10);
    ASSERT_EQ(json::parse(applier_->apply(ConfigSnapshot{"1.0.0", first_frame, 10}))["type"], "ack");
    const std::string base_hash = util::sha256_hex(first_frame);

    const json stale =
        json::parse(applier_->apply(decoded_delta(delta_frame(first, large_config("0.9.0", "tier3"), base_hash, "0.9.0", 9))));
    EXPECT_EQ(stale["type"], "nack");
    EXPECT_FALSE(stale.contains("need_full"));
    EXPECT_EQ(applier_->status()->stale, 1u);

    // The control plane never sends this: a config whose keys name a placement it dropped.
    json frame = json::parse(delta_frame(first, large_config("2.0.0", "tier3"), base_hash, "2.0.0", 11));
    frame["config"]["cellEndpoints"].erase("tier1");
    const json invalid = json::parse(applier_->apply(decoded_delta(frame.dump())));
    EXPECT_EQ(invalid["type"], "nack");
    EXPECT_FALSE(invalid.contains("need_full"));
    EXPECT_NE(invalid["error"].get<std::string>().find("unknown placement \"tier1\""), std::string::npos)
        << invalid["error"];
    EXPECT_EQ(publisher_->current()->version(), "1.0.0");
}

TEST_F(ApplierTest, CachedRevisionIsRead) {
    EXPECT_EQ(cached_snapshot_revision(cache_), 0u);  // no cache yet
    ASSERT_EQ(write_cache_atomically(cache_, encode_snapshot(config_json("1.0.0"), 77)), "");
    EXPECT_EQ(cached_snapshot_revision(cache_), 77u);
    SnapshotApplier restarted(*publisher_, {}, cache_, "node-a", nullptr, cached_snapshot_revision(cache_));
    const auto reply = json::parse(restarted.apply(
        ConfigSnapshot{"0.9.0", encode_snapshot(config_json("0.9.0", "tier3"), 76), 76}));
    EXPECT_EQ(reply["type"], "nack");
}

// The cache is written atomically: no temporary file is left behind, and a rewrite replaces it.
TEST_F(ApplierTest, CacheWriteIsAtomic) {
    EXPECT_EQ(write_cache_atomically(cache_, "first"), "");
    EXPECT_EQ(write_cache_atomically(cache_, "second"), "");
    std::ifstream cached(cache_);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(cached), {}), "second");
    int files = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir_)) {
        ++files;
    }
    EXPECT_EQ(files, 1);
    EXPECT_NE(write_cache_atomically("/proc/no/such/dir/cache.json", "x"), "");
}

class StartupChoiceTest : public ApplierTest {
protected:
    std::string write(const std::string& name, const std::string& text) {
        const auto path = (dir_ / name).string();
        std::ofstream(path) << text;
        return path;
    }
};

// A valid cache newer than the bootstrap file wins.
TEST_F(StartupChoiceTest, NewerValidCacheWins) {
    const auto bootstrap = write("boot.json", config_json("0.0.1"));
    std::filesystem::last_write_time(bootstrap, std::filesystem::file_time_type::clock::now() - std::chrono::hours(1));
    write("cache.json", snapshot_text("5.0.0"));
    auto chosen = choose_startup_table(bootstrap, cache_, {});
    const auto& choice = std::get<StartupChoice>(chosen);
    EXPECT_EQ(choice.loaded.table->version(), "5.0.0");
    EXPECT_EQ(choice.loaded.table->origin().source, "cache");
}

// A cache older than the bootstrap file loses: the operator changed the bootstrap since.
TEST_F(StartupChoiceTest, OlderCacheLoses) {
    write("cache.json", snapshot_text("5.0.0"));
    std::filesystem::last_write_time(cache_, std::filesystem::file_time_type::clock::now() - std::chrono::hours(1));
    const auto bootstrap = write("boot.json", config_json("0.0.2"));
    auto chosen = choose_startup_table(bootstrap, cache_, {});
    EXPECT_EQ(std::get<StartupChoice>(chosen).loaded.table->version(), "0.0.2");
    EXPECT_EQ(std::get<StartupChoice>(chosen).loaded.table->origin().source, "file");
}

// A corrupt cache is ignored, with the reason, and the bootstrap file is used.
TEST_F(StartupChoiceTest, CorruptCacheIsIgnored) {
    const auto bootstrap = write("boot.json", config_json("0.0.1"));
    std::filesystem::last_write_time(bootstrap, std::filesystem::file_time_type::clock::now() - std::chrono::hours(1));
    write("cache.json", "{\"version\": \"5.0.0\", \"routingTa");
    auto chosen = choose_startup_table(bootstrap, cache_, {});
    const auto& choice = std::get<StartupChoice>(chosen);
    EXPECT_EQ(choice.loaded.table->version(), "0.0.1");
    EXPECT_NE(choice.notice.find("ignoring corrupt cache"), std::string::npos);
}

// With the bootstrap file missing, a valid cache still starts the router; with neither, fail.
TEST_F(StartupChoiceTest, CacheWithoutBootstrapAndNeither) {
    write("cache.json", snapshot_text("5.0.0"));
    auto chosen = choose_startup_table((dir_ / "missing.json").string(), cache_, {});
    EXPECT_EQ(std::get<StartupChoice>(chosen).loaded.table->version(), "5.0.0");
    std::filesystem::remove(cache_);
    auto neither = choose_startup_table((dir_ / "missing.json").string(), cache_, {});
    EXPECT_TRUE(std::holds_alternative<reload::LoadFailure>(neither));
}

}  // namespace
}  // namespace cell::controlplane
