// Routing by X-Routing-Key through the real router to real demo cells.

#include <gtest/gtest.h>

#include <regex>

#include "harness.hpp"

namespace cell::testing {
namespace {

class RoutingTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { deployment_ = new Deployment(); }
    static void TearDownTestSuite() {
        delete deployment_;
        deployment_ = nullptr;
    }
    static Deployment* deployment_;

    Response get(const std::map<std::string, std::string>& headers, const std::string& target = "/") {
        return request(deployment_->router_port(), "GET", target, headers);
    }
};

Deployment* RoutingTest::deployment_ = nullptr;

// A dedicated placement answers with reason "dedicated".
TEST_F(RoutingTest, DedicatedKeyGoesToItsCell) {
    const auto response = get({{"X-Routing-Key", "visa"}});
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.header("X-Routed-To"), "visa");
    EXPECT_EQ(response.header("X-Route-Reason"), "dedicated");
    EXPECT_EQ(response.json()["cell"], "visa");
    EXPECT_EQ(response.header("X-Cell-Name"), "visa");
}

// Keys mapped to tierN placements answer with reason "tier".
TEST_F(RoutingTest, TierKeysGoToTheirTier) {
    const std::vector<std::pair<std::string, std::string>> cases{{"acme", "tier1"}, {"globex", "tier2"}, {"initech", "tier3"}};
    for (const auto& [key, placement] : cases) {
        const auto response = get({{"X-Routing-Key", key}});
        EXPECT_EQ(response.status, 200) << key;
        EXPECT_EQ(response.header("X-Routed-To"), placement) << key;
        EXPECT_EQ(response.header("X-Route-Reason"), "tier") << key;
        EXPECT_EQ(response.json()["cell"], placement) << key;
    }
}

// Unknown keys go to the default placement with reason "default", never an error.
TEST_F(RoutingTest, UnknownKeyGoesToDefault) {
    const auto response = get({{"X-Routing-Key", "unknown-tenant"}});
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.header("X-Routed-To"), "tier3");
    EXPECT_EQ(response.header("X-Route-Reason"), "default");
}

// Routing keys are case-sensitive: "VISA" is not "visa".
TEST_F(RoutingTest, RoutingKeysAreCaseSensitive) {
    const auto response = get({{"X-Routing-Key", "VISA"}});
    EXPECT_EQ(response.header("X-Route-Reason"), "default");
}

// Missing or empty X-Routing-Key: 400 with a JSON error, answered by the router.
TEST_F(RoutingTest, MissingOrEmptyKeyIs400) {
    for (const auto& headers : std::vector<std::map<std::string, std::string>>{{}, {{"X-Routing-Key", ""}}}) {
        const auto response = get(headers);
        EXPECT_EQ(response.status, 400);
        EXPECT_EQ(response.header("Content-Type"), "application/json");
        EXPECT_EQ(response.json()["error"], "missing_key");
        EXPECT_FALSE(response.header("X-Request-Id").empty());
    }
}

// Repeated X-Routing-Key with different values is ambiguous: 400.
TEST_F(RoutingTest, ConflictingKeysAre400) {
    Connection connection(deployment_->router_port());
    connection.send("GET / HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\nX-Routing-Key: visa\r\n\r\n");
    const auto response = connection.read_response();
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(response.json()["error"], "conflicting_key");
}

// Repeated X-Routing-Key with the same value is not ambiguous.
TEST_F(RoutingTest, RepeatedIdenticalKeysAreAccepted) {
    Connection connection(deployment_->router_port());
    connection.send("GET / HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\nX-Routing-Key: acme\r\n\r\n");
    const auto response = connection.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.header("X-Routed-To"), "tier1");
}

// The client's X-Request-Id is kept end to end; otherwise a 128-bit hex id is generated.
TEST_F(RoutingTest, RequestIdIsKeptOrGenerated) {
    const auto kept = get({{"X-Routing-Key", "acme"}, {"X-Request-Id", "abc-123"}});
    EXPECT_EQ(kept.header("X-Request-Id"), "abc-123");
    EXPECT_EQ(kept.json()["headers"]["X-Request-Id"], "abc-123");

    const auto generated = get({{"X-Routing-Key", "acme"}});
    const auto id = generated.header("X-Request-Id");
    EXPECT_EQ(id.size(), 32u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_EQ(generated.json()["headers"]["X-Request-Id"], id);
}

// The cell sees X-Forwarded-For (client appended), X-Forwarded-Proto and the client's Host.
TEST_F(RoutingTest, ForwardingHeadersReachTheCell) {
    const auto response = get({{"X-Routing-Key", "acme"}, {"X-Forwarded-For", "203.0.113.7"}, {"Host", "shop.example"}});
    const auto headers = response.json()["headers"];
    EXPECT_EQ(headers["X-Forwarded-For"], "203.0.113.7, 127.0.0.1");
    EXPECT_EQ(headers["X-Forwarded-Proto"], "http");
    EXPECT_EQ(headers["Host"], "shop.example");
    EXPECT_EQ(headers["X-Routing-Key"], "acme");
}

// Method, path and query reach the cell byte-exact, including odd but legal characters.
TEST_F(RoutingTest, TargetIsForwardedByteExact) {
    const std::string target = "/a/b%2Fc/./d?x=1&y=%20z&empty=&x=2";
    const auto response = request(deployment_->router_port(), "DELETE", target, {{"X-Routing-Key", "visa"}});
    const auto body = response.json();
    EXPECT_EQ(body["method"], "DELETE");
    EXPECT_EQ(body["target"], target);
    EXPECT_EQ(body["query"], "x=1&y=%20z&empty=&x=2");
}

// /debug/config on the main port is answered by the router, as in the seed's quick start.
TEST_F(RoutingTest, DebugConfigOnMainPort) {
    const auto response = get({}, "/debug/config");
    EXPECT_EQ(response.status, 200);
    const auto body = response.json();
    EXPECT_EQ(body["version"], "1.0.0");
    EXPECT_EQ(body["source"], "file");
    EXPECT_EQ(body["routing_keys"], 4);
    EXPECT_EQ(body["placement_count"], 4);
    EXPECT_EQ(body["content_hash"].get<std::string>().size(), 64u);
}

// One access-log line per request, with the routing decision.
TEST_F(RoutingTest, AccessLogHasTheDecision) {
    const auto response = get({{"X-Routing-Key", "globex"}, {"X-Request-Id", "log-check-1"}});
    ASSERT_EQ(response.status, 200);
    const auto line = deployment_->router().wait_for_line(
        [](const Json& l) { return l.value("event", "") == "access" && l.value("request_id", "") == "log-check-1"; });
    ASSERT_TRUE(line.has_value());
    EXPECT_EQ((*line)["routing_key"], "globex");
    EXPECT_EQ((*line)["placement_key"], "tier2");
    EXPECT_EQ((*line)["route_reason"], "tier");
    EXPECT_EQ((*line)["status_code"], 200);
    EXPECT_EQ((*line)["method"], "GET");
    EXPECT_EQ((*line)["path"], "/");
    ASSERT_TRUE((*line)["duration_ms"].is_number()) << line->dump();
    EXPECT_GE((*line)["duration_ms"].get<double>(), 0.0);
    EXPECT_LT((*line)["duration_ms"].get<double>(), 10000.0);
    EXPECT_EQ((*line)["upstream_url"], "http://127.0.0.1:" + std::to_string(deployment_->cell_port("tier2")));
    EXPECT_EQ((*line)["bytes_in"], 0);  // a GET has no body
    EXPECT_EQ((*line)["bytes_out"], response.body.size());
    const std::regex rfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))");
    EXPECT_TRUE(std::regex_match((*line)["timestamp"].get<std::string>(), rfc3339)) << (*line)["timestamp"];
}

}  // namespace
}  // namespace cell::testing
