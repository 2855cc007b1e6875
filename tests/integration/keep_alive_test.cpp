// Which router-made answers keep the client connection open, as docs/architecture.md's status
// table promises: an answer after which the stream can still be trusted (a routing-key error, a
// limit refusal of a bodiless request, a cell that cannot be reached) keeps it; an answer to a
// request whose body stays unread or whose framing is suspect (405, 417, 413) closes it.

#include <gtest/gtest.h>

#include <string>

#include "harness.hpp"

namespace cell::testing {
namespace {

Deployment::Options without_router() {
    Deployment::Options options;
    options.start_router = false;
    return options;
}

// The connection was kept: no "Connection: close", and the next request on it is served.
void expect_kept(Connection& connection, const Response& response) {
    EXPECT_NE(response.header("Connection"), "close");
    connection.send(make_request("GET", "/after", {{"X-Routing-Key", "acme"}}));
    const auto next = connection.read_response();
    EXPECT_EQ(next.status, 200) << next.body;
    EXPECT_EQ(next.header("X-Routed-To"), "tier1");
}

// The router said so and closed: "Connection: close", then EOF.
void expect_closed(Connection& connection, const Response& response) {
    EXPECT_EQ(response.header("Connection"), "close");
    EXPECT_TRUE(connection.closed_by_peer(5s)) << "the connection stayed open";
}

TEST(KeepAlive, MissingRoutingKeyKeepsTheConnection) {
    Deployment deployment;
    Connection connection(deployment.router_port());
    connection.send(make_request("GET", "/"));
    const auto response = connection.read_response();
    ASSERT_EQ(response.status, 400) << response.body;
    EXPECT_EQ(response.json()["error"], "missing_key");
    expect_kept(connection, response);
}

TEST(KeepAlive, RateLimitedBodilessRequestKeepsTheConnection) {
    Deployment deployment(without_router());
    deployment.write_config(with_placements(
        deployment.config(), Json{{"tier2", {{"type", "shared"}, {"rate_limit", {{"requests_per_second", 0.1}, {"burst", 1}}}}}}));
    deployment.start_router();
    Connection connection(deployment.router_port());
    connection.send(make_request("GET", "/", {{"X-Routing-Key", "globex"}}));
    ASSERT_EQ(connection.read_response().status, 200);
    connection.send(make_request("GET", "/", {{"X-Routing-Key", "globex"}}));
    const auto response = connection.read_response();
    ASSERT_EQ(response.status, 429) << response.body;
    EXPECT_FALSE(response.header("Retry-After").empty());
    expect_kept(connection, response);
}

// A cell that cannot be reached leaves the client's stream intact: the 502 keeps the connection.
TEST(KeepAlive, UnreachableCellKeepsTheConnection) {
    Deployment deployment(without_router());
    start_router_with_endpoint(deployment, "visa", "http://127.0.0.1:" + std::to_string(free_port()));
    Connection connection(deployment.router_port());
    connection.send(make_request("GET", "/", {{"X-Routing-Key", "visa"}}));
    const auto response = connection.read_response();
    ASSERT_EQ(response.status, 502) << response.body;
    EXPECT_EQ(response.json()["error"], "connect_failed");
    expect_kept(connection, response);
}

// With a request body the router never read, the same 502 must close: the body would be taken
// for the next request.
TEST(KeepAlive, UnreachableCellWithUnreadBodyClosesTheConnection) {
    Deployment deployment(without_router());
    start_router_with_endpoint(deployment, "visa", "http://127.0.0.1:" + std::to_string(free_port()));
    Connection connection(deployment.router_port());
    connection.send(make_request("POST", "/", {{"X-Routing-Key", "visa"}}, "GET /smuggled HTTP/1.1\r\n\r\n"));
    const auto response = connection.read_response();
    ASSERT_EQ(response.status, 502) << response.body;
    expect_closed(connection, response);
}

TEST(KeepAlive, ConnectIsAnsweredWith405AndClosed) {
    Deployment deployment;
    Connection connection(deployment.router_port());
    connection.send("CONNECT cell.test:443 HTTP/1.1\r\nHost: cell.test:443\r\nX-Routing-Key: acme\r\n\r\n");
    const auto response = connection.read_response();
    ASSERT_EQ(response.status, 405) << response.body;
    expect_closed(connection, response);
}

TEST(KeepAlive, UnsupportedExpectationIsAnsweredWith417AndClosed) {
    Deployment deployment;
    Connection connection(deployment.router_port());
    connection.send(make_request("GET", "/", {{"X-Routing-Key", "acme"}, {"Expect", "a-pony"}}));
    const auto response = connection.read_response();
    ASSERT_EQ(response.status, 417) << response.body;
    expect_closed(connection, response);
}

TEST(KeepAlive, BodyOverTheLimitIsAnsweredWith413AndClosed) {
    Deployment deployment(without_router());
    deployment.write_config(
        with_placements(deployment.config(), Json{{"tier1", {{"type", "shared"}, {"max_request_body_bytes", 16}}}}));
    deployment.start_router();
    Connection connection(deployment.router_port());
    connection.send(make_request("POST", "/", {{"X-Routing-Key", "acme"}}, std::string(64, 'b')));
    const auto response = connection.read_response();
    ASSERT_EQ(response.status, 413) << response.body;
    expect_closed(connection, response);
}

}  // namespace
}  // namespace cell::testing
