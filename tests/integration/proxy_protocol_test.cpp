// HTTP/1.1 proxy rules through the real router: hop-by-hop headers, bodiless responses, interim
// responses, Host and target forms, connection reuse, ambiguous framing, header limits, timeouts.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
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

// Header names the cell received, lower-cased, from the echo's all_headers.
std::vector<std::string> received_names(const Json& echo) {
    std::vector<std::string> names;
    for (const auto& field : echo.at("all_headers")) {
        names.push_back(lower(field.at(0).get<std::string>()));
    }
    return names;
}

// Values of every header called `name` (case-insensitive) in the echo's all_headers.
std::vector<std::string> received_values(const Json& echo, const std::string& name) {
    std::vector<std::string> values;
    for (const auto& field : echo.at("all_headers")) {
        if (lower(field.at(0).get<std::string>()) == lower(name)) {
            values.push_back(field.at(1).get<std::string>());
        }
    }
    return values;
}

int count_headers(const Response& response, const std::string& name) {
    return static_cast<int>(std::count_if(response.headers.begin(), response.headers.end(),
                                          [&](const auto& field) { return lower(field.first) == lower(name); }));
}

class ProxyProtocolTest : public SharedDeploymentTest<ProxyProtocolTest> {};

// Hop-by-hop request headers (Connection and the names it lists, Keep-Alive, Proxy-Connection,
// TE, Trailer, Upgrade) never reach the cell; end-to-end headers do.
TEST_F(ProxyProtocolTest, HopByHopRequestHeadersNeverReachTheCell) {
    Connection connection(port());
    connection.send(
        "GET /hop-request HTTP/1.1\r\n"
        "Host: test.local\r\n"
        "X-Routing-Key: acme\r\n"
        "Connection: keep-alive, X-Hop-One\r\n"
        "Connection: X-Hop-Two\r\n"
        "X-Hop-One: 1\r\n"
        "X-Hop-Two: 2\r\n"
        "Keep-Alive: timeout=5, max=100\r\n"
        "Proxy-Connection: keep-alive\r\n"
        "TE: trailers\r\n"
        "Trailer: X-Checksum\r\n"
        "Upgrade: websocket\r\n"
        "X-End-To-End: kept\r\n"
        "\r\n");
    const auto response = connection.read_response();
    ASSERT_EQ(response.status, 200) << response.body;
    const auto echo = response.json();
    const auto names = received_names(echo);
    for (const std::string hop : {"x-hop-one", "x-hop-two", "keep-alive", "proxy-connection", "te", "trailer",
                                  "upgrade", "transfer-encoding"}) {
        EXPECT_EQ(std::count(names.begin(), names.end(), hop), 0) << hop << " reached the cell";
    }
    // The router may speak its own Connection header upstream, never the client's tokens.
    for (const auto& value : received_values(echo, "Connection")) {
        EXPECT_EQ(lower(value).find("x-hop"), std::string::npos) << value;
    }
    EXPECT_EQ(received_values(echo, "X-End-To-End"), std::vector<std::string>{"kept"});
}

// Hop-by-hop response headers of the cell never reach the client; end-to-end ones do.
TEST(ProxyProtocolFakeUpstreamTest, HopByHopResponseHeadersNeverReachTheClient) {
    FakeUpstream upstream([](int fd, int) {
        while (!fake_read_head(fd).empty()) {
            fake_send(fd,
                      "HTTP/1.1 200 OK\r\n"
                      "Connection: keep-alive, X-Hop-Response\r\n"
                      "X-Hop-Response: secret\r\n"
                      "Keep-Alive: timeout=5\r\n"
                      "Proxy-Connection: keep-alive\r\n"
                      "Upgrade: h2c\r\n"
                      "Trailer: X-Checksum\r\n"
                      "TE: trailers\r\n"
                      "X-End-To-End: kept\r\n"
                      "Content-Length: 2\r\n"
                      "\r\n"
                      "ok");
        }
    });
    Deployment::Options options;
    options.start_router = false;
    Deployment deployment(options);
    start_router_with_endpoint(deployment, "visa", upstream.url());

    Connection connection(deployment.router_port());
    connection.send(make_request("GET", "/", {{"X-Routing-Key", "visa"}}));
    const auto response = connection.read_response();
    ASSERT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "ok");
    for (const std::string hop : {"X-Hop-Response", "Keep-Alive", "Proxy-Connection", "Upgrade", "Trailer", "TE",
                                  "Transfer-Encoding"}) {
        EXPECT_FALSE(response.has_header(hop)) << hop << " reached the client";
    }
    EXPECT_LE(count_headers(response, "Connection"), 1);
    EXPECT_EQ(lower(response.header("Connection")).find("x-hop"), std::string::npos);
    EXPECT_EQ(response.header("X-End-To-End"), "kept");
    EXPECT_EQ(response.header("X-Routed-To"), "visa");
}

// Framing headers reach the client once and consistently: Content-Length xor chunked, one
// Connection header, whatever the cell sent.
TEST_F(ProxyProtocolTest, FramingHeadersAreNeverDuplicated) {
    Connection connection(port());
    connection.send(make_request("GET", "/?response_bytes=1000", {{"X-Routing-Key", "acme"}}));
    const auto sized = connection.read_response();
    ASSERT_EQ(sized.status, 200);
    EXPECT_EQ(count_headers(sized, "Content-Length"), 1);
    EXPECT_EQ(count_headers(sized, "Transfer-Encoding"), 0);
    EXPECT_LE(count_headers(sized, "Connection"), 1);
    EXPECT_EQ(sized.body.size(), 1000u);

    connection.send(make_request("GET", "/?response_bytes=1000&chunked=1", {{"X-Routing-Key", "acme"}}));
    const auto chunked = connection.read_response();
    ASSERT_EQ(chunked.status, 200);
    EXPECT_EQ(count_headers(chunked, "Content-Length"), 0);
    EXPECT_EQ(count_headers(chunked, "Transfer-Encoding"), 1);
    EXPECT_EQ(lower(chunked.header("Transfer-Encoding")), "chunked");
    EXPECT_LE(count_headers(chunked, "Connection"), 1);
    EXPECT_EQ(chunked.body.size(), 1000u);
    EXPECT_EQ(sha256_hex(chunked.body), chunked.header("X-Body-Sha256"));

    connection.send(make_request("GET", "/", {{"X-Routing-Key", "acme"}, {"Connection", "close"}}));
    const auto closing = connection.read_response();
    EXPECT_EQ(count_headers(closing, "Connection"), 1);
    EXPECT_EQ(lower(closing.header("Connection")), "close");
    EXPECT_EQ(count_headers(closing, "Keep-Alive"), 0);
    EXPECT_TRUE(connection.closed_by_peer());

    Connection old_client(port());
    old_client.send("GET / HTTP/1.0\r\nX-Routing-Key: acme\r\nConnection: keep-alive\r\n\r\n");
    const auto kept = old_client.read_response();
    EXPECT_EQ(kept.version, "HTTP/1.0");
    EXPECT_EQ(count_headers(kept, "Connection"), 1);
    EXPECT_EQ(lower(kept.header("Connection")), "keep-alive");
}

// HEAD answers carry the GET's Content-Length but no body; the connection stays usable.
TEST_F(ProxyProtocolTest, HeadKeepsContentLengthWithoutBody) {
    Connection connection(port());
    connection.send(make_request("HEAD", "/?response_bytes=5000", {{"X-Routing-Key", "acme"}}));
    const auto head = connection.read_response(true);
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.header("Content-Length"), "5000");
    EXPECT_EQ(head.header("X-Routed-To"), "tier1");

    connection.send(make_request("HEAD", "/?response_bytes=5000&chunked=1", {{"X-Routing-Key", "acme"}}));
    const auto chunked_head = connection.read_response(true);
    EXPECT_EQ(chunked_head.status, 200);

    // Any body bytes sent after a HEAD answer would be misread as the start of this response.
    connection.send(make_request("GET", "/after-head", {{"X-Routing-Key", "acme"}}));
    const auto next = connection.read_response();
    ASSERT_EQ(next.status, 200);
    EXPECT_EQ(next.json()["path"], "/after-head");
}

// 204 and 304 carry no body (and 204 no Content-Length); the connection stays usable.
TEST_F(ProxyProtocolTest, NoContentAndNotModifiedCarryNoBody) {
    Connection connection(port());
    for (const int status : {204, 304}) {
        connection.send(make_request("GET", "/?status=" + std::to_string(status), {{"X-Routing-Key", "acme"}}));
        const auto response = connection.read_response();
        EXPECT_EQ(response.status, status);
        EXPECT_FALSE(response.has_header("Transfer-Encoding")) << status;
        if (status == 204) {
            EXPECT_FALSE(response.has_header("Content-Length"));
        }
        EXPECT_EQ(response.header("X-Routed-To"), "tier1");
    }
    connection.send(make_request("GET", "/after-bodiless", {{"X-Routing-Key", "acme"}}));
    const auto next = connection.read_response();
    ASSERT_EQ(next.status, 200);
    EXPECT_EQ(next.json()["path"], "/after-bodiless");
}

// A 103 Early Hints from the cell reaches an HTTP/1.1 client, with its Link header, before the
// final response, which still carries the routing headers.
TEST_F(ProxyProtocolTest, EarlyHintsReachHttp11Clients) {
    Connection connection(port());
    connection.send(make_request("GET", "/?interim=103", {{"X-Routing-Key", "acme"}}));
    const auto response = connection.read_response();
    EXPECT_EQ(response.interim_statuses, std::vector<int>{103});
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.header("X-Routed-To"), "tier1");
    EXPECT_EQ(response.header("X-Route-Reason"), "tier");

    const auto raw = raw_exchange(
        port(), make_request("GET", "/?interim=103", {{"X-Routing-Key", "acme"}, {"Connection", "close"}}));
    ASSERT_EQ(raw.rfind("HTTP/1.1 103", 0), 0u) << raw.substr(0, 200);
    const auto final_at = raw.find("HTTP/1.1 200");
    ASSERT_NE(final_at, std::string::npos);
    EXPECT_NE(raw.substr(0, final_at).find("Link: </style.css>; rel=preload"), std::string::npos);
}

// An HTTP/1.0 client never receives a 1xx interim response (RFC 9110 §15.2).
TEST_F(ProxyProtocolTest, EarlyHintsNeverReachHttp10Clients) {
    const auto raw = raw_exchange(port(), "GET /?interim=103 HTTP/1.0\r\nX-Routing-Key: acme\r\n\r\n");
    EXPECT_EQ(raw.rfind("HTTP/1.0 200", 0), 0u) << raw.substr(0, 200);
    EXPECT_EQ(raw.find(" 103 "), std::string::npos);
}

// With Expect: 100-continue the client gets 100 Continue before sending its body, then the
// final answer for the complete body.
TEST_F(ProxyProtocolTest, ExpectContinueIsAnsweredBeforeTheBody) {
    const std::string body(1000, 'x');
    Connection connection(port());
    connection.send(
        "POST /expect HTTP/1.1\r\nHost: test.local\r\nX-Routing-Key: acme\r\n"
        "Expect: 100-continue\r\nContent-Length: 1000\r\n\r\n");
    const auto interim = read_until(connection, "\r\n\r\n");
    EXPECT_EQ(interim.rfind("HTTP/1.1 100", 0), 0u) << interim;
    connection.send(body);
    const auto response = connection.read_response();
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_TRUE(response.interim_statuses.empty()) << "a second 100 Continue was relayed";
    const auto echo = response.json();
    EXPECT_EQ(echo["body_bytes"], 1000);
    EXPECT_EQ(echo["body_sha256"], sha256_hex(body));
}

// An HTTP/1.1 request without Host is refused with 400 and not forwarded.
TEST_F(ProxyProtocolTest, MissingHostIsRejectedFromHttp11) {
    Connection connection(port());
    connection.send("GET /no-host HTTP/1.1\r\nX-Routing-Key: acme\r\n\r\n");
    const auto response = connection.read_response();
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(response.json()["error"], "bad_request");
    EXPECT_TRUE(never_reaches_a_cell(*deployment_, "/no-host"));
}

// Two Host headers are ambiguous: 400, not forwarded.
TEST_F(ProxyProtocolTest, DuplicateHostIsRejected) {
    Connection connection(port());
    connection.send("GET /two-hosts HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nX-Routing-Key: acme\r\n\r\n");
    const auto response = connection.read_response();
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(response.json()["error"], "bad_request");
    EXPECT_TRUE(never_reaches_a_cell(*deployment_, "/two-hosts"));
}

// HTTP/1.0 predates Host: a 1.0 request without it is routed (RFC 9112 §3.2 asks it of 1.1 only).
TEST_F(ProxyProtocolTest, Http10WithoutHostIsAccepted) {
    Connection connection(port());
    connection.send("GET /old-client HTTP/1.0\r\nX-Routing-Key: visa\r\n\r\n");
    const auto response = connection.read_response();
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.version, "HTTP/1.0");
    EXPECT_EQ(response.header("X-Routed-To"), "visa");
    EXPECT_EQ(response.json()["path"], "/old-client");
}

// An absolute-form target reaches the cell in origin form, with Host taken from its authority.
TEST_F(ProxyProtocolTest, AbsoluteFormTargetBecomesOriginFormAndHost) {
    Connection connection(port());
    connection.send(
        "GET http://example.com:81/p?q=1 HTTP/1.1\r\nHost: ignored.example\r\nX-Routing-Key: acme\r\n\r\n");
    const auto response = connection.read_response();
    ASSERT_EQ(response.status, 200) << response.body;
    const auto echo = response.json();
    EXPECT_EQ(echo["target"], "/p?q=1");
    EXPECT_EQ(received_values(echo, "Host"), std::vector<std::string>{"example.com:81"});
}

// An HTTP/1.0 client never gets a chunked body: the router ends it by closing the connection.
TEST_F(ProxyProtocolTest, Http10ClientNeverGetsChunked) {
    for (const std::string connection_header : {"", "Connection: keep-alive\r\n"}) {
        Connection connection(port());
        connection.send("GET /?response_bytes=100000&chunked=1 HTTP/1.0\r\nX-Routing-Key: acme\r\n" +
                        connection_header + "\r\n");
        const auto response = connection.read_response();
        ASSERT_EQ(response.status, 200) << connection_header;
        EXPECT_EQ(response.version, "HTTP/1.0");
        EXPECT_FALSE(response.chunked);
        EXPECT_FALSE(response.has_header("Transfer-Encoding"));
        EXPECT_EQ(response.body.size(), 100000u);
        EXPECT_EQ(sha256_hex(response.body), response.header("X-Body-Sha256"));
        EXPECT_NE(lower(response.header("Connection")), "keep-alive");
        EXPECT_TRUE(connection.closed_by_peer());
    }
}

// One keep-alive connection carries many requests, each routed on its own key.
TEST_F(ProxyProtocolTest, KeepAliveServesSeveralRequests) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"acme", "tier1"}, {"globex", "tier2"}, {"visa", "visa"}, {"initech", "tier3"}, {"nobody", "tier3"}, {"acme", "tier1"}};
    Connection connection(port());
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const std::string path = "/keep-alive-" + std::to_string(i);
        connection.send(make_request("GET", path, {{"X-Routing-Key", cases[i].first}}));
        const auto response = connection.read_response();
        ASSERT_EQ(response.status, 200) << i;
        EXPECT_EQ(response.header("X-Routed-To"), cases[i].second) << i;
        EXPECT_EQ(response.json()["path"], path);
    }
}

// Pipelined requests are answered in the order sent, even when the first one is the slowest.
TEST_F(ProxyProtocolTest, PipelinedRequestsAreAnsweredInOrder) {
    Connection connection(port());
    connection.send(make_request("GET", "/pipe-1?delay_ms=300", {{"X-Routing-Key", "acme"}}) +
                    make_request("POST", "/pipe-2", {{"X-Routing-Key", "globex"}}, "body-of-two") +
                    make_request("GET", "/pipe-3", {{"X-Routing-Key", "visa"}}));
    const std::vector<std::pair<std::string, std::string>> expected{
        {"tier1", "/pipe-1"}, {"tier2", "/pipe-2"}, {"visa", "/pipe-3"}};
    for (const auto& [routed_to, path] : expected) {
        const auto response = connection.read_response();
        ASSERT_EQ(response.status, 200) << path;
        EXPECT_EQ(response.header("X-Routed-To"), routed_to);
        EXPECT_EQ(response.json()["path"], path);
    }
}

// Content-Length together with Transfer-Encoding is refused, in either order, never forwarded.
TEST_F(ProxyProtocolTest, ContentLengthWithTransferEncodingIsRefused) {
    expect_refused(
        "POST /smuggle-cl-te HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\n"
        "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX",
        {"/smuggle-cl-te"});
    expect_refused(
        "POST /smuggle-te-cl HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\n"
        "Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nX",
        {"/smuggle-te-cl"});
}

// Conflicting Content-Length values (two fields, or a list) are refused, never forwarded.
TEST_F(ProxyProtocolTest, ConflictingContentLengthsAreRefused) {
    expect_refused(
        "POST /smuggle-two-cl HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\n"
        "Content-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
        {"/smuggle-two-cl"});
    expect_refused(
        "POST /smuggle-cl-list HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\n"
        "Content-Length: 3, 5\r\n\r\nabcde",
        {"/smuggle-cl-list"});
}

// Transfer-Encoding: chunked in two fields is refused, never forwarded.
TEST_F(ProxyProtocolTest, RepeatedChunkedFieldsAreRefused) {
    expect_refused(
        "POST /smuggle-chunked-fields HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\n"
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        {"/smuggle-chunked-fields"});
}

// "Transfer-Encoding: chunked, chunked" is refused and the connection closed, so a request
// hidden in its body is never forwarded.
TEST_F(ProxyProtocolTest, ChunkedListedTwiceClosesTheConnection) {
    expect_refused(
        "POST /smuggle-chunked-twice HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\n"
        "Transfer-Encoding: chunked, chunked\r\n\r\n"
        "GET /smuggled-after-chunked-twice HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\n\r\n",
        {"/smuggle-chunked-twice", "/smuggled-after-chunked-twice"});
}

// A coding before chunked ("gzip, chunked") is refused, never forwarded.
TEST_F(ProxyProtocolTest, CodingBeforeChunkedIsRefused) {
    expect_refused(
        "POST /smuggle-gzip-chunked HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\n"
        "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        {"/smuggle-gzip-chunked"});
}

// A Transfer-Encoding without chunked last is refused and the connection closed (RFC 9112 §6.3:
// the body length cannot be determined), so its body is never read as a request.
TEST_F(ProxyProtocolTest, NonChunkedTransferEncodingClosesTheConnection) {
    expect_refused(
        "POST /smuggle-gzip HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\n"
        "Transfer-Encoding: gzip\r\n\r\n"
        "GET /smuggled-after-gzip HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\n\r\n",
        {"/smuggle-gzip", "/smuggled-after-gzip"});
}

// A bad chunk size is answered 400 and the cell never receives a complete request for it:
// whether it is the first chunk (nothing of the body forwarded yet) or a later one (the head
// and the good chunks already went to the cell, which must then lose the connection mid-body).
TEST_F(ProxyProtocolTest, BadChunkSizeNeverCompletesUpstream) {
    const std::string smuggled = "GET /smuggled-after-bad-chunk HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\n\r\n";
    const std::string head = "HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\nTransfer-Encoding: chunked\r\n\r\n";
    expect_refused("POST /smuggle-bad-first-chunk " + head + "zz\r\nhello\r\n0\r\n\r\n" + smuggled,
                   {"/smuggle-bad-first-chunk", "/smuggled-after-bad-chunk"});
    expect_refused("POST /smuggle-bad-second-chunk " + head + "5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n" + smuggled,
                   {"/smuggle-bad-second-chunk", "/smuggled-after-bad-chunk"});
    expect_refused("POST /smuggle-bad-after-big-chunk " + head + "4000\r\n" + std::string(0x4000, 'a') +
                       "\r\n-5\r\nworld\r\n0\r\n\r\n" + smuggled,
                   {"/smuggle-bad-after-big-chunk", "/smuggled-after-bad-chunk"});
    expect_refused("POST /smuggle-overflowing-chunk " + head + "5\r\nhello\r\n1ffffffffffffffff\r\nworld\r\n0\r\n\r\n" +
                       smuggled,
                   {"/smuggle-overflowing-chunk", "/smuggled-after-bad-chunk"});
    expect_refused("POST /smuggle-bad-last-chunk " + head + "5\r\nhello\r\n0x\r\n\r\n" + smuggled,
                   {"/smuggle-bad-last-chunk", "/smuggled-after-bad-chunk"});
}

// Control characters in a header value (NUL, a lone CR) are refused, never forwarded.
TEST_F(ProxyProtocolTest, ControlCharactersInHeaderValuesAreRefused) {
    expect_refused(std::string("GET /smuggle-nul HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\nX-Bad: a") +
                       '\0' + "b\r\n\r\n",
                   {"/smuggle-nul"});
    expect_refused(
        "GET /smuggle-cr HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\nX-Bad: a\rX-Injected: b\r\n\r\n",
        {"/smuggle-cr"});
}

// Bare LF line endings are refused, never forwarded.
TEST_F(ProxyProtocolTest, BareLineFeedIsRefused) {
    expect_refused("GET /smuggle-lf HTTP/1.1\nHost: x\nX-Routing-Key: acme\n\n", {"/smuggle-lf"});
    expect_refused("GET /smuggle-lf-mixed HTTP/1.1\r\nHost: x\nX-Routing-Key: acme\r\n\r\n", {"/smuggle-lf-mixed"});
}

// Whitespace between a field name and its colon is refused (RFC 9112 §5.1), never forwarded.
TEST_F(ProxyProtocolTest, SpaceBeforeColonIsRefused) {
    expect_refused(
        "POST /smuggle-space-colon HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\n"
        "Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        {"/smuggle-space-colon"});
}

// An obs-folded header either is refused or reaches the cell without a raw line break; the
// router keeps serving either way.
TEST_F(ProxyProtocolTest, ObsFoldNeverInjectsALineBreak) {
    Connection connection(port());
    connection.send(
        "GET /obs-fold HTTP/1.1\r\nHost: x\r\nX-Routing-Key: acme\r\nX-Folded: first\r\n X-Injected: second\r\n\r\n");
    const auto response = connection.read_response();
    EXPECT_TRUE(response.status == 200 || response.status == 400) << response.status;
    if (response.status == 200) {
        const auto echo = response.json();
        for (const auto& field : echo["all_headers"]) {
            const auto value = field[1].get<std::string>();
            EXPECT_EQ(value.find_first_of("\r\n"), std::string::npos) << value;
        }
        EXPECT_TRUE(received_values(echo, "X-Injected").empty()) << "folded line became a header";
    }
    const auto after = request(port(), "GET", "/after-obs-fold", {{"X-Routing-Key", "acme"}});
    EXPECT_EQ(after.status, 200);
}

// A header section over the default 16 KiB limit gets 431 and the connection is closed; one
// just under it is served.
TEST_F(ProxyProtocolTest, OversizedHeaderSectionIs431) {
    const auto under = request(port(), "GET", "/big-but-fine", {{"X-Routing-Key", "acme"}, {"X-Pad", std::string(12 * 1024, 'a')}});
    EXPECT_EQ(under.status, 200);

    Connection connection(port());
    connection.send(make_request("GET", "/too-big", {{"X-Routing-Key", "acme"}, {"X-Pad", std::string(20 * 1024, 'a')}}));
    const auto response = connection.read_response();
    EXPECT_EQ(response.status, 431);
    EXPECT_EQ(response.json()["error"], "header_too_large");
    EXPECT_TRUE(connection.closed_by_peer());
    EXPECT_TRUE(never_reaches_a_cell(*deployment_, "/too-big"));
}

// CONNECT is refused with 405 and an Allow header; this is a reverse proxy, not a tunnel.
TEST_F(ProxyProtocolTest, ConnectIsNotAllowed) {
    Connection connection(port());
    connection.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nX-Routing-Key: acme\r\n\r\n");
    const auto response = connection.read_response();
    EXPECT_EQ(response.status, 405);
    EXPECT_EQ(response.json()["error"], "method_not_allowed");
    EXPECT_FALSE(response.header("Allow").empty());
}

// Any expectation but 100-continue gets 417 and is not forwarded.
TEST_F(ProxyProtocolTest, UnknownExpectationIs417) {
    Connection connection(port());
    connection.send(make_request("POST", "/expect-other", {{"X-Routing-Key", "acme"}, {"Expect", "something-else"}}, "abc"));
    const auto response = connection.read_response();
    EXPECT_EQ(response.status, 417);
    EXPECT_EQ(response.json()["error"], "expectation_failed");
    EXPECT_TRUE(never_reaches_a_cell(*deployment_, "/expect-other"));
}

// With --max-header-bytes 2048, a 3 KiB header section gets 431 while a 1 KiB one is served.
TEST(ProxyHeaderLimitTest, ConfiguredHeaderLimitIs431) {
    Deployment deployment(Deployment::Options{.router_flags = {"--max-header-bytes", "2048"}});
    const auto under = request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "acme"}, {"X-Pad", std::string(1024, 'a')}});
    EXPECT_EQ(under.status, 200);

    Connection connection(deployment.router_port());
    connection.send(make_request("GET", "/over-2k", {{"X-Routing-Key", "acme"}, {"X-Pad", std::string(3 * 1024, 'a')}}));
    const auto response = connection.read_response();
    EXPECT_EQ(response.status, 431);
    EXPECT_TRUE(connection.closed_by_peer());
}

// A client that stops midway through its headers is cut off after --header-timeout, while a
// connection served at the same time is not disturbed.
TEST(ProxyTimeoutTest, SlowHeadersAreCutOffWithoutDisturbingOthers) {
    Deployment deployment(Deployment::Options{.router_flags = {"--header-timeout", "500ms"}});
    Connection busy(deployment.router_port());
    Connection stalled(deployment.router_port());
    stalled.send("GET /stalled HTTP/1.1\r\nHost: x\r\nX-Rout");

    int served = 0;
    bool cut_off = false;
    const auto deadline = std::chrono::steady_clock::now() + 8s;
    while (!cut_off && std::chrono::steady_clock::now() < deadline) {
        busy.send(make_request("GET", "/busy-" + std::to_string(served), {{"X-Routing-Key", "acme"}}));
        const auto response = busy.read_response();
        ASSERT_EQ(response.status, 200);
        ++served;
        cut_off = stalled.closed_by_peer(100ms);
    }
    EXPECT_TRUE(cut_off) << "a stalled header section was not cut off";
    EXPECT_GE(served, 1);
    busy.send(make_request("GET", "/busy-after", {{"X-Routing-Key", "acme"}}));
    EXPECT_EQ(busy.read_response().status, 200);
    EXPECT_TRUE(never_reaches_a_cell(deployment, "/stalled"));
}

// The header timeout bounds the whole header section: dribbling a byte at a time does not
// extend it.
TEST(ProxyTimeoutTest, DribbledHeadersAreCutOffAtTheHeaderTimeout) {
    Deployment deployment(Deployment::Options{.router_flags = {"--header-timeout", "500ms"}});
    Connection dribbling(deployment.router_port());
    dribbling.send("GET /dribble HTTP/1.1\r\nHost: x\r\nX-Pad: ");
    bool cut_off = false;
    // 80 bytes at one per 100 ms would take 8 s, far beyond the 500 ms header timeout.
    for (int i = 0; i < 80 && !cut_off; ++i) {
        try {
            dribbling.send("a");
        } catch (const std::runtime_error&) {
            cut_off = true;  // reset by the router
            break;
        }
        cut_off = dribbling.closed_by_peer(100ms);
    }
    EXPECT_TRUE(cut_off) << "dribbled headers kept the connection open";
}

// An idle keep-alive connection is closed after --idle-timeout.
TEST(ProxyTimeoutTest, IdleKeepAliveConnectionIsClosed) {
    Deployment deployment(Deployment::Options{.router_flags = {"--idle-timeout", "1s"}});
    Connection connection(deployment.router_port());
    connection.send(make_request("GET", "/", {{"X-Routing-Key", "acme"}}));
    ASSERT_EQ(connection.read_response().status, 200);
    connection.send(make_request("GET", "/", {{"X-Routing-Key", "acme"}}));
    ASSERT_EQ(connection.read_response().status, 200) << "keep-alive connection was not kept";
    EXPECT_TRUE(connection.closed_by_peer(8s)) << "idle connection still open";
}

// A request body that stops arriving is cut off by --idle-timeout: the client connection is
// closed without an answer and the cell's connection is dropped mid-body, so the cell never sees
// a complete request.
TEST(ProxyTimeoutTest, StalledRequestBodyIsCutByIdleTimeout) {
    std::atomic<bool> cut_mid_body{false};
    std::atomic<bool> whole_body{false};
    FakeUpstream cell([&](int fd, int) {
        if (fake_read_head(fd).empty()) {
            return;
        }
        if (fake_read_exact(fd, 1000, 15s).empty()) {
            cut_mid_body = true;  // EOF before the announced length
        } else {
            whole_body = true;
        }
    });
    Deployment deployment(Deployment::Options{.start_router = false});
    start_router_with_endpoint(deployment, "visa", cell.url(), {"--idle-timeout", "1s"});
    Connection connection(deployment.router_port());
    const auto started = std::chrono::steady_clock::now();
    connection.send("POST /stalled HTTP/1.1\r\nHost: x\r\nX-Routing-Key: visa\r\nContent-Length: 1000\r\n\r\n" +
                    std::string(10, 'b'));
    EXPECT_TRUE(connection.closed_by_peer(8s)) << "the stalled request was never cut off";
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_GE(took, 900ms) << "cut off before the idle timeout";
    EXPECT_TRUE(eventually([&] { return cut_mid_body.load(); }, 5s)) << "the cell's connection stayed open";
    EXPECT_FALSE(whole_body.load());
    const auto line = deployment.router().wait_for_line(
        [](const Json& l) { return l.value("event", "") == "access" && l.value("path", "") == "/stalled"; });
    ASSERT_TRUE(line.has_value());
    EXPECT_EQ((*line)["status_code"], 499);
    EXPECT_EQ((*line)["error_source"], "downstream");
}

}  // namespace
}  // namespace cell::testing
