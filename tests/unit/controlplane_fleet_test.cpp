// The control plane's fleet bookkeeping (router names, ack accounting, the /status body) and
// the per-router send slot that keeps only the newest snapshot.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cell/controlplane/fleet.hpp"
#include "cell/controlplane/router_session_outbox.hpp"

namespace cell::controlplane {
namespace {

using nlohmann::json;

const WallClock::time_point t0 = WallClock::time_point(std::chrono::seconds(1'800'000'000));

Fleet fleet_at(const std::string& version, const std::string& hash) {
    Fleet fleet;
    fleet.set_current(version, hash, t0);
    return fleet;
}

json router(const Fleet& fleet, std::size_t index) { return json::parse(fleet.status_json(t0))["routers"].at(index); }

SnapshotConstPtr snapshot(const std::string& version) {
    auto s = std::make_shared<Snapshot>();
    s->version = version;
    return s;
}

// A router that sent no hello is named by its address.
TEST(ControlPlaneFleet, RouterWithoutHelloIsNamedByAddress) {
    Fleet fleet = fleet_at("1", "h1");
    const auto& record = fleet.add(1, "127.0.0.1:5000", t0);
    EXPECT_EQ(record.id(), "127.0.0.1:5000");
    EXPECT_FALSE(record.hello);
    EXPECT_EQ(router(fleet, 0)["id"], "127.0.0.1:5000");
    EXPECT_EQ(router(fleet, 0)["hello"], false);
}

// A hello's node id names the router.
TEST(ControlPlaneFleet, HelloNamesTheRouter) {
    Fleet fleet = fleet_at("1", "h1");
    fleet.add(1, "127.0.0.1:5000", t0);
    fleet.on_hello(1, Hello{"router-a", "0.0.1"});
    EXPECT_EQ(fleet.find(1)->id(), "router-a");
    EXPECT_TRUE(fleet.find(1)->hello);
}

// A hello without a node id still counts as a hello but keeps the address as the name.
TEST(ControlPlaneFleet, HelloWithoutNodeIdKeepsTheAddress) {
    Fleet fleet = fleet_at("1", "h1");
    fleet.add(1, "127.0.0.1:5000", t0);
    fleet.on_hello(1, Hello{"", "0.0.1"});
    EXPECT_EQ(fleet.find(1)->id(), "127.0.0.1:5000");
    EXPECT_TRUE(fleet.find(1)->hello);
}

// An ack's or a nack's node id also names the router (no hello needed).
TEST(ControlPlaneFleet, AckAndNackNodeIdNameTheRouter) {
    Fleet fleet = fleet_at("1", "h1");
    fleet.add(1, "a:1", t0);
    fleet.add(2, "a:2", t0);
    fleet.on_ack(1, Ack{"1", "", "from-ack"}, t0);
    fleet.on_nack(2, Nack{"1", "bad", "", "from-nack"}, t0);
    EXPECT_EQ(fleet.find(1)->id(), "from-ack");
    EXPECT_EQ(fleet.find(2)->id(), "from-nack");
    EXPECT_FALSE(fleet.find(1)->hello);
}

// An ack of the current version without a hash counts (the seed's routers send no hash).
TEST(ControlPlaneFleet, VersionOnlyAckOfCurrentCounts) {
    Fleet fleet = fleet_at("2.0.0", "h2");
    fleet.add(1, "a:1", t0);
    fleet.on_ack(1, Ack{"2.0.0", "", ""}, t0);
    EXPECT_TRUE(fleet.acked_current(*fleet.find(1)));
    EXPECT_EQ(fleet.acked_current_count(), 1u);
}

// An ack with the current version but another content hash does not count.
TEST(ControlPlaneFleet, AckWithOtherHashDoesNotCount) {
    Fleet fleet = fleet_at("2.0.0", "h2");
    fleet.add(1, "a:1", t0);
    fleet.on_ack(1, Ack{"2.0.0", "other", ""}, t0);
    EXPECT_FALSE(fleet.acked_current(*fleet.find(1)));
    fleet.on_ack(1, Ack{"2.0.0", "h2", ""}, t0);
    EXPECT_TRUE(fleet.acked_current(*fleet.find(1)));
}

// An ack of an older version does not count, and a new current version un-counts old acks.
TEST(ControlPlaneFleet, NewCurrentVersionResetsTheCount) {
    Fleet fleet = fleet_at("1", "h1");
    fleet.add(1, "a:1", t0);
    fleet.add(2, "a:2", t0);
    fleet.on_ack(1, Ack{"1", "h1", ""}, t0);
    fleet.on_ack(2, Ack{"0", "", ""}, t0);
    EXPECT_EQ(fleet.acked_current_count(), 1u);
    fleet.set_current("2", "h2", t0);
    EXPECT_EQ(fleet.acked_current_count(), 0u);
    fleet.on_ack(2, Ack{"2", "h2", ""}, t0);
    EXPECT_EQ(fleet.acked_current_count(), 1u);
}

// A nack is recorded with its error and time, and leaves the last ack alone.
TEST(ControlPlaneFleet, NackKeepsTheLastAck) {
    Fleet fleet = fleet_at("1", "h1");
    fleet.add(1, "a:1", t0);
    fleet.on_ack(1, Ack{"1", "", ""}, t0);
    fleet.set_current("2", "h2", t0);
    fleet.on_nack(1, Nack{"2", "/routingTable/acme: unknown placement", "1", ""}, t0 + std::chrono::seconds(5));
    const auto view = router(fleet, 0);
    EXPECT_EQ(view["last_version_acked"], "1");
    EXPECT_EQ(view["last_nack"]["version"], "2");
    EXPECT_EQ(view["last_nack"]["error"], "/routingTable/acme: unknown placement");
    EXPECT_EQ(view["last_nack"]["at"], "2027-01-15T08:00:05.000Z");
    EXPECT_EQ(view["last_nack"]["by"], "router");
    EXPECT_EQ(fleet.acked_current_count(), 0u);
}

// A router that announces a snapshot limit gets nothing bigger; what it did not get shows as its
// last nack, by the control plane, and is counted; its last ack stays.
TEST(ControlPlaneFleet, SnapshotOverTheAnnouncedLimitIsNotSent) {
    Fleet fleet = fleet_at("1", "h1");
    fleet.add(1, "a:1", t0);
    fleet.add(2, "b:2", t0);
    EXPECT_TRUE(fleet.fits(*fleet.find(1), 1u << 30));  // no hello yet: no known limit
    fleet.on_hello(1, Hello{"small", "0", 65536});
    fleet.on_hello(2, Hello{"quiet", "0"});
    EXPECT_TRUE(fleet.fits(*fleet.find(1), 65536));
    EXPECT_FALSE(fleet.fits(*fleet.find(1), 65537));
    EXPECT_TRUE(fleet.fits(*fleet.find(2), 1u << 30));
    fleet.on_ack(1, Ack{"1", "h1", ""}, t0);
    fleet.set_current("2", "h2", t0);
    fleet.on_not_sent(1, "2", "too big", t0 + std::chrono::seconds(1));
    const auto view = router(fleet, 0);
    EXPECT_EQ(view["max_snapshot_bytes"], 65536);
    EXPECT_EQ(view["last_version_acked"], "1");
    EXPECT_EQ(view["last_nack"]["version"], "2");
    EXPECT_EQ(view["last_nack"]["error"], "too big");
    EXPECT_EQ(view["last_nack"]["by"], "control_plane");
    EXPECT_TRUE(router(fleet, 1)["max_snapshot_bytes"].is_null());
    EXPECT_EQ(fleet.totals().not_sent, 1u);
    EXPECT_EQ(fleet.totals().nacks, 0u);
    EXPECT_EQ(fleet.totals().pushes, 0u);
}

// Messages for a connection that is gone are ignored.
TEST(ControlPlaneFleet, UnknownConnectionIsIgnored) {
    Fleet fleet = fleet_at("1", "h1");
    fleet.on_ack(9, Ack{"1", "", ""}, t0);
    fleet.on_nack(9, Nack{"1", "e", "", ""}, t0);
    fleet.on_hello(9, Hello{"x", "1"});
    fleet.on_sent(9, "1", t0);
    EXPECT_EQ(fleet.connected(), 0u);
    EXPECT_EQ(fleet.find(9), nullptr);
}

// Removing a router takes it out of every count.
TEST(ControlPlaneFleet, RemoveForgetsTheRouter) {
    Fleet fleet = fleet_at("1", "h1");
    fleet.add(1, "a:1", t0);
    fleet.on_ack(1, Ack{"1", "", ""}, t0);
    fleet.remove(1);
    EXPECT_EQ(fleet.connected(), 0u);
    EXPECT_EQ(fleet.acked_current_count(), 0u);
}

// The /status body: summary fields, then one entry per router in connection order, with nulls
// for what has not happened yet.
TEST(ControlPlaneFleet, StatusJsonFormat) {
    Fleet fleet = fleet_at("2.0.0", "h2");
    fleet.add(2, "127.0.0.1:6000", t0 + std::chrono::milliseconds(1));
    fleet.add(1, "127.0.0.1:5000", t0);
    fleet.on_hello(1, Hello{"r1", "1.0.0"});
    fleet.on_sent(1, "2.0.0", t0);
    fleet.on_ack(1, Ack{"2.0.0", "h2", ""}, t0 + std::chrono::milliseconds(250));
    const auto status = json::parse(fleet.status_json(t0));
    EXPECT_EQ(status["current_version"], "2.0.0");
    EXPECT_EQ(status["current_hash"], "h2");
    EXPECT_EQ(status["routers_connected"], 2);
    EXPECT_EQ(status["acked_current"], 1);
    ASSERT_EQ(status["routers"].size(), 2u);
    const auto& first = status["routers"][0];
    EXPECT_EQ(first["id"], "r1");
    EXPECT_EQ(first["address"], "127.0.0.1:5000");
    EXPECT_EQ(first["connected_since"], "2027-01-15T08:00:00.000Z");
    EXPECT_EQ(first["hello"], true);
    EXPECT_EQ(first["last_version_sent"], "2.0.0");
    EXPECT_EQ(first["last_version_acked"], "2.0.0");
    EXPECT_EQ(first["last_ack_at"], "2027-01-15T08:00:00.250Z");
    EXPECT_EQ(first["acked_current"], true);
    EXPECT_TRUE(first["last_nack"].is_null());
    const auto& second = status["routers"][1];
    EXPECT_EQ(second["id"], "127.0.0.1:6000");
    EXPECT_EQ(second["hello"], false);
    EXPECT_TRUE(second["last_version_sent"].is_null());
    EXPECT_TRUE(second["last_version_acked"].is_null());
    EXPECT_TRUE(second["last_ack_at"].is_null());
    EXPECT_EQ(second["acked_current"], false);
}

// The lag a router shows: 0 when current; otherwise the publishes since its ack and the time
// since the first of them, or (an ack of nothing known here) the time since it connected.
TEST(ControlPlaneFleet, LagCountsPublishesSinceTheAck) {
    using std::chrono::seconds;
    Fleet fleet = fleet_at("1", "h1");
    fleet.add(1, "127.0.0.1:5000", t0);
    fleet.add(2, "127.0.0.1:6000", t0);
    fleet.on_ack(1, Ack{"1", "h1", ""}, t0);
    fleet.on_ack(2, Ack{"0.9", "", ""}, t0);  // a version this control plane never published
    EXPECT_EQ(router(fleet, 0)["versions_behind"], 0);
    EXPECT_EQ(router(fleet, 0)["behind_seconds"], 0);

    fleet.set_current("2", "h2", t0 + seconds(10));
    fleet.set_current("2", "h2", t0 + seconds(15));  // the same config again: not a new version
    fleet.set_current("3", "h3", t0 + seconds(20));
    const auto status = json::parse(fleet.status_json(t0 + seconds(25)));
    EXPECT_EQ(status["current_since"], "2027-01-15T08:00:20.000Z");
    const auto& behind = status["routers"][0];
    EXPECT_EQ(behind["versions_behind"], 2);
    EXPECT_EQ(behind["behind_seconds"], 15);  // behind since "2" was published
    EXPECT_EQ(behind["connected_seconds"], 25);
    const auto& unknown = status["routers"][1];
    EXPECT_TRUE(unknown["versions_behind"].is_null());
    EXPECT_EQ(unknown["behind_seconds"], 25);  // since it connected

    fleet.on_ack(1, Ack{"3", "h3", ""}, t0 + seconds(26));
    EXPECT_EQ(router(fleet, 0)["versions_behind"], 0);
    EXPECT_EQ(router(fleet, 0)["behind_seconds"], 0);
}

// An ack whose hash differs from what was published under that version is not that version.
TEST(ControlPlaneFleet, LagMatchesTheAckedHash) {
    Fleet fleet = fleet_at("1", "h1");
    fleet.set_current("2", "h2", t0);
    fleet.add(1, "a:1", t0);
    fleet.on_ack(1, Ack{"1", "other", ""}, t0);
    EXPECT_TRUE(router(fleet, 0)["versions_behind"].is_null());
    fleet.on_ack(1, Ack{"1", "h1", ""}, t0);
    EXPECT_EQ(router(fleet, 0)["versions_behind"], 1);
}

// Only the last 64 publishes are kept: a router further behind shows an unknown count.
TEST(ControlPlaneFleet, LagHistoryIsBounded) {
    Fleet fleet = fleet_at("0", "h0");
    fleet.add(1, "a:1", t0);
    fleet.on_ack(1, Ack{"0", "h0", ""}, t0);
    for (int i = 1; i <= 63; ++i) {
        fleet.set_current(std::to_string(i), "h" + std::to_string(i), t0);
    }
    EXPECT_EQ(router(fleet, 0)["versions_behind"], 63);
    fleet.set_current("64", "h64", t0);
    EXPECT_TRUE(router(fleet, 0)["versions_behind"].is_null());
}

// An empty fleet is a valid status too.
TEST(ControlPlaneFleet, EmptyStatus) {
    const auto status = json::parse(fleet_at("1", "h").status_json(t0));
    EXPECT_EQ(status["routers_connected"], 0);
    EXPECT_EQ(status["acked_current"], 0);
    EXPECT_TRUE(status["routers"].is_array());
    EXPECT_TRUE(status["routers"].empty());
}

// Text from routers that is not valid UTF-8 cannot break /status.
TEST(ControlPlaneFleet, StatusSurvivesInvalidUtf8) {
    Fleet fleet = fleet_at("1", "h");
    fleet.add(1, "a:1", t0);
    fleet.on_nack(1, Nack{"1", "bad \xff bytes", "", ""}, t0);
    const auto status = json::parse(fleet.status_json(t0));  // throws on invalid JSON
    ASSERT_EQ(status["routers"].size(), 1u);
    // The bad byte becomes U+FFFD; the rest of the message is kept.
    EXPECT_EQ(status["routers"][0]["last_nack"]["error"], "bad \xef\xbf\xbd bytes");
    EXPECT_EQ(status["routers"][0]["last_nack"]["version"], "1");
}

// The send slot holds one waiting snapshot; a newer one replaces it and reports the dropped one.
TEST(ControlPlaneOutbox, NewerSnapshotReplacesTheWaitingOne) {
    RouterSessionOutbox outbox;
    EXPECT_TRUE(outbox.empty());
    EXPECT_EQ(outbox.push(snapshot("1")), nullptr);
    const auto dropped = outbox.push(snapshot("2"));
    ASSERT_NE(dropped, nullptr);
    EXPECT_EQ(dropped->version, "1");
    const auto dropped_again = outbox.push(snapshot("3"));
    EXPECT_EQ(dropped_again->version, "2");
    EXPECT_EQ(outbox.dropped(), 2u);
    EXPECT_EQ(outbox.take()->version, "3");
    EXPECT_TRUE(outbox.empty());
    EXPECT_EQ(outbox.take(), nullptr);
}

// Once taken (being written), a snapshot is no longer in the slot: the next one waits behind
// it without dropping anything, so a router always receives the newest eventually.
TEST(ControlPlaneOutbox, TakenSnapshotIsNotReplaced) {
    RouterSessionOutbox outbox;
    outbox.push(snapshot("1"));
    const auto in_flight = outbox.take();
    EXPECT_EQ(outbox.push(snapshot("2")), nullptr);
    EXPECT_EQ(in_flight->version, "1");
    EXPECT_EQ(outbox.waiting()->version, "2");
    EXPECT_EQ(outbox.dropped(), 0u);
}

// However many snapshots arrive while one write is stuck, the slot holds one (bounded memory).
TEST(ControlPlaneOutbox, StaysBoundedUnderABurst) {
    RouterSessionOutbox outbox;
    outbox.push(snapshot("0"));
    const auto in_flight = outbox.take();
    for (int i = 1; i <= 1000; ++i) {
        outbox.push(snapshot(std::to_string(i)));
    }
    EXPECT_EQ(outbox.dropped(), 999u);
    EXPECT_EQ(outbox.take()->version, "1000");
    EXPECT_TRUE(outbox.empty());
}

}  // namespace
}  // namespace cell::controlplane

namespace cell::controlplane {
namespace {

// Pushes, acks and nacks are counted; the ack of the version last pushed times the push.
TEST(ControlPlaneFleet, CountsPushesAndTimesAcks) {
    Fleet fleet;
    const auto start = WallClock::now();
    fleet.set_current("2", "h2", start);
    fleet.add(1, "127.0.0.1:5000", start);
    fleet.on_sent(1, "2", start);
    fleet.on_ack(1, Ack{"2", "h2", ""}, start + std::chrono::milliseconds(30));
    fleet.on_ack(1, Ack{"2", "h2", ""}, start + std::chrono::seconds(60));  // no push pending: not timed
    fleet.on_nack(1, Nack{"3", "bad", "2", ""}, start);
    fleet.on_ack(9, Ack{"2", "", ""}, start);  // unknown connection: not counted
    EXPECT_EQ(fleet.totals().pushes, 1u);
    EXPECT_EQ(fleet.totals().acks, 2u);
    EXPECT_EQ(fleet.totals().nacks, 1u);
    EXPECT_EQ(fleet.push_to_ack().count(), 1u);
    EXPECT_NEAR(fleet.push_to_ack().sum, 0.030, 1e-9);
    EXPECT_EQ(fleet.push_to_ack().buckets[observability::bucket_index(fleet.push_to_ack().bounds, 0.030)], 1u);
}

// A snapshot goes as its delta only to a router that said it takes deltas and whose last ack is
// the delta's base; a router that refused a delta gets the whole snapshot until one is written.
TEST(ControlPlaneFleet, DeltaGoesOnlyToARouterOnItsBase) {
    Fleet fleet = fleet_at("2", "h2");
    auto next = std::make_shared<Snapshot>();
    next->version = "2";
    next->content_hash = "h2";
    next->frame = "full";
    next->delta_base_hash = "h1";
    next->delta_frame = "delta";
    fleet.add(1, "127.0.0.1:5000", t0);
    EXPECT_FALSE(fleet.takes_delta(*fleet.find(1), *next));  // no hello yet
    Hello hello{"r1", "1"};
    hello.deltas = true;
    fleet.on_hello(1, hello);
    EXPECT_FALSE(fleet.takes_delta(*fleet.find(1), *next));  // has acked nothing
    fleet.on_ack(1, Ack{"1", "h0", "r1"}, t0);
    EXPECT_EQ(fleet.frame_for(*fleet.find(1), *next), "full");  // acked another version
    fleet.on_ack(1, Ack{"1", "h1", "r1"}, t0);
    EXPECT_EQ(fleet.frame_for(*fleet.find(1), *next), "delta");
    fleet.on_sent(1, "2", t0, true);
    EXPECT_EQ(router(fleet, 0)["last_push"], "delta");
    EXPECT_EQ(router(fleet, 0)["deltas"], true);
    EXPECT_EQ(fleet.totals().deltas, 1u);

    Nack refusal{"2", "not my base", "1", "r1"};
    refusal.need_full = true;
    fleet.on_nack(1, refusal, t0);
    EXPECT_EQ(fleet.frame_for(*fleet.find(1), *next), "full");
    EXPECT_TRUE(router(fleet, 0)["last_nack"].is_null());  // not a refusal of the config
    EXPECT_EQ(fleet.totals().delta_refusals, 1u);
    EXPECT_EQ(fleet.totals().nacks, 0u);
    fleet.on_sent(1, "2", t0, false);
    EXPECT_EQ(router(fleet, 0)["last_push"], "full");
    EXPECT_EQ(fleet.frame_for(*fleet.find(1), *next), "delta");  // the full one was written

    auto without = std::make_shared<Snapshot>(*next);
    without->delta_frame.clear();
    EXPECT_EQ(fleet.frame_for(*fleet.find(1), *without), "full");
}

}  // namespace
}  // namespace cell::controlplane
