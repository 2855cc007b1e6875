// Defects an outside review found in how the router reads a request, each checked on the wire:
// an HTTP/1.0 chunked request (smuggling), Host validation and generation, the Content-Length
// bound, and the HTTP versions the router reads.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

#include "harness.hpp"
#include "shared_deployment.hpp"

namespace cell::testing {
namespace {

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

// Values of every header called `name` (case-insensitive) that the cell received.
std::vector<std::string> received_values(const Json& echo, const std::string& name) {
    std::vector<std::string> values;
    for (const auto& field : echo.at("all_headers")) {
        if (lower(field.at(0).get<std::string>()) == lower(name)) {
            values.push_back(field.at(1).get<std::string>());
        }
    }
    return values;
}

class HttpHardeningTest : public SharedDeploymentTest<HttpHardeningTest> {
protected:
    static std::string cell_authority(const std::string& cell) {
        return "127.0.0.1:" + std::to_string(deployment_->cell_port(cell));
    }
};

// RFC 9112 §6.1: Transfer-Encoding from an HTTP/1.0 sender is faulty framing. Whatever its
// Connection header asks, the request is refused, the connection closed, and neither it nor a
// request hidden behind it reaches a cell.
TEST_F(HttpHardeningTest, Http10ChunkedRequestIsRefusedAndClosed) {
    expect_refused(
        "POST /smuggle-http10-chunked HTTP/1.0\r\nConnection: keep-alive\r\nX-Routing-Key: acme\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
        "0\r\n\r\n"
        "GET /smuggled-after-http10-chunked HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\n\r\n",
        {"/smuggle-http10-chunked", "/smuggled-after-http10-chunked"});
    // With Content-Length as well: still refused, not read by either framing.
    expect_refused(
        "POST /smuggle-http10-cl-te HTTP/1.0\r\nConnection: keep-alive\r\nX-Routing-Key: acme\r\n"
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        {"/smuggle-http10-cl-te"});
}

// An HTTP/1.0 request with Content-Length and keep-alive stays usable: only Transfer-Encoding
// makes 1.0 framing faulty.
TEST_F(HttpHardeningTest, Http10KeepAliveWithContentLengthKeepsTheConnection) {
    Connection connection(port());
    connection.send("POST /http10-keep-alive HTTP/1.0\r\nConnection: keep-alive\r\nX-Routing-Key: acme\r\n"
                    "Content-Length: 5\r\n\r\nhello");
    const auto first = connection.read_response();
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_EQ(first.version, "HTTP/1.0");
    EXPECT_EQ(lower(first.header("Connection")), "keep-alive");
    EXPECT_EQ(first.json()["body_bytes"], 5);
    connection.send("GET /http10-keep-alive-2 HTTP/1.0\r\nX-Routing-Key: acme\r\n\r\n");
    const auto second = connection.read_response();
    EXPECT_EQ(second.status, 200);
    EXPECT_EQ(second.json()["path"], "/http10-keep-alive-2");
}

// Every request the router sends upstream carries Host: the cell's authority when an HTTP/1.0
// client sent none or an HTTP/1.1 client an empty one.
TEST_F(HttpHardeningTest, CellAlwaysReceivesHost) {
    const struct {
        std::string raw;
        std::string host;
    } cases[] = {
        {"GET /host-http10-none HTTP/1.0\r\nX-Routing-Key: visa\r\n\r\n", cell_authority("visa")},
        {"GET /host-http11-empty HTTP/1.1\r\nHost:\r\nX-Routing-Key: visa\r\n\r\n", cell_authority("visa")},
        {"GET /host-http10-empty HTTP/1.0\r\nHost: \r\nX-Routing-Key: acme\r\n\r\n", cell_authority("tier1")},
        {"GET /host-given HTTP/1.1\r\nHost: shop.example:8443\r\nX-Routing-Key: visa\r\n\r\n", "shop.example:8443"},
        {"GET /host-ipv6 HTTP/1.1\r\nHost: [::1]:8080\r\nX-Routing-Key: visa\r\n\r\n", "[::1]:8080"},
    };
    for (const auto& c : cases) {
        Connection connection(port());
        connection.send(c.raw);
        const auto response = connection.read_response();
        ASSERT_EQ(response.status, 200) << c.raw << response.body;
        const auto echo = response.json();
        EXPECT_EQ(echo["http_version"], "1.1") << c.raw;
        EXPECT_EQ(received_values(echo, "Host"), std::vector<std::string>{c.host}) << c.raw;
    }
}

// RFC 9112 §3.2: a Host that is not uri-host [":" port] is answered 400 and never forwarded.
TEST_F(HttpHardeningTest, InvalidHostIsRefused) {
    int n = 0;
    for (const std::string host : {"a, b", "a b/c", "a/b", "user@shop.example", "shop:port", "[::1", "a:80:80"}) {
        const std::string path = "/bad-host-" + std::to_string(++n);
        expect_refused("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nX-Routing-Key: acme\r\n\r\n", {path});
    }
}

// A Content-Length over 2^63-1 is refused with 400 and the connection closed, as nginx and
// HAProxy do; one that overflows 64 bits too.
TEST_F(HttpHardeningTest, HugeContentLengthIsRefused) {
    expect_refused("POST /cl-2-63 HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\nContent-Length: 9223372036854775808\r\n\r\n",
                   {"/cl-2-63"});
    expect_refused(
        "POST /cl-2-64 HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\nContent-Length: 18446744073709551616\r\n\r\n",
        {"/cl-2-64"});
}

// RFC 9110 §2.5: a higher minor version of HTTP/1 is handled as HTTP/1.1, keep-alive included.
TEST_F(HttpHardeningTest, HigherMinorVersionIsServedAsHttp11) {
    Connection connection(port());
    connection.send("GET /http-1-2 HTTP/1.2\r\nHost: x\r\nX-Routing-Key: acme\r\n\r\n");
    const auto response = connection.read_response();
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.version, "HTTP/1.1");
    EXPECT_EQ(response.header("X-Routed-To"), "tier1");
    EXPECT_EQ(response.json()["http_version"], "1.1");
    connection.send("GET /http-1-9 HTTP/1.9\r\nHost: x\r\nX-Routing-Key: visa\r\n\r\n");
    const auto second = connection.read_response();
    EXPECT_EQ(second.status, 200);
    EXPECT_EQ(second.header("X-Routed-To"), "visa");
}

// Another major version is well-formed but not served: 505, then close. Garbage is a 400.
TEST_F(HttpHardeningTest, OtherHttpVersionsAreRefused) {
    expect_refused("GET /http-2-0 HTTP/2.0\r\nHost: x\r\nX-Routing-Key: acme\r\n\r\n", {"/http-2-0"}, 505);
    expect_refused("GET /http-0-9 HTTP/0.9\r\nHost: x\r\nX-Routing-Key: acme\r\n\r\n", {"/http-0-9"}, 505);
    expect_refused("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", {}, 505);
    expect_refused("GET /http-1-10 HTTP/1.10\r\nHost: x\r\nX-Routing-Key: acme\r\n\r\n", {"/http-1-10"});
    expect_refused("GET /http-lower http/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\n\r\n", {"/http-lower"});
}

}  // namespace
}  // namespace cell::testing
