// M6: etcd as the control plane's store of record, against Debian's real etcd on loopback:
// seeding, guarded compare-and-swap writes, history and rollback, an etcd outage, a member of a
// three-member cluster lost, and replicas that cannot move a router back in time.

#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "cell/util/base64.hpp"
#include "cellctl_runner.hpp"
#include "etcd_cluster.hpp"
#include "harness.hpp"
#include "keep_alive_load.hpp"

namespace cell::testing {
namespace {

Json debug_config(unsigned short port) { return request(port, "GET", "/debug/config").json(); }

// A cell-control-plane reading its config from etcd.
class Replica {
public:
    Replica(const TempDir& dir, const std::string& etcd_endpoints, const std::filesystem::path& seed,
            const std::string& name, const std::vector<std::string>& extra = {}) {
        std::vector<std::string> argv{CELL_CONTROL_PLANE_BINARY, "--etcd", etcd_endpoints, "--etcd-prefix", "/test/",
                                      "--config", seed.string(), "--port", "0", "--etcd-timeout", "2s"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        process_ = std::make_unique<Process>(argv, dir.path(), name);
        port_ = control_plane_port_of(*process_);
    }

    unsigned short port() const { return port_; }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/connect"; }
    Json status() const { return request(port_, "GET", "/status").json(); }
    std::uint64_t revision() const { return status()["current_revision"].get<std::uint64_t>(); }
    Process& process() { return *process_; }

    // PUT /config with `query` after the expected revision.
    Response put(const Json& config, std::uint64_t expected_revision, const std::string& query = "") const {
        return request(port_, "PUT", "/config?expected_revision=" + std::to_string(expected_revision) + query, {},
                       config.dump());
    }

private:
    std::unique_ptr<Process> process_;
    unsigned short port_ = 0;
};

class EtcdControlPlaneTest : public ::testing::Test {
protected:
    explicit EtcdControlPlaneTest(int members = 1)
        : etcd_(members), cells_(Deployment::Options{.start_router = false}) {
        write_file(seed_path(), cells_.config("1.0.0").dump());
    }

    std::filesystem::path seed_path() const { return cells_.dir().file("seed.json"); }

    Replica& start_replica(const std::vector<std::string>& extra = {}) {
        replicas_.push_back(std::make_unique<Replica>(cells_.dir(), etcd_.endpoints(), seed_path(),
                                                      "control-plane-" + std::to_string(replicas_.size()), extra));
        return *replicas_.back();
    }

    // A router with its own bootstrap file and cache, following `urls` (comma list).
    Deployment& start_router(const std::string& urls, const std::string& node_id) {
        routers_.push_back(std::make_unique<Deployment>(Deployment::Options{.cells = {}, .start_router = false}));
        auto& router = *routers_.back();
        router.write_config(cells_.config("0.0.1"));
        router.start_router({"--control-plane", urls, "--node-id", node_id, "--config-cache",
                             router.dir().file("cache.json").string()});
        return router;
    }

    static bool serves(Deployment& router, const std::string& version, std::uint64_t revision = 0) {
        const auto status = debug_config(router.router_port());
        return status["version"] == version &&
               (revision == 0 || status["control_plane"]["applied_revision"] == revision);
    }

    // The seed's table with one key moved: 1 of 4 keys, so the guard needs max_moved_keys >= 25%.
    Json moved(const std::string& version, const std::string& key, const std::string& placement) const {
        auto config = cells_.config(version);
        config["routingTable"][key] = placement;
        return config;
    }

    EtcdCluster etcd_;
    Deployment cells_;
    std::vector<std::unique_ptr<Replica>> replicas_;
    std::vector<std::unique_ptr<Deployment>> routers_;
};

// An empty store is seeded from the file; the snapshot carries the store revision, the router
// applies it and acks it, and GET /config and GET /history describe it.
TEST_F(EtcdControlPlaneTest, SeedsEmptyStoreAndPushesRevision) {
    auto& replica = start_replica();
    const auto revision = replica.revision();
    EXPECT_GT(revision, 0u);
    auto& router = start_router(replica.url(), "router-a");
    ASSERT_TRUE(eventually([&] { return serves(router, "1.0.0", revision); })) << debug_config(router.router_port());
    ASSERT_TRUE(eventually([&] { return replica.status()["acked_current"] == 1; })) << replica.status();
    const auto status = replica.status();
    EXPECT_EQ(status["store"], "etcd");
    EXPECT_EQ(status["store_state"], "ok");
    EXPECT_EQ(status["routers"][0]["last_revision_acked"], revision);

    const auto config = request(replica.port(), "GET", "/config");
    EXPECT_EQ(config.status, 200);
    EXPECT_EQ(config.header("X-Config-Store"), "etcd");
    EXPECT_EQ(config.header("X-Config-Revision"), std::to_string(revision));
    EXPECT_EQ(config.header("X-Config-Version"), "1.0.0");
    EXPECT_EQ(Json::parse(config.body), cells_.config("1.0.0"));

    const auto history = request(replica.port(), "GET", "/history").json();
    ASSERT_EQ(history["entries"].size(), 1u);
    EXPECT_EQ(history["entries"][0]["revision"], revision);
    EXPECT_EQ(history["entries"][0]["routing_keys"], 4);
    EXPECT_NE(history["entries"][0]["reason"].get<std::string>().find("seeded from"), std::string::npos);

    // A second replica finds the store seeded and serves the same revision.
    auto& second = start_replica();
    EXPECT_EQ(second.revision(), revision);
}

// An applied change reaches the router through the watch, with who and why in the history. The
// replica that wrote it publishes it from the config it parsed for the PUT: it does not read its
// own write back from etcd when the watch reports it.
TEST_F(EtcdControlPlaneTest, ApplyReachesRoutersAndIsRecorded) {
    auto& replica = start_replica({"--log-level", "debug"});
    auto& router = start_router(replica.url(), "router-a");
    ASSERT_TRUE(eventually([&] { return serves(router, "1.0.0"); }));
    KeepAliveLoad load(router.router_port(), "globex");
    const auto response = replica.put(moved("2.0.0", "acme", "tier2"), replica.revision(),
                                      "&max_moved_keys=50%25&reason=move+acme&applied_by=alice%40ops");
    ASSERT_EQ(response.status, 200) << response.body;
    const auto applied = response.json();
    const auto revision = applied["revision"].get<std::uint64_t>();
    EXPECT_EQ(applied["diff"]["keys_moved"], 1);
    ASSERT_TRUE(eventually([&] { return serves(router, "2.0.0", revision); })) << debug_config(router.router_port());
    EXPECT_EQ(request(router.router_port(), "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To"), "tier2");
    const auto history = request(replica.port(), "GET", "/history?limit=1").json();
    ASSERT_EQ(history["entries"].size(), 1u);
    EXPECT_EQ(history["entries"][0]["revision"], revision);
    EXPECT_EQ(history["entries"][0]["applied_by"], "alice@ops");
    EXPECT_EQ(history["entries"][0]["reason"], "move acme");
    EXPECT_EQ(history["entries"][0]["forced"], false);
    const auto published = replica.process().wait_for_line([&](const Json& line) {
        return line.value("event", "") == "config_loaded" && line.value("revision", std::uint64_t{0}) == revision;
    });
    ASSERT_TRUE(published.has_value());
    EXPECT_EQ((*published)["written_here"], true) << *published;
    for (const auto& line : replica.process().json_lines()) {
        EXPECT_FALSE(line.value("event", "") == "store_version_read" && line.value("revision", std::uint64_t{0}) == revision)
            << "the replica read its own write back: " << line;
    }
    load.stop();
    EXPECT_EQ(load.failed(), 0) << load.last_failure();
    EXPECT_GT(load.ok(), 0);
}

// A diff asked to prepare its write puts the chunks into etcd while it analyses the change; the
// PUT then names the prepared content instead of sending it again. Nothing is prepared for a
// change the guard refuses, and a PUT naming content the replica does not hold is told to send it.
TEST_F(EtcdControlPlaneTest, DiffPreparesTheWriteThePutNames) {
    auto& replica = start_replica();
    const auto base = replica.revision();
    const Json candidate = moved("2.0.0", "acme", "tier2");  // 1 of 4 keys moved: 25 %

    const auto refused = request(replica.port(), "POST", "/config/diff?prepare=true", {}, candidate.dump()).json();
    EXPECT_EQ(refused["guard"]["allowed"], false) << refused;
    EXPECT_TRUE(refused["prepared"].is_null()) << refused;

    const auto diff = request(replica.port(), "POST", "/config/diff?prepare=true&max_moved_keys=50%25", {},
                              candidate.dump());
    ASSERT_EQ(diff.status, 200) << diff.body;
    const auto hash = diff.json()["prepared"];
    ASSERT_TRUE(hash.is_string()) << diff.body;

    const auto unknown = request(replica.port(), "PUT",
                                 "/config?expected_revision=" + std::to_string(base) + "&prepared=0123&max_moved_keys=50%25");
    EXPECT_EQ(unknown.status, 412) << unknown.body;
    EXPECT_EQ(unknown.json()["error"], "not_prepared");

    const auto applied = request(replica.port(), "PUT",
                                 "/config?expected_revision=" + std::to_string(base) + "&prepared=" +
                                     hash.get<std::string>() + "&max_moved_keys=50%25&reason=prepared");
    ASSERT_EQ(applied.status, 200) << applied.body;
    const auto revision = applied.json()["revision"].get<std::uint64_t>();
    EXPECT_GT(revision, base);
    EXPECT_EQ(applied.json()["diff"]["keys_moved"], 1);
    // What etcd holds is the candidate: a second replica reads it from the store.
    auto& second = start_replica();
    EXPECT_EQ(second.revision(), revision);
    EXPECT_EQ(Json::parse(request(second.port(), "GET", "/config").body), candidate);
    const auto history = request(replica.port(), "GET", "/history?limit=1").json();
    EXPECT_EQ(history["entries"][0]["content_hash"], hash);
}

// The chunks a diff put while it analysed an invalid file are removed at once: no version can
// name them. A valid but refused file's chunks stay for the next write's prune (a forced apply
// of the same file may still use them).
TEST_F(EtcdControlPlaneTest, InvalidFilesChunksDoNotStay) {
    auto& replica = start_replica({"--log-level", "debug"});
    Json invalid = moved("2.0.0", "acme", "nowhere");  // a placement without an endpoint
    const std::string text = invalid.dump();
    const auto diff = request(replica.port(), "POST", "/config/diff?prepare=true", {}, text);
    ASSERT_EQ(diff.status, 400) << diff.body;
    EXPECT_EQ(diff.json()["error"], "invalid_config");
    const std::string hash = sha256_hex(text);
    const auto removed = replica.process().wait_for_line([&](const Json& line) {
        return line.value("event", "") == "prepared_chunks_removed" && line.value("content_hash", "") == hash;
    });
    ASSERT_TRUE(removed) << "no prepared_chunks_removed for " << hash;
    EXPECT_EQ((*removed)["removed"], true);
    const std::string prefix = "/test/blobs/" + hash;
    const Json range{{"key", util::base64_encode(prefix)}, {"range_end", util::base64_encode(prefix + "0")},
                     {"keys_only", true}};
    const auto keys = request(etcd_.client_port(0), "POST", "/v3/kv/range", {}, range.dump()).json();
    EXPECT_FALSE(keys.contains("kvs")) << keys;
    // The replica still serves and takes changes.
    const auto applied = replica.put(moved("2.0.0", "acme", "tier2"), replica.revision(), "&max_moved_keys=50%25");
    EXPECT_EQ(applied.status, 200) << applied.body;
}

// The replica compacts etcd's history, so superseded versions do not fill etcd's space quota:
// a read at an old revision is refused as compacted, and changes still reach the router.
TEST_F(EtcdControlPlaneTest, ReplicaCompactsTheStoreHistory) {
    auto& replica = start_replica({"--etcd-compact-interval", "200ms", "--log-level", "debug"});
    auto& router = start_router(replica.url(), "router-a");
    const auto seeded = replica.revision();
    ASSERT_TRUE(eventually([&] { return serves(router, "1.0.0", seeded); }));
    auto revision = seeded;
    for (const std::string version : {"2.0.0", "3.0.0"}) {
        const auto applied = replica.put(moved(version, "acme", version == "2.0.0" ? "tier2" : "tier1"), revision,
                                         "&max_moved_keys=50%25");
        ASSERT_EQ(applied.status, 200) << applied.body;
        revision = applied.json()["revision"].get<std::uint64_t>();
    }
    const auto etcd_port = etcd_.client_port(0);
    const std::string old_read = Json{{"key", "L3Rlc3QvY29uZmln"}, {"revision", std::to_string(seeded)}}.dump();  // /test/config
    ASSERT_TRUE(eventually([&] {
        const auto answer = request(etcd_port, "POST", "/v3/kv/range", {}, old_read);
        return answer.body.find("compacted") != std::string::npos;
    }, 10s)) << request(etcd_port, "POST", "/v3/kv/range", {}, old_read).body;
    EXPECT_TRUE(replica.process().wait_for_line([](const Json& line) { return line.value("event", "") == "store_compacted"; }));

    const auto after = replica.put(moved("4.0.0", "acme", "tier3"), revision, "&max_moved_keys=50%25");
    ASSERT_EQ(after.status, 200) << after.body;
    const auto latest = after.json()["revision"].get<std::uint64_t>();
    ASSERT_TRUE(eventually([&] { return serves(router, "4.0.0", latest); })) << debug_config(router.router_port());
    EXPECT_EQ(request(router.router_port(), "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To"), "tier3");
    // Every kept version is still readable: history and rollback use only current keys.
    const auto history = request(replica.port(), "GET", "/history").json();
    EXPECT_EQ(history["entries"].size(), 4u);
}

// New versions are stored compressed (zstd) by default; a replica writing them as they are
// (--etcd-chunk-encoding identity, as an older release does) and a compressing one read each
// other's versions.
TEST_F(EtcdControlPlaneTest, ChunkEncodingsAreReadEitherWay) {
    auto& plain = start_replica({"--etcd-chunk-encoding", "identity"});
    auto& compressing = start_replica();
    auto& router = start_router(compressing.url() + "," + plain.url(), "router-a");
    const auto two = plain.put(moved("2.0.0", "acme", "tier2"), plain.revision(), "&max_moved_keys=50%25");
    ASSERT_EQ(two.status, 200) << two.body;
    const auto at_two = two.json()["revision"].get<std::uint64_t>();
    ASSERT_TRUE(eventually([&] { return compressing.revision() == at_two; })) << compressing.status();
    EXPECT_EQ(Json::parse(request(compressing.port(), "GET", "/config").body), moved("2.0.0", "acme", "tier2"));

    const auto three = compressing.put(moved("3.0.0", "acme", "tier3"), at_two, "&max_moved_keys=50%25");
    ASSERT_EQ(three.status, 200) << three.body;
    const auto at_three = three.json()["revision"].get<std::uint64_t>();
    ASSERT_TRUE(eventually([&] { return plain.revision() == at_three; })) << plain.status();
    EXPECT_EQ(Json::parse(request(plain.port(), "GET", "/config").body), moved("3.0.0", "acme", "tier3"));
    ASSERT_TRUE(eventually([&] { return serves(router, "3.0.0", at_three); })) << debug_config(router.router_port());

    // What etcd holds: the identity chunks under blobs/<hash>/, the compressed under blobs/<hash>.zst/.
    const Json range{{"key", "L3Rlc3QvYmxvYnMv"}, {"range_end", "L3Rlc3QvYmxvYnMw"}, {"keys_only", true}};  // /test/blobs/
    const auto keys = request(etcd_.client_port(0), "POST", "/v3/kv/range", {}, range.dump()).json();
    int compressed = 0;
    int plain_chunks = 0;
    for (const auto& kv : keys["kvs"]) {
        const std::string key = util::base64_decode(kv["key"].get<std::string>()).value_or("");
        (key.find(".zst/") != std::string::npos ? compressed : plain_chunks) += 1;
    }
    EXPECT_GT(compressed, 0);
    EXPECT_GT(plain_chunks, 0);
}

// Two applies against the same revision: exactly one wins, the other gets a conflict with the
// diff against what is there now.
TEST_F(EtcdControlPlaneTest, ConcurrentAppliesOneWins) {
    auto& replica = start_replica();
    auto& other = start_replica();
    const auto base = replica.revision();
    Response first;
    Response second;
    std::thread a([&] { first = replica.put(moved("2.0.0", "acme", "tier2"), base, "&max_moved_keys=50%25"); });
    std::thread b([&] { second = other.put(moved("2.0.1", "globex", "tier3"), base, "&max_moved_keys=50%25"); });
    a.join();
    b.join();
    const std::set<int> statuses{first.status, second.status};
    EXPECT_EQ(statuses, (std::set<int>{200, 409})) << first.body << "\n" << second.body;
    const auto& loser = first.status == 409 ? first : second;
    const auto& winner = first.status == 409 ? second : first;
    const auto conflict = loser.json();
    EXPECT_EQ(conflict["error"], "conflict");
    EXPECT_EQ(conflict["current_revision"], winner.json()["revision"]);
    EXPECT_TRUE(conflict["diff"].is_object());
    EXPECT_EQ(request(replica.port(), "GET", "/history").json()["entries"].size(), 2u);
}

// Each rule of the blast-radius guard refuses on its own; --force applies with the reason
// recorded; a forced change without a reason is refused.
TEST_F(EtcdControlPlaneTest, GuardRefusesEachRuleAndForceIsRecorded) {
    auto& replica = start_replica();
    const auto base = replica.revision();
    auto rule_of = [](const Response& response) {
        return response.json()["guard"]["violations"][0]["rule"].get<std::string>();
    };
    // 1 of 4 keys is 25 %, over the default 10 %.
    auto response = replica.put(moved("2.0.0", "acme", "tier2"), base);
    ASSERT_EQ(response.status, 422) << response.body;
    EXPECT_EQ(response.json()["error"], "blast_radius");
    EXPECT_EQ(rule_of(response), "moved_keys");
    // A dedicated tenant moves.
    response = replica.put(moved("2.0.0", "visa", "tier1"), base, "&max_moved_keys=100%25");
    ASSERT_EQ(response.status, 422) << response.body;
    EXPECT_EQ(rule_of(response), "dedicated_moved");
    // Two placements change endpoints at once.
    auto endpoints = cells_.config("2.0.0");
    endpoints["cellEndpoints"]["tier1"] = "http://127.0.0.1:" + std::to_string(cells_.cell_port("tier2"));
    endpoints["cellEndpoints"]["tier2"] = "http://127.0.0.1:" + std::to_string(cells_.cell_port("tier1"));
    response = replica.put(endpoints, base);
    ASSERT_EQ(response.status, 422) << response.body;
    EXPECT_EQ(rule_of(response), "endpoints_changed");
    // Nothing was written by the refusals.
    EXPECT_EQ(replica.revision(), base);
    EXPECT_EQ(request(replica.port(), "GET", "/history").json()["entries"].size(), 1u);

    response = replica.put(moved("2.0.0", "visa", "tier1"), base, "&force=true");
    EXPECT_EQ(response.status, 400) << response.body;
    response = replica.put(moved("2.0.0", "visa", "tier1"), base, "&force=true&reason=visa+cell+retired");
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.json()["forced"], true);
    const auto entry = request(replica.port(), "GET", "/history?limit=1").json()["entries"][0];
    EXPECT_EQ(entry["forced"], true);
    EXPECT_EQ(entry["reason"], "visa cell retired");
}

// Two replicas with routers spread over them; one is killed (-9) under keep-alive load: its
// routers move to the other with zero failed requests, and a change applied meanwhile reaches
// every router.
TEST_F(EtcdControlPlaneTest, ReplicaKilledRoutersMoveAndChangesStillFlow) {
    auto& first = start_replica();
    auto& second = start_replica();
    const std::string both = first.url() + "," + second.url();
    std::vector<Deployment*> routers;
    for (int i = 0; i < 4; ++i) {
        routers.push_back(&start_router(both, "router-" + std::to_string(i)));
    }
    for (auto* router : routers) {
        ASSERT_TRUE(eventually([&] {
            return serves(*router, "1.0.0") &&
                   debug_config(router->router_port())["control_plane"]["state"] == "connected";
        }));
    }
    std::vector<std::unique_ptr<KeepAliveLoad>> loads;
    for (auto* router : routers) {
        loads.push_back(std::make_unique<KeepAliveLoad>(router->router_port(), "globex"));
    }
    // Kill the replica router-0 is on, so that at least one router has to move.
    const bool on_first = debug_config(routers[0]->router_port())["control_plane"]["url"] == first.url();
    auto& victim = on_first ? first : second;
    auto& survivor = on_first ? second : first;
    ASSERT_TRUE(victim.process().kill_abruptly());
    const auto applied = survivor.put(moved("2.0.0", "acme", "tier2"), survivor.revision(), "&max_moved_keys=50%25");
    ASSERT_EQ(applied.status, 200) << applied.body;
    const auto revision = applied.json()["revision"].get<std::uint64_t>();
    for (auto* router : routers) {
        EXPECT_TRUE(eventually([&] { return serves(*router, "2.0.0", revision); }, 20s))
            << debug_config(router->router_port());
        EXPECT_EQ(debug_config(router->router_port())["control_plane"]["url"], survivor.url());
    }
    EXPECT_EQ(survivor.status()["routers_connected"], 4);
    for (auto& load : loads) {
        load->stop();
        EXPECT_EQ(load->failed(), 0) << load->last_failure();
        EXPECT_GT(load->ok(), 0);
    }
}

// A rollback is a new revision carrying an old version's config; every router serves it.
TEST_F(EtcdControlPlaneTest, RollbackRestoresPreviousVersionEverywhere) {
    auto& replica = start_replica();
    auto& other = start_replica();
    auto& router_a = start_router(replica.url(), "router-a");
    auto& router_b = start_router(other.url(), "router-b");
    const auto first = replica.revision();
    const auto applied = replica.put(moved("2.0.0", "acme", "tier2"), first, "&max_moved_keys=50%25").json();
    const auto second = applied["revision"].get<std::uint64_t>();
    ASSERT_TRUE(eventually([&] { return serves(router_a, "2.0.0", second) && serves(router_b, "2.0.0", second); }));

    auto response = request(other.port(), "POST", "/rollback?revision=" + std::to_string(first) +
                                                      "&max_moved_keys=50%25&reason=bad+move");
    ASSERT_EQ(response.status, 200) << response.body;
    const auto third = response.json()["revision"].get<std::uint64_t>();
    EXPECT_GT(third, second);
    EXPECT_EQ(response.json()["rollback_of"], first);
    ASSERT_TRUE(eventually([&] { return serves(router_a, "1.0.0", third) && serves(router_b, "1.0.0", third); }));
    EXPECT_EQ(request(router_a.router_port(), "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To"), "tier1");
    const auto entry = request(replica.port(), "GET", "/history?limit=1").json()["entries"][0];
    EXPECT_EQ(entry["rollback_of"], first);
    EXPECT_EQ(entry["reason"], "bad move");

    EXPECT_EQ(request(replica.port(), "POST", "/rollback?revision=999999").status, 404);
}

// etcd down: replicas keep serving the last snapshot and routers keep routing; writes fail with
// a clear 503; once etcd is back, changes flow again without restarting anything.
TEST_F(EtcdControlPlaneTest, EtcdOutageDelaysConfigNeverTraffic) {
    auto& replica = start_replica();
    auto& router = start_router(replica.url(), "router-a");
    ASSERT_TRUE(eventually([&] { return serves(router, "1.0.0"); }));
    KeepAliveLoad load(router.router_port(), "acme");
    const auto base = replica.revision();

    etcd_.stop(0);
    ASSERT_TRUE(eventually([&] { return replica.status()["store_state"] == "unavailable"; }, 15s)) << replica.status();
    const auto refused = replica.put(moved("2.0.0", "acme", "tier2"), base, "&max_moved_keys=50%25");
    EXPECT_EQ(refused.status, 503) << refused.body;
    EXPECT_EQ(refused.json()["error"], "store_unavailable");
    // A router that connects during the outage still gets the current config.
    auto& late = start_router(replica.url(), "router-late");
    ASSERT_TRUE(eventually([&] { return serves(late, "1.0.0", base); }));
    const long served_during_outage = load.ok();

    etcd_.start(0);
    ASSERT_TRUE(etcd_.wait_healthy(0));
    ASSERT_TRUE(eventually([&] { return replica.status()["store_state"] == "ok"; }, 15s)) << replica.status();
    const auto response = replica.put(moved("2.0.0", "acme", "tier2"), base, "&max_moved_keys=50%25");
    ASSERT_EQ(response.status, 200) << response.body;
    ASSERT_TRUE(eventually([&] { return serves(router, "2.0.0") && serves(late, "2.0.0"); }));
    load.stop();
    EXPECT_EQ(load.failed(), 0) << load.last_failure();
    EXPECT_GT(served_during_outage, 0);
    EXPECT_GT(load.ok(), served_during_outage);
}

// A stored version that a replica sees changing under it while it is stopped (SIGSTOP: a
// partition from etcd and from everything else) is caught up when it resumes; the router that
// follows it never applies anything older than what it already serves.
TEST_F(EtcdControlPlaneTest, ReplicaWithOldViewCannotMoveRouterBack) {
    auto& first = start_replica();
    auto& second = start_replica();
    auto& router = start_router(first.url() + "," + second.url(), "router-a");
    ASSERT_TRUE(eventually([&] {
        return serves(router, "1.0.0") && debug_config(router.router_port())["control_plane"]["state"] == "connected";
    }));
    // The router picks its replica at random: the other one is made to lag.
    const bool on_first = debug_config(router.router_port())["control_plane"]["url"] == first.url();
    auto& current = on_first ? first : second;
    auto& lagging = on_first ? second : first;
    lagging.process().send_signal(SIGSTOP);
    // Resumed whatever happens below, so that it can be stopped at the end.
    struct Resume {
        Process& process;
        ~Resume() { process.send_signal(SIGCONT); }
    } resume{lagging.process()};
    const auto applied = current.put(moved("2.0.0", "acme", "tier2"), current.revision(), "&max_moved_keys=50%25");
    ASSERT_EQ(applied.status, 200) << applied.body;
    const auto revision = applied.json()["revision"].get<std::uint64_t>();
    ASSERT_TRUE(eventually([&] { return serves(router, "2.0.0", revision); }));
    // The router's replica vanishes; the only one left is the one that missed the change.
    lagging.process().send_signal(SIGCONT);
    ASSERT_TRUE(current.process().kill_abruptly());
    ASSERT_TRUE(eventually([&] {
        return debug_config(router.router_port())["control_plane"]["url"] == lagging.url() &&
               debug_config(router.router_port())["control_plane"]["state"] == "connected";
    }, 20s)) << debug_config(router.router_port());
    ASSERT_TRUE(eventually([&] { return lagging.revision() == revision; }));
    // Whatever the lagging replica sent first, the router never went back: once it had applied
    // the new revision, nothing older was applied again.
    EXPECT_TRUE(serves(router, "2.0.0", revision)) << debug_config(router.router_port());
    bool reached = false;
    for (const auto& line : router.router().json_lines()) {
        if (line.value("event", "") != "snapshot_applied") {
            continue;
        }
        const auto applied_revision = line.value("revision", std::uint64_t{0});
        EXPECT_FALSE(reached && applied_revision < revision) << line.dump();
        reached = reached || applied_revision >= revision;
    }
    EXPECT_TRUE(reached);
}

// The operator's path end to end: cellctl against two replicas on real etcd: diff, a refused
// apply, an apply, history, rollback, and the fleet status across both replicas.
TEST_F(EtcdControlPlaneTest, CellctlDrivesTheStoreThroughAnyReplica) {
    auto& replica = start_replica();
    auto& other = start_replica();
    auto& router_a = start_router(replica.url(), "router-a");
    auto& router_b = start_router(other.url(), "router-b");
    const auto first = replica.revision();
    ASSERT_TRUE(eventually([&] { return serves(router_a, "1.0.0", first) && serves(router_b, "1.0.0", first); }));
    const std::string control_planes =
        "http://127.0.0.1:" + std::to_string(replica.port()) + ",http://127.0.0.1:" + std::to_string(other.port());
    const auto file = cells_.dir().file("next.json");
    write_file(file, moved("2.0.0", "acme", "tier2").dump());

    auto diff = run_cellctl({"--control-plane", control_planes, "diff", file.string()}, cells_.dir());
    EXPECT_EQ(diff.exit_code, 3) << diff.out << diff.err;  // differences the guard would refuse
    EXPECT_NE(diff.out.find("acme: tier1 -> tier2"), std::string::npos) << diff.out;

    auto refused = run_cellctl({"--control-plane", control_planes, "apply", file.string()}, cells_.dir());
    EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
    EXPECT_EQ(replica.revision(), first);

    auto applied = run_cellctl({"--control-plane", control_planes, "apply", file.string(), "--max-moved-keys", "50%",
                                "--reason", "move acme", "--applied-by", "ops@test"},
                               cells_.dir());
    ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
    ASSERT_TRUE(eventually([&] { return serves(router_a, "2.0.0") && serves(router_b, "2.0.0"); }));
    const auto second = replica.revision();
    // The PUT took the analysis of the diff cellctl asked for just before: the same bytes against
    // the same base are parsed and diffed once.
    const auto applied_line = replica.process().wait_for_line([](const Json& line) {
        return line.value("event", "") == "config_applied" && line.value("version", "") == "2.0.0";
    });
    ASSERT_TRUE(applied_line.has_value());
    EXPECT_EQ((*applied_line)["reused_diff"], true) << applied_line->dump();
    // The writer publishes what it wrote once: the same revision arriving from its watch is not
    // broadcast again (every router would get the whole config a second time).
    ASSERT_TRUE(other.process().wait_for_line([](const Json& line) {
        return line.value("event", "") == "config_loaded" && line.value("version", "") == "2.0.0";
    }).has_value());
    const auto broadcasts = replica.process().json_lines();
    EXPECT_EQ(std::count_if(broadcasts.begin(), broadcasts.end(),
                            [](const Json& line) {
                                return line.value("event", "") == "snapshot_broadcast" &&
                                       line.value("version", "") == "2.0.0";
                            }),
              1);

    auto history = run_cellctl({"--control-plane", control_planes, "--json", "history"}, cells_.dir());
    ASSERT_EQ(history.exit_code, 0) << history.out << history.err;
    const auto entries = Json::parse(history.out)["entries"];
    ASSERT_EQ(entries.size(), 2u) << history.out;
    EXPECT_EQ(entries[0]["revision"], second);
    EXPECT_EQ(entries[0]["applied_by"], "ops@test");
    EXPECT_EQ(entries[0]["reason"], "move acme");

    // A router serves a snapshot a moment before its ack reaches the replica.
    CellctlResult status;
    EXPECT_TRUE(eventually([&] {
        status = run_cellctl({"--control-plane", control_planes, "status"}, cells_.dir());
        return status.exit_code == 0;
    })) << status.out << status.err;
    EXPECT_NE(status.out.find("router-a"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("router-b"), std::string::npos) << status.out;

    auto rollback = run_cellctl({"--control-plane", control_planes, "rollback", std::to_string(first),
                                 "--max-moved-keys", "50%", "--reason", "undo"},
                                cells_.dir());
    ASSERT_EQ(rollback.exit_code, 0) << rollback.out << rollback.err;
    ASSERT_TRUE(eventually([&] { return serves(router_a, "1.0.0") && serves(router_b, "1.0.0"); }));
    EXPECT_GT(replica.revision(), second);
    const auto rollback_line = replica.process().wait_for_line([](const Json& line) {
        return line.value("event", "") == "config_applied" && line.value("rollback_of", 0) != 0;
    });
    ASSERT_TRUE(rollback_line.has_value());
    EXPECT_EQ((*rollback_line)["reused_diff"], false) << rollback_line->dump();  // no diff came before it
}

class EtcdClusterTest : public EtcdControlPlaneTest {
protected:
    EtcdClusterTest() : EtcdControlPlaneTest(3) {}
};

// A three-member cluster with one member killed keeps a quorum: applies still succeed, through
// the same replica, which moves to a live member by itself.
TEST_F(EtcdClusterTest, OneMemberLostAppliesStillSucceed) {
    auto& replica = start_replica();
    auto& router = start_router(replica.url(), "router-a");
    ASSERT_TRUE(eventually([&] { return serves(router, "1.0.0"); }));
    etcd_.kill(0);  // the first endpoint, the one the replica prefers
    const auto response = replica.put(moved("2.0.0", "acme", "tier2"), replica.revision(), "&max_moved_keys=50%25");
    ASSERT_EQ(response.status, 200) << response.body;
    ASSERT_TRUE(eventually([&] { return serves(router, "2.0.0"); }, 15s)) << replica.status();
    // The replica's watch was on the killed member: it moves on by itself.
    EXPECT_TRUE(eventually([&] { return replica.status()["store_state"] == "ok"; }, 10s)) << replica.status();
}

// A control plane that watches a file refuses writes and history with a clear message, while
// GET /config and diffs work.
TEST(FileModeConfigApiTest, WritesAreRefusedDiffsWork) {
    Deployment cells(Deployment::Options{.start_router = false});
    write_file(cells.dir().file("cp.json"), cells.config("1.0.0").dump());
    Process control_plane({CELL_CONTROL_PLANE_BINARY, "--config", cells.dir().file("cp.json").string(), "--port", "0"},
                          cells.dir().path(), "control-plane");
    const auto port = control_plane_port_of(control_plane);
    const auto config = request(port, "GET", "/config");
    EXPECT_EQ(config.header("X-Config-Store"), "file");
    EXPECT_EQ(config.header("X-Config-Revision"), "0");
    EXPECT_EQ(Json::parse(config.body), cells.config("1.0.0"));

    auto next = cells.config("2.0.0");
    next["routingTable"]["acme"] = "tier2";
    const auto put = request(port, "PUT", "/config?expected_revision=0", {}, next.dump());
    EXPECT_EQ(put.status, 403);
    EXPECT_EQ(put.json()["error"], "read_only");
    EXPECT_NE(put.json()["detail"].get<std::string>().find("watches a file"), std::string::npos);
    EXPECT_EQ(request(port, "GET", "/history").status, 403);
    EXPECT_EQ(request(port, "POST", "/rollback?revision=1").status, 403);

    const auto diff = request(port, "POST", "/config/diff", {}, next.dump());
    ASSERT_EQ(diff.status, 200) << diff.body;
    EXPECT_EQ(diff.json()["diff"]["keys_moved"], 1);
    EXPECT_EQ(diff.json()["guard"]["allowed"], false);
    const auto invalid = request(port, "POST", "/config/diff", {}, R"({"version":"x","routingTable":{"a":"nowhere"}})");
    EXPECT_EQ(invalid.status, 400);
    EXPECT_EQ(invalid.json()["error"], "invalid_config");
}

}  // namespace
}  // namespace cell::testing

namespace cell::testing {
namespace {

// A staged apply with two replicas: the canary is connected to the replica that did not take the
// apply, which pushes it the candidate from the stored rollout record and reports its ack; the
// rollout is promoted and every router serves the new version. A second rollout whose driver
// stops is halted by the other replica when the heartbeat goes stale, and its canary gets the
// stable version back.
TEST_F(EtcdControlPlaneTest, StagedRolloutAcrossReplicas) {
    auto& first = start_replica();
    auto& second = start_replica();
    auto& canary = start_router(second.url(), "canary-a");
    auto& other = start_router(first.url(), "other-b");
    ASSERT_TRUE(eventually([&] { return serves(canary, "1.0.0") && serves(other, "1.0.0"); }));
    const std::string urls = "http://127.0.0.1:" + std::to_string(first.port()) + ",http://127.0.0.1:" +
                             std::to_string(second.port());

    write_file(cells_.dir().file("v2.json"), moved("2.0.0", "acme", "tier2").dump());
    const auto staged = run_cellctl({"--control-plane", urls, "apply", cells_.dir().file("v2.json").string(), "--staged",
                                     "--canary", "canary-*", "--soak", "2s", "--max-moved-keys", "50%"},
                                    cells_.dir());
    ASSERT_EQ(staged.exit_code, 0) << staged.out << staged.err;
    EXPECT_NE(staged.out.find("pushed 2.0.0 to 1 canary (canary-a)"), std::string::npos) << staged.out;
    EXPECT_NE(staged.out.find("every canary acked"), std::string::npos) << staged.out;
    ASSERT_TRUE(eventually([&] { return serves(canary, "2.0.0") && serves(other, "2.0.0"); }));
    const Json followed = second.status()["rollout"];
    EXPECT_EQ(followed["phase"], "promoted") << followed.dump();
    EXPECT_EQ(followed["acked"], Json::array({"canary-a"}));

    write_file(cells_.dir().file("v3.json"), moved("3.0.0", "globex", "visa").dump());
    const auto waiting = run_cellctl({"--control-plane", urls, "apply", cells_.dir().file("v3.json").string(), "--staged",
                                      "--canary", "canary-*", "--soak", "60s", "--no-wait", "--max-moved-keys", "50%"},
                                     cells_.dir());
    ASSERT_EQ(waiting.exit_code, 0) << waiting.out << waiting.err;
    ASSERT_TRUE(eventually([&] { return serves(canary, "3.0.0"); }));
    EXPECT_TRUE(serves(other, "2.0.0"));
    // The follower's canary ack reaches the driver through its report; the record says soaking.
    ASSERT_TRUE(eventually([&] { return second.status()["rollout"]["phase"] == "soaking"; })) << second.status().dump();
    EXPECT_TRUE(first.process().terminate().has_value());  // the driver stops
    ASSERT_TRUE(eventually([&] { return serves(canary, "2.0.0"); }, 20s)) << second.status().dump();
    const Json halted = second.status()["rollout"];
    EXPECT_EQ(halted["phase"], "halted");
    EXPECT_NE(halted["halt_reason"].get<std::string>().find("no heartbeat"), std::string::npos) << halted.dump();
    EXPECT_EQ(second.status()["current_version"], "2.0.0");
}

// The operations through cellctl and etcd, each a new version that reaches the router: a pause
// (503, no cell), a move that lifts it, a pin and its removal, a drain and an undrain; each with
// its reason in the history, while another key is served throughout.
TEST_F(EtcdControlPlaneTest, CellOperationsThroughCellctl) {
    auto& replica = start_replica();
    auto& router = start_router(replica.url(), "router-a");
    ASSERT_TRUE(eventually([&] { return serves(router, "1.0.0"); }));
    const std::string url = "http://127.0.0.1:" + std::to_string(replica.port());
    const auto port = router.router_port();
    KeepAliveLoad load(port, "visa");
    const auto cellctl = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {"--control-plane", url});
        const auto result = run_cellctl(args, cells_.dir());
        EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
        return result;
    };
    const auto get = [&](const std::string& key) { return request(port, "GET", "/", {{"X-Routing-Key", key}}); };
    // The change seen, and every worker on the router's newest table: each worker switches on
    // its own loop, and the next connection may land on either.
    const auto applied = [&](const std::function<bool()>& seen) {
        return eventually([&] {
            if (!seen()) {
                return false;
            }
            const auto config = debug_config(port);
            return std::all_of(config["worker_generations"].begin(), config["worker_generations"].end(),
                               [&](const Json& generation) { return generation == config["generation"]; });
        });
    };

    const auto paused = cellctl({"pause", "acme", "--reason", "moving acme", "--retry-after", "5s"});
    EXPECT_NE(paused.out.find("pause acme until"), std::string::npos) << paused.out;
    ASSERT_TRUE(applied([&] { return get("acme").status == 503; }));
    EXPECT_EQ(get("acme").header("Retry-After"), "5");
    EXPECT_EQ(get("acme").header("X-Route-Reason"), "paused");

    cellctl({"move", "acme", "tier2", "--reason", "acme now on tier2", "--max-moved-keys", "50%"});
    ASSERT_TRUE(applied([&] { return get("acme").status == 200; }));
    EXPECT_EQ(get("acme").header("X-Routed-To"), "tier2");
    EXPECT_EQ(get("acme").header("X-Route-Reason"), "tier");

    cellctl({"pin", "globex", "visa", "--ttl", "1h", "--reason", "debugging globex"});
    ASSERT_TRUE(applied([&] { return get("globex").header("X-Routed-To") == "visa"; }));
    EXPECT_EQ(get("globex").header("X-Route-Reason"), "override");
    cellctl({"unpin", "globex"});
    ASSERT_TRUE(applied([&] { return get("globex").header("X-Route-Reason") == "tier"; }));

    cellctl({"drain", "tier2", "--to", "tier3", "--ramp", "0s", "--reason", "tier2 maintenance"});
    ASSERT_TRUE(applied([&] { return get("acme").header("X-Failover-Reason") == "drained"; }));
    EXPECT_EQ(get("acme").header("X-Routed-To"), "tier3");
    EXPECT_EQ(get("acme").header("X-Original-Placement"), "tier2");
    EXPECT_EQ(get("globex").header("X-Routed-To"), "tier3");
    cellctl({"undrain", "tier2", "--ramp", "0s"});
    ASSERT_TRUE(applied([&] { return get("acme").header("X-Routed-To") == "tier2"; }));
    EXPECT_EQ(get("acme").header("X-Failover-Reason"), "");

    // Refusals change nothing: a key that is not pinned, a placement that does not exist.
    const auto not_pinned = run_cellctl({"--control-plane", url, "unpin", "acme"}, cells_.dir());
    EXPECT_EQ(not_pinned.exit_code, 1);
    EXPECT_NE(not_pinned.err.find("routing key \"acme\" is not pinned"), std::string::npos) << not_pinned.err;
    EXPECT_EQ(run_cellctl({"--control-plane", url, "drain", "tier9", "--reason", "x"}, cells_.dir()).exit_code, 1);

    const auto history = request(replica.port(), "GET", "/history").json()["entries"];
    ASSERT_EQ(history.size(), 7u) << history.dump();  // the seed and six operations
    EXPECT_EQ(history[0]["reason"], "undrain tier2 from 100 % over 0s");
    EXPECT_EQ(history[1]["reason"], "tier2 maintenance");
    EXPECT_EQ(history[5]["reason"], "moving acme");
    ASSERT_TRUE(eventually([&] { return run_cellctl({"--control-plane", url, "status"}, cells_.dir()).exit_code == 0; }));
    load.stop();
    EXPECT_EQ(load.failed(), 0) << load.last_failure();
    EXPECT_GT(load.ok(), 0);
}

// `cellctl apply --staged` with etcd: the candidate reaches the canary only, nothing is stored
// until the soak passed, then it is stored and every router serves it; cellctl follows the steps
// and exits 0. A second staged apply aborted with `cellctl abort-rollout` is never stored, and the
// canary gets the stable version back.
TEST_F(EtcdControlPlaneTest, StagedApplyThroughCellctl) {
    auto& replica = start_replica();
    auto& canary = start_router(replica.url(), "canary-a");
    auto& other = start_router(replica.url(), "other-b");
    ASSERT_TRUE(eventually([&] { return serves(canary, "1.0.0") && serves(other, "1.0.0"); }));
    const std::string url = "http://127.0.0.1:" + std::to_string(replica.port());
    const auto history_size = [&] { return request(replica.port(), "GET", "/history").json()["entries"].size(); };
    const std::size_t before = history_size();

    write_file(cells_.dir().file("v2.json"), moved("2.0.0", "acme", "tier2").dump());
    const auto staged = run_cellctl({"--control-plane", url, "apply", cells_.dir().file("v2.json").string(), "--staged",
                                     "--canary", "canary-*", "--soak", "1s", "--max-moved-keys", "50%", "--reason",
                                     "acme to tier2, canary first"},
                                    cells_.dir());
    ASSERT_EQ(staged.exit_code, 0) << staged.out << staged.err;
    EXPECT_NE(staged.out.find("staged: rollout 2.0.0@"), std::string::npos) << staged.out;
    EXPECT_NE(staged.out.find("pushed 2.0.0 to 1 canary (canary-a); the rest stay on 1.0.0"), std::string::npos)
        << staged.out;
    EXPECT_NE(staged.out.find("promoted: 2.0.0 is current for every router"), std::string::npos) << staged.out;
    ASSERT_TRUE(eventually([&] { return serves(canary, "2.0.0") && serves(other, "2.0.0"); }));
    const auto entries = request(replica.port(), "GET", "/history").json()["entries"];
    ASSERT_EQ(entries.size(), before + 1) << entries.dump();
    EXPECT_EQ(entries[0]["version"], "2.0.0");
    EXPECT_EQ(entries[0]["reason"], "acme to tier2, canary first");

    write_file(cells_.dir().file("v3.json"), moved("3.0.0", "globex", "visa").dump());
    const auto waiting = run_cellctl({"--control-plane", url, "apply", cells_.dir().file("v3.json").string(), "--staged",
                                      "--canary", "canary-*", "--soak", "60s", "--no-wait", "--max-moved-keys", "50%"},
                                     cells_.dir());
    ASSERT_EQ(waiting.exit_code, 0) << waiting.out << waiting.err;
    ASSERT_TRUE(eventually([&] { return serves(canary, "3.0.0"); }));
    EXPECT_TRUE(serves(other, "2.0.0"));
    const auto shown = run_cellctl({"--control-plane", url, "status"}, cells_.dir());
    EXPECT_NE(shown.out.find("canary-a (canary)"), std::string::npos) << shown.out;
    EXPECT_NE(shown.out.find("(2.0.0 -> 3.0.0)"), std::string::npos) << shown.out;
    const auto aborted = run_cellctl({"--control-plane", url, "abort-rollout", "--applied-by", "ops@test"}, cells_.dir());
    ASSERT_EQ(aborted.exit_code, 0) << aborted.out << aborted.err;
    ASSERT_TRUE(eventually([&] { return serves(canary, "2.0.0"); }));
    EXPECT_TRUE(serves(other, "2.0.0"));
    const Json rollout = request(replica.port(), "GET", "/status").json()["rollout"];
    EXPECT_EQ(rollout["phase"], "halted");
    EXPECT_EQ(rollout["halt_reason"], "aborted by ops@test");
    EXPECT_EQ(history_size(), before + 1);  // never stored
    const auto again = run_cellctl({"--control-plane", url, "abort-rollout"}, cells_.dir());
    EXPECT_EQ(again.exit_code, 1);
    EXPECT_NE(again.err.find("no rollout is running"), std::string::npos) << again.err;
}

}  // namespace
}  // namespace cell::testing
