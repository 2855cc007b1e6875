// Which control-plane replica a router tries next: its own random order, the next replica at once
// within a round, a backoff pause once all were tried, a new round after a healthy connection;
// and the parsing of the replica list.

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "cell/controlplane/client.hpp"
#include "cell/controlplane/replica_rotation.hpp"

namespace cell::controlplane {
namespace {

// The order is a permutation of the list, fixed by the seed.
TEST(ReplicaRotation, OrderIsAPermutationFixedBySeed) {
    const ReplicaRotation rotation(5, 7);
    auto sorted = rotation.order();
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, (std::vector<std::size_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(ReplicaRotation(5, 7).order(), rotation.order());
    EXPECT_EQ(rotation.current(), rotation.order()[0]);
}

// A fleet with one list spreads over the replicas: first choices and the replica after a given
// one both vary between routers.
TEST(ReplicaRotation, AFleetSpreadsOverTheReplicas) {
    std::set<std::size_t> first;
    std::set<std::size_t> after_replica_0;
    for (std::uint64_t seed = 0; seed < 200; ++seed) {
        ReplicaRotation rotation(3, seed);
        first.insert(rotation.current());
        const auto& order = rotation.order();
        const auto at = std::find(order.begin(), order.end(), std::size_t{0}) - order.begin();
        after_replica_0.insert(order[static_cast<std::size_t>(at + 1) % order.size()]);
    }
    EXPECT_EQ(first, (std::set<std::size_t>{0, 1, 2}));
    EXPECT_EQ(after_replica_0, (std::set<std::size_t>{1, 2}));
}

// Failures move to the next replica at once until every replica was tried; then one pause, and
// the next round goes on in the same order.
TEST(ReplicaRotation, PausesOnlyAfterEveryReplicaWasTried) {
    ReplicaRotation rotation(3, 11);
    const auto order = rotation.order();
    std::vector<std::size_t> tried;
    std::vector<bool> pauses;
    for (int attempt = 0; attempt < 6; ++attempt) {
        tried.push_back(rotation.current());
        pauses.push_back(rotation.advance(false));
    }
    EXPECT_EQ(tried, (std::vector<std::size_t>{order[0], order[1], order[2], order[0], order[1], order[2]}));
    EXPECT_EQ(pauses, (std::vector<bool>{false, false, true, false, false, true}));
}

// A healthy connection that ends starts a new round: the other replicas are tried at once, and
// the pause comes only when they failed too.
TEST(ReplicaRotation, HealthyConnectionStartsANewRound) {
    ReplicaRotation rotation(3, 3);
    const auto order = rotation.order();
    EXPECT_FALSE(rotation.advance(false));  // order[0] refused
    EXPECT_EQ(rotation.current(), order[1]);
    EXPECT_FALSE(rotation.advance(true));  // order[1] served for a while, then died
    EXPECT_EQ(rotation.current(), order[2]);
    EXPECT_FALSE(rotation.advance(false));  // order[2] refused
    EXPECT_EQ(rotation.current(), order[0]);
    EXPECT_TRUE(rotation.advance(false));  // order[0] refused: all three failed since order[1] was up
    EXPECT_EQ(rotation.current(), order[1]);
}

// One replica: a pause after every attempt, healthy or not (the single-URL behaviour).
TEST(ReplicaRotation, SingleReplicaAlwaysPauses) {
    ReplicaRotation rotation(1, 5);
    for (int attempt = 0; attempt < 3; ++attempt) {
        EXPECT_TRUE(rotation.advance(attempt == 1));
        EXPECT_EQ(rotation.current(), 0u);
    }
}

// The list is split on commas, trimmed, and each entry parsed.
TEST(ControlPlaneUrls, ParsesEachEntry) {
    const auto parsed = parse_control_plane_urls(" ws://a:8081/connect ,ws://b/connect?x=1");
    ASSERT_TRUE(std::holds_alternative<std::vector<ControlPlaneReplica>>(parsed)) << std::get<std::string>(parsed);
    const auto& replicas = std::get<std::vector<ControlPlaneReplica>>(parsed);
    ASSERT_EQ(replicas.size(), 2u);
    EXPECT_EQ(replicas[0].url, "ws://a:8081/connect");
    EXPECT_EQ(replicas[0].endpoint.host, "a");
    EXPECT_EQ(replicas[0].endpoint.port, 8081);
    EXPECT_EQ(replicas[0].endpoint.target, "/connect");
    EXPECT_EQ(replicas[1].url, "ws://b/connect?x=1");
    EXPECT_EQ(replicas[1].endpoint.port, 80);
    EXPECT_EQ(replicas[1].endpoint.target, "/connect?x=1");
}

// Errors name the entry: not ws://, empty, repeated.
TEST(ControlPlaneUrls, ErrorsNameTheEntry) {
    const auto error = [](std::string_view list) {
        const auto parsed = parse_control_plane_urls(list);
        return std::holds_alternative<std::string>(parsed) ? std::get<std::string>(parsed) : "(no error)";
    };
    EXPECT_EQ(error("ws://a/connect,wss://b/connect"),
              "\"wss://b/connect\" must be a ws:// URL with a host, e.g. ws://control-plane:8081/connect");
    EXPECT_EQ(error("ws://a/connect, ,ws://b/connect"), "entry 2 of the list is empty");
    EXPECT_EQ(error(","), "entry 1 of the list is empty");
    EXPECT_EQ(error("ws://a/connect,ws://b/connect,ws://a/connect"), "\"ws://a/connect\" is listed twice");
}

}  // namespace
}  // namespace cell::controlplane
