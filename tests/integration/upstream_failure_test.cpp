// What the client sees when a cell is down, slow, dies mid-response or drops a pooled
// connection, and that healthy upstream connections are kept and reused.

#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>

#include "full_backlog_listener.hpp"
#include "harness.hpp"

namespace cell::testing {
namespace {

Deployment::Options without_router() {
    Deployment::Options options;
    options.start_router = false;
    return options;
}

// The router's own error answer: status, JSON error code and the routing headers.
void expect_router_error(const Response& response, int status, const std::string& error, const std::string& routed_to,
                         const std::string& reason) {
    EXPECT_EQ(response.status, status) << response.body;
    EXPECT_EQ(response.header("Content-Type"), "application/json");
    EXPECT_EQ(response.json().value("error", ""), error) << response.body;
    EXPECT_EQ(response.header("X-Routed-To"), routed_to);
    EXPECT_EQ(response.header("X-Route-Reason"), reason);
    EXPECT_FALSE(response.header("X-Request-Id").empty());
}

// The router survived the failure and still serves a healthy placement.
void expect_router_alive(Deployment& deployment) {
    EXPECT_TRUE(deployment.router().running()) << "router exited; stderr: " << deployment.router().stderr_text();
    const auto response = request(deployment.router_port(), "GET", "/alive", {{"X-Routing-Key", "acme"}});
    EXPECT_EQ(response.status, 200);
}

// The message read_response throws with, or "" when it returns a complete response.
std::string read_failure(Connection& connection) {
    try {
        connection.read_response();
    } catch (const std::runtime_error& error) {
        return error.what();
    }
    return "";
}

// A placement whose endpoint has nothing listening gets 502 connect_failed, with the
// routing headers.
TEST(UpstreamFailureTest, UnreachableCellIs502) {
    Deployment deployment(without_router());
    start_router_with_endpoint(deployment, "visa", "http://127.0.0.1:" + std::to_string(free_port()),
                               {"--connect-timeout", "300ms"});
    const auto response = request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "visa"}});
    expect_router_error(response, 502, "connect_failed", "visa", "dedicated");
    EXPECT_EQ(response.header("Proxy-Status").rfind("cellrouter; error=connection_refused; details=\"", 0), 0u)
        << response.header("Proxy-Status");
}

// A connect that never completes (the cell's accept queue is full) is given up after the
// placement's connect timeout: 502 naming the timeout, and the client connection stays usable.
TEST(UpstreamFailureTest, ConnectTimeoutIs502WithinTheTimeout) {
    FullBacklogListener stuck_cell;
    Deployment deployment(without_router());
    start_router_with_endpoint(deployment, "visa", stuck_cell.url(), {"--connect-timeout", "500ms"});
    Connection connection(deployment.router_port());
    const auto started = std::chrono::steady_clock::now();
    connection.send(make_request("GET", "/", {{"X-Routing-Key", "visa"}}));
    const auto response = connection.read_response();
    const auto took = std::chrono::steady_clock::now() - started;
    expect_router_error(response, 502, "connect_failed", "visa", "dedicated");
    EXPECT_NE(response.json().value("message", "").find("timed out"), std::string::npos) << response.body;
    EXPECT_EQ(response.header("Proxy-Status"),
              "cellrouter; error=connection_timeout; details=\"connect to the cell timed out\"");
    EXPECT_GE(took, 450ms) << "answered before the connect timeout: the connect did not hang";
    EXPECT_LT(took, 2s) << "the 500ms connect timeout was not applied";
    connection.send(make_request("GET", "/", {{"X-Routing-Key", "acme"}}));
    EXPECT_EQ(connection.read_response().status, 200);
}

// A cell endpoint whose host name never resolves (.invalid, RFC 6761) gets 502 saying which
// host could not be resolved; the router keeps serving.
TEST(UpstreamFailureTest, UnresolvableCellHostIs502NamingTheHost) {
    Deployment deployment(without_router());
    start_router_with_endpoint(deployment, "visa", "http://cell-visa.invalid:8080", {"--connect-timeout", "500ms"});
    const auto response = request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "visa"}});
    expect_router_error(response, 502, "connect_failed", "visa", "dedicated");
    const std::string message = response.json().value("message", "");
    EXPECT_NE(message.find("cannot resolve"), std::string::npos) << message;
    EXPECT_NE(message.find("cell-visa.invalid"), std::string::npos) << message;
    EXPECT_EQ(response.header("Proxy-Status").rfind("cellrouter; error=dns_error;", 0), 0u)
        << response.header("Proxy-Status");
    expect_router_alive(deployment);
}

// After answering 502 for an unreachable cell the router logs the failure and keeps serving.
TEST(UpstreamFailureTest, RouterKeepsServingAfterUnreachableCell) {
    Deployment deployment(without_router());
    start_router_with_endpoint(deployment, "visa", "http://127.0.0.1:" + std::to_string(free_port()),
                               {"--connect-timeout", "300ms"});
    ASSERT_EQ(request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "visa"}}).status, 502);
    expect_router_alive(deployment);
    const auto line = deployment.router().wait_for_line(
        [](const Json& l) { return l.value("event", "") == "access" && l.value("status_code", 0) == 502; });
    ASSERT_TRUE(line.has_value()) << deployment.router().stderr_text();
    EXPECT_EQ((*line)["error_source"], "upstream");
    EXPECT_EQ((*line)["outcome"], "connect_failed");
    EXPECT_EQ((*line)["placement_key"], "visa");
}

// A cell that was reachable and then stopped gets 502 connect_failed, even with a
// connection to it in the pool.
TEST(UpstreamFailureTest, StoppedCellIs502) {
    Deployment deployment(Deployment::Options{.router_flags = {"--connect-timeout", "300ms"}});
    Connection connection(deployment.router_port());
    connection.send(make_request("GET", "/", {{"X-Routing-Key", "acme"}}));
    ASSERT_EQ(connection.read_response().status, 200);
    ASSERT_TRUE(deployment.cell("tier1").kill_abruptly());
    connection.send(make_request("GET", "/", {{"X-Routing-Key", "acme"}}));
    expect_router_error(connection.read_response(), 502, "connect_failed", "tier1", "tier");
}

// No response headers within --request-timeout gets 504 upstream_timeout; a quicker cell is
// still served, and the timed-out connection is never reused for another request.
TEST(UpstreamFailureTest, SlowCellIs504) {
    Deployment deployment(Deployment::Options{.router_flags = {"--request-timeout", "500ms"}});
    const auto slow = request(deployment.router_port(), "GET", "/slow?delay_ms=2000", {{"X-Routing-Key", "acme"}});
    expect_router_error(slow, 504, "upstream_timeout", "tier1", "tier");

    const auto quick = request(deployment.router_port(), "GET", "/quick?delay_ms=50", {{"X-Routing-Key", "acme"}});
    ASSERT_EQ(quick.status, 200);
    EXPECT_EQ(quick.json()["path"], "/quick");
    EXPECT_TRUE(deployment.router().running());
}

// A cell that dies mid-body (Content-Length announced, fewer bytes sent) never yields a
// complete-looking response: the client connection is closed mid-body.
TEST(UpstreamFailureTest, AbortedContentLengthBodyIsCutOff) {
    Deployment deployment;
    Connection connection(deployment.router_port());
    connection.send(make_request("GET", "/?abort_after=1000", {{"X-Routing-Key", "acme"}}));
    EXPECT_EQ(read_failure(connection), "connection closed mid-body");
    expect_router_alive(deployment);
}

// A cell that dies mid-way through a chunked body: the client never gets the terminating chunk.
TEST(UpstreamFailureTest, AbortedChunkedBodyHasNoTerminatingChunk) {
    Deployment deployment;
    Connection connection(deployment.router_port());
    connection.send(make_request("GET", "/?abort_after=100000&chunked=1", {{"X-Routing-Key", "acme"}}));
    const auto failure = read_failure(connection);
    EXPECT_EQ(failure.rfind("connection closed mid-", 0), 0u) << "got: '" << failure << "'";

    const auto raw = raw_exchange(deployment.router_port(),
                                  make_request("GET", "/?abort_after=100000&chunked=1", {{"X-Routing-Key", "acme"}}));
    ASSERT_EQ(raw.rfind("HTTP/1.1 200", 0), 0u) << raw.substr(0, 200);
    EXPECT_EQ(raw.find("\r\n0\r\n\r\n"), std::string::npos) << "a terminating chunk made the body look complete";
    expect_router_alive(deployment);
}

// Sequential requests to one cell share a few upstream keep-alive connections instead of
// opening one each.
TEST(UpstreamFailureTest, UpstreamConnectionsAreReused) {
    Deployment deployment;  // two router threads, each with its own pool
    const auto cell_port = deployment.cell_port("tier2");
    const auto before = connections_to_port(cell_port);

    Connection connection(deployment.router_port());
    for (int i = 0; i < 20; ++i) {
        connection.send(make_request("GET", "/reuse", {{"X-Routing-Key", "globex"}}));
        ASSERT_EQ(connection.read_response().status, 200);
    }
    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(request(deployment.router_port(), "GET", "/reuse", {{"X-Routing-Key", "globex"}}).status, 200);
    }

    std::vector<unsigned short> opened;
    for (const auto port : connections_to_port(cell_port)) {
        if (std::find(before.begin(), before.end(), port) == before.end()) {
            opened.push_back(port);
        }
    }
    EXPECT_GE(opened.size(), 1u);
    EXPECT_LE(opened.size(), 2u) << "30 requests opened " << opened.size() << " connections to the cell";
}

// A cell restarted on the same port (its pooled connections now dead) is reached again by the
// next request.
TEST(UpstreamFailureTest, RestartedCellIsReachedAgain) {
    Deployment deployment;
    Connection connection(deployment.router_port());
    connection.send(make_request("GET", "/before-restart", {{"X-Routing-Key", "acme"}}));
    ASSERT_EQ(connection.read_response().status, 200);

    restart_cell_on_same_port(deployment, "tier1");
    connection.send(make_request("GET", "/after-restart", {{"X-Routing-Key", "acme"}}));
    const auto response = connection.read_response();
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.json()["path"], "/after-restart");
    // The cell logs a request just after writing its response.
    EXPECT_TRUE(eventually([&] { return !cell_request_lines(deployment, "/after-restart").empty(); }));
}

// A pooled connection the cell closes after reading a bodiless request (the keep-alive race)
// is retried once on a fresh connection, invisibly to the client.
TEST(UpstreamFailureTest, StalePooledConnectionIsRetriedForBodilessRequest) {
    FakeUpstream upstream([](int fd, int index) {
        if (index == 0) {
            if (fake_read_head(fd).empty()) {
                return;
            }
            fake_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
            fake_read_head(fd);  // then close without answering
            return;
        }
        while (!fake_read_head(fd).empty()) {
            fake_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond");
        }
    });
    Deployment deployment(without_router());
    start_router_with_endpoint(deployment, "visa", upstream.url());

    Connection connection(deployment.router_port());
    connection.send(make_request("GET", "/", {{"X-Routing-Key", "visa"}}));
    const auto first = connection.read_response();
    ASSERT_EQ(first.status, 200);
    EXPECT_EQ(first.body, "first");
    connection.send(make_request("GET", "/", {{"X-Routing-Key", "visa"}}));
    const auto second = connection.read_response();
    EXPECT_EQ(second.status, 200) << second.body;
    EXPECT_EQ(second.body, "second");
    EXPECT_EQ(upstream.connections(), 2);
}

// A request with a body is never retried (the cell may have acted on it): 502 instead.
TEST(UpstreamFailureTest, RequestWithBodyIsNotRetried) {
    FakeUpstream upstream([](int fd, int index) {
        if (index == 0) {
            if (fake_read_head(fd).empty()) {
                return;
            }
            fake_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
            if (!fake_read_head(fd).empty()) {
                fake_read_exact(fd, 3);  // then close without answering
            }
            return;
        }
        while (!fake_read_head(fd).empty()) {
            fake_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nretried");
        }
    });
    Deployment deployment(without_router());
    start_router_with_endpoint(deployment, "visa", upstream.url());

    Connection connection(deployment.router_port());
    connection.send(make_request("GET", "/", {{"X-Routing-Key", "visa"}}));
    ASSERT_EQ(connection.read_response().body, "first");
    connection.send(make_request("POST", "/", {{"X-Routing-Key", "visa"}}, "abc"));
    const auto response = connection.read_response();
    expect_router_error(response, 502, "upstream_reset", "visa", "dedicated");
    EXPECT_EQ(upstream.connections(), 1);
    expect_router_alive(deployment);
}

// An upstream answering with something that is not HTTP gets 502 bad_upstream_response.
TEST(UpstreamFailureTest, InvalidUpstreamResponseIs502) {
    FakeUpstream upstream([](int fd, int) {
        if (!fake_read_head(fd).empty()) {
            fake_send(fd, "NOT-HTTP garbage\r\n\r\n");
        }
    });
    Deployment deployment(without_router());
    start_router_with_endpoint(deployment, "visa", upstream.url());
    const auto response = request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "visa"}});
    expect_router_error(response, 502, "bad_upstream_response", "visa", "dedicated");
    expect_router_alive(deployment);
}

}  // namespace
}  // namespace cell::testing
