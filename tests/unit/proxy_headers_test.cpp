// Header checks and rewriting of the proxy (RFC 9110/9112 rules, routing headers).

#include <optional>

#include <gtest/gtest.h>

#include <boost/beast/http.hpp>

#include "cell/proxy/headers.hpp"
#include "cell/proxy/request_version.hpp"

namespace cell::proxy {
namespace {

RequestHeader make_header(http::verb method, std::string_view target, unsigned version,
                          std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
    RequestHeader header;
    header.method(method);
    header.target(target);
    header.version(version);
    for (const auto& [name, value] : fields) {
        header.insert(name, value);
    }
    return header;
}

std::vector<std::pair<std::string, std::string>> fields_of(const http::fields& fields) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& field : fields) {
        out.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    return out;
}

// An HTTP/1.1 request must carry exactly one Host.
TEST(CheckRequest, HostRules) {
    EXPECT_EQ(check_request(make_header(http::verb::get, "/", 11, {})).problem, RequestProblem::missing_host);
    EXPECT_EQ(check_request(make_header(http::verb::get, "/", 11, {{"Host", "a"}, {"Host", "b"}})).problem,
              RequestProblem::duplicate_host);
    EXPECT_EQ(check_request(make_header(http::verb::get, "/", 11, {{"Host", "a"}})).problem, RequestProblem::none);
}

// HTTP/1.0 predates Host, so a 1.0 request without it is accepted.
TEST(CheckRequest, Http10WithoutHostIsAccepted) {
    const auto check = check_request(make_header(http::verb::get, "/x", 10, {}));
    EXPECT_EQ(check.problem, RequestProblem::none);
    EXPECT_EQ(check.upstream_host, "");
}

// Host is uri-host [":" port] (RFC 9112 §3.2): anything else is refused, an empty one is allowed.
TEST(CheckRequest, HostMustBeHostAndPort) {
    for (const auto* value : {"a", "shop.example", "shop.example:8080", "127.0.0.1", "127.0.0.1:80", "[::1]",
                              "[::1]:8080", "xn--bcher-kva.example", "a,b", "a%20b", "A-Z_~.!$&'()*+;=", "a:"}) {
        EXPECT_TRUE(is_valid_host(value)) << value;
        EXPECT_EQ(check_request(make_header(http::verb::get, "/", 11, {{"Host", value}})).problem, RequestProblem::none)
            << value;
    }
    for (const auto* value : {"a, b", "a b/c", "a b", "a/b", "user@a", "user:pw@a:80", "a:b", "a:80:80", "[::1",
                              "::1", "a?b", "a#b", "a%zz", "a\tb", "\"a\""}) {
        EXPECT_FALSE(is_valid_host(value)) << value;
        EXPECT_EQ(check_request(make_header(http::verb::get, "/", 11, {{"Host", value}})).problem,
                  RequestProblem::bad_host)
            << value;
        // Even when an absolute-form target names the host instead.
        EXPECT_EQ(check_request(make_header(http::verb::get, "http://x/", 11, {{"Host", value}})).problem,
                  RequestProblem::bad_host)
            << value;
    }
}

// An empty Host is valid (RFC 9112 §3.2) and leaves the upstream Host to the cell's authority.
TEST(CheckRequest, EmptyHostIsAccepted) {
    const auto check = check_request(make_header(http::verb::get, "/", 11, {{"Host", ""}}));
    EXPECT_EQ(check.problem, RequestProblem::none);
    EXPECT_EQ(check.upstream_host, "");
}

// An HTTP/1.0 sender's Transfer-Encoding is faulty framing (RFC 9112 §6.1): refused, whatever
// the coding, so that no 1.0 request can be read two ways.
TEST(CheckRequest, TransferEncodingFromHttp10IsRefused) {
    for (const auto* value : {"chunked", "Chunked", "gzip, chunked", "identity"}) {
        EXPECT_EQ(check_request(make_header(http::verb::post, "/", 10, {{"Host", "a"}, {"Transfer-Encoding", value}})).problem,
                  RequestProblem::transfer_encoding_in_http10)
            << value;
    }
    EXPECT_EQ(check_request(make_header(http::verb::post, "/", 10,
                                        {{"Connection", "keep-alive"}, {"Transfer-Encoding", "chunked"}}))
                  .problem,
              RequestProblem::transfer_encoding_in_http10);
}

// Content-Length is bounded by 2^63-1, as a signed 64-bit size; Beast itself refuses what does
// not fit 64 bits.
TEST(CheckRequest, ContentLengthBound) {
    for (const auto* value : {"0", "000", "9223372036854775807", "09223372036854775807"}) {
        EXPECT_EQ(check_request(make_header(http::verb::post, "/", 11, {{"Host", "a"}, {"Content-Length", value}})).problem,
                  RequestProblem::none)
            << value;
    }
    for (const auto* value : {"9223372036854775808", "18446744073709551615", "99999999999999999999999"}) {
        EXPECT_EQ(check_request(make_header(http::verb::post, "/", 11, {{"Host", "a"}, {"Content-Length", value}})).problem,
                  RequestProblem::content_length_too_large)
            << value;
    }
}

// Transfer-Encoding is accepted only as exactly one "chunked".
TEST(CheckRequest, TransferEncodingMustBeChunkedOnly) {
    for (const auto* value : {"gzip", "gzip, chunked", "chunked, chunked", "identity", ""}) {
        EXPECT_EQ(check_request(make_header(http::verb::post, "/", 11, {{"Host", "a"}, {"Transfer-Encoding", value}})).problem,
                  RequestProblem::bad_transfer_encoding)
            << value;
    }
    EXPECT_EQ(check_request(make_header(http::verb::post, "/", 11, {{"Host", "a"}, {"Transfer-Encoding", "Chunked"}})).problem,
              RequestProblem::none);
}

// CONNECT is refused: a reverse proxy is not a tunnel.
TEST(CheckRequest, ConnectIsNotAllowed) {
    EXPECT_EQ(check_request(make_header(http::verb::connect, "example.com:443", 11, {{"Host", "example.com:443"}})).problem,
              RequestProblem::method_not_allowed);
}

// Expect: 100-continue is understood; any other expectation is refused.
TEST(CheckRequest, Expectations) {
    EXPECT_TRUE(check_request(make_header(http::verb::post, "/", 11, {{"Host", "a"}, {"Expect", "100-Continue"}})).expects_continue);
    EXPECT_EQ(check_request(make_header(http::verb::post, "/", 11, {{"Host", "a"}, {"Expect", "200-ok"}})).problem,
              RequestProblem::unsupported_expectation);
}

// Origin-form targets are forwarded byte-exact with the client's Host.
TEST(CheckRequest, OriginFormIsKeptByteExact) {
    const auto check = check_request(make_header(http::verb::get, "/a%2Fb/./c?x=%20&y", 11, {{"Host", "shop.example"}}));
    EXPECT_EQ(check.upstream_target, "/a%2Fb/./c?x=%20&y");
    EXPECT_EQ(check.upstream_host, "shop.example");
}

// Absolute-form targets become origin-form, and their authority replaces Host (RFC 9112 §3.2.2).
TEST(CheckRequest, AbsoluteFormBecomesOriginForm) {
    const auto check = check_request(make_header(http::verb::get, "http://example.com:81/p/q?z=1", 11, {{"Host", "other"}}));
    EXPECT_EQ(check.problem, RequestProblem::none);
    EXPECT_EQ(check.upstream_target, "/p/q?z=1");
    EXPECT_EQ(check.upstream_host, "example.com:81");
    EXPECT_EQ(check_request(make_header(http::verb::get, "http://example.com", 11, {{"Host", "x"}})).upstream_target, "/");
}

// Asterisk-form is valid for OPTIONS only; other targets are refused.
TEST(CheckRequest, OtherTargetsAreRefused) {
    EXPECT_EQ(check_request(make_header(http::verb::options, "*", 11, {{"Host", "a"}})).upstream_target, "*");
    EXPECT_EQ(check_request(make_header(http::verb::get, "*", 11, {{"Host", "a"}})).problem, RequestProblem::bad_target);
    EXPECT_EQ(check_request(make_header(http::verb::get, "ftp://x/y", 11, {{"Host", "a"}})).problem, RequestProblem::bad_target);
    EXPECT_EQ(check_request(make_header(http::verb::get, "relative/path", 11, {{"Host", "a"}})).problem, RequestProblem::bad_target);
}

// The routing key: missing, empty, conflicting, or repeated with the same value.
TEST(FindRoutingKey, Cases) {
    EXPECT_EQ(find_routing_key(make_header(http::verb::get, "/", 11, {})).problem, RoutingKeyProblem::missing);
    EXPECT_EQ(find_routing_key(make_header(http::verb::get, "/", 11, {{"X-Routing-Key", ""}})).problem, RoutingKeyProblem::empty);
    EXPECT_EQ(find_routing_key(make_header(http::verb::get, "/", 11, {{"X-Routing-Key", "a"}, {"X-Routing-Key", "b"}})).problem,
              RoutingKeyProblem::conflicting);
    const auto same = make_header(http::verb::get, "/", 11, {{"x-routing-key", "a"}, {"X-Routing-Key", "a"}});
    EXPECT_EQ(find_routing_key(same).problem, RoutingKeyProblem::none);
    EXPECT_EQ(find_routing_key(same).value, "a");
}

// A sane client request id is kept; an absent, oversized or binary one is replaced.
TEST(RequestId, KeptOrGenerated) {
    EXPECT_EQ(request_id_for(make_header(http::verb::get, "/", 11, {{"X-Request-Id", "abc-1"}})), "abc-1");
    const auto generated = request_id_for(make_header(http::verb::get, "/", 11, {}));
    EXPECT_EQ(generated.size(), 32u);
    EXPECT_EQ(generated.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_NE(generated, request_id_for(make_header(http::verb::get, "/", 11, {})));
    EXPECT_EQ(request_id_for(make_header(http::verb::get, "/", 11, {{"X-Request-Id", std::string(129, 'a')}})).size(), 32u);
    EXPECT_EQ(request_id_for(make_header(http::verb::get, "/", 11, {{"X-Request-Id", "a b"}})).size(), 32u);
}

// The fixed hop-by-hop set plus whatever Connection names.
TEST(HopByHop, FixedSetAndConnectionTokens) {
    for (const auto* name : {"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade"}) {
        EXPECT_TRUE(is_hop_by_hop(name, "")) << name;
    }
    EXPECT_FALSE(is_hop_by_hop("X-Secret", ""));
    EXPECT_TRUE(is_hop_by_hop("X-Secret", "close, x-secret"));
    EXPECT_FALSE(is_hop_by_hop("X-Secret-2", "close, x-secret"));
    EXPECT_FALSE(is_hop_by_hop("Content-Type", "keep-alive"));
}

// The upstream request drops hop-by-hop fields and adds the forwarding headers.
TEST(BuildUpstreamRequest, RewritesHeaders) {
    const auto in = make_header(http::verb::post, "/orders?id=7", 10,
                                {{"Host", "shop"}, {"Connection", "keep-alive, X-Hop"}, {"X-Hop", "1"}, {"Keep-Alive", "5"},
                                 {"TE", "trailers"}, {"X-Forwarded-For", "10.0.0.1"}, {"X-Forwarded-For", "10.0.0.2"},
                                 {"X-Forwarded-Proto", "https"}, {"X-Request-Id", "old"}, {"Content-Length", "3"},
                                 {"Expect", "100-continue"}, {"X-Routing-Key", "acme"}, {"Accept", "*/*"}});
    const auto check = check_request(in);
    RequestHeader out;
    build_upstream_request(in, check, ForwardedFor{"rid-1", "192.0.2.9", "http"}, "cell-tier1:9001", out);
    EXPECT_EQ(out.method(), http::verb::post);
    EXPECT_EQ(out.target(), "/orders?id=7");
    EXPECT_EQ(out.version(), 11u);
    const auto fields = fields_of(out);
    const std::vector<std::pair<std::string, std::string>> expected{
        {"X-Routing-Key", "acme"},
        {"Accept", "*/*"},
        {"Host", "shop"},
        {"X-Forwarded-For", "10.0.0.1, 10.0.0.2, 192.0.2.9"},
        {"X-Forwarded-Proto", "http"},
        {"X-Request-Id", "rid-1"}};
    EXPECT_EQ(fields, expected);
}

// Every upstream request carries exactly one Host: the client's, or the cell's authority when the
// client sent none (HTTP/1.0) or an empty one.
TEST(BuildUpstreamRequest, AlwaysSendsHost) {
    const struct {
        RequestHeader in;
        std::string host;
    } cases[] = {
        {make_header(http::verb::get, "/", 10, {}), "cell-tier1:9001"},
        {make_header(http::verb::get, "/", 11, {{"Host", ""}}), "cell-tier1:9001"},
        {make_header(http::verb::get, "/", 10, {{"Host", ""}}), "cell-tier1:9001"},
        {make_header(http::verb::get, "/", 11, {{"Host", "shop:81"}}), "shop:81"},
        {make_header(http::verb::get, "http://abs.example/x", 10, {}), "abs.example"},
    };
    for (const auto& c : cases) {
        const auto check = check_request(c.in);
        ASSERT_EQ(check.problem, RequestProblem::none);
        RequestHeader out;
        build_upstream_request(c.in, check, ForwardedFor{"rid", "192.0.2.9", "http"}, "cell-tier1:9001", out);
        EXPECT_EQ(out.count(http::field::host), 1u) << c.host;
        EXPECT_EQ(out[http::field::host], c.host);
    }
}

// The downstream response drops hop-by-hop fields and gains the routing headers.
TEST(BuildDownstreamResponse, AddsRoutingHeaders) {
    ResponseHeader in;
    in.result(http::status::created);
    in.insert("Connection", "X-Internal");
    in.insert("X-Internal", "secret");
    in.insert("Transfer-Encoding", "chunked");
    in.insert("Content-Length", "5");
    in.insert("X-Routed-To", "spoofed");
    in.insert("Set-Cookie", "a=1");
    in.insert("Set-Cookie", "b=2");
    ResponseHeader out;
    build_downstream_response(in, RouteHeaders{"tier1", "tier", "rid-2", {}, {}}, out);
    EXPECT_EQ(out.result_int(), 201u);
    const std::vector<std::pair<std::string, std::string>> expected{
        {"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}, {"X-Routed-To", "tier1"}, {"X-Route-Reason", "tier"},
        {"X-Request-Id", "rid-2"}};
    EXPECT_EQ(fields_of(out), expected);
}

// A fallback's answer names the original placement and why it was passed over; without a
// failover, a cell cannot claim one.
TEST(BuildDownstreamResponse, FailoverHeadersComeFromTheRouterOnly) {
    ResponseHeader in;
    in.result(http::status::ok);
    in.insert("X-Failover-Reason", "spoofed");
    in.insert("X-Original-Placement", "spoofed");
    ResponseHeader plain;
    build_downstream_response(in, RouteHeaders{"tier1", "tier", "rid", {}, {}}, plain);
    EXPECT_EQ(plain.count("X-Failover-Reason"), 0u);
    EXPECT_EQ(plain.count("X-Original-Placement"), 0u);
    ResponseHeader failed_over;
    build_downstream_response(in, RouteHeaders{"tier3", "dedicated", "rid", "unhealthy", "visa"}, failed_over);
    EXPECT_EQ(failed_over["X-Routed-To"], "tier3");
    EXPECT_EQ(failed_over["X-Route-Reason"], "dedicated");
    EXPECT_EQ(failed_over["X-Failover-Reason"], "unhealthy");
    EXPECT_EQ(failed_over["X-Original-Placement"], "visa");
    EXPECT_EQ(failed_over.count("X-Failover-Reason"), 1u);
}

// Beast reads any three digits as a status; only 100..599 may pass the router. (Found by
// tests/fuzz/fuzz_response_head: a cell's "HTTP/1.1 020 OK" went to the client as an interim
// response, so the client would have taken the cell's next bytes as the answer to its next
// request.)
TEST(ResponseStatus, OnlyHttpStatusCodesAreValid) {
    const std::string cell_answer =
        "HTTP/1.1 020 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nX-Cell: tier1\r\n\r\n{}";
    http::response_parser<http::string_body> parser;
    boost::system::error_code ec;
    parser.put(boost::asio::buffer(cell_answer), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(parser.get().result_int(), 20u);
    EXPECT_FALSE(is_valid_response_status(parser.get().result_int()));
    for (const unsigned status : {0u, 1u, 99u, 600u, 999u}) {
        EXPECT_FALSE(is_valid_response_status(status)) << status;
    }
    for (const unsigned status : {100u, 101u, 103u, 199u, 200u, 404u, 599u}) {
        EXPECT_TRUE(is_valid_response_status(status)) << status;
    }
}

// A higher minor version of HTTP/1 is read as HTTP/1.1 (RFC 9110 §2.5) by rewriting its digit.
// W3C Trace Context: the trace id of a valid traceparent is logged; anything else is not.
TEST(TraceId, ValidTraceparent) {
    RequestHeader header;
    header.set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    EXPECT_EQ(trace_id_of(header), "4bf92f3577b34da6a3ce929d0e0e4736");
    // A later version may carry more after the first four parts.
    header.set("traceparent", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-later");
    EXPECT_EQ(trace_id_of(header), "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(TraceId, InvalidTraceparentIsIgnored) {
    const char* invalid[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",           // no flags
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",        // upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",        // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",        // zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // version 00 is exact
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // separator
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",        // not hex
    };
    for (const char* value : invalid) {
        RequestHeader header;
        header.set("traceparent", value);
        EXPECT_EQ(trace_id_of(header), "") << value;
    }
    RequestHeader none;
    EXPECT_EQ(trace_id_of(none), "");
    RequestHeader repeated;
    repeated.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    repeated.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    EXPECT_EQ(trace_id_of(repeated), "");
}

TEST(FixRequestVersion, HigherMinorIsReadAsHttp11) {
    for (char minor = '2'; minor <= '9'; ++minor) {
        std::string head = std::string("GET /x HTTP/1.") + minor + "\r\nHost: a\r\n\r\n";
        EXPECT_EQ(fix_request_version(head), VersionFix::read_as_http11) << head;
        EXPECT_EQ(head, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
    }
}

// Other major versions are well-formed but not served (505); anything else is malformed (400).
TEST(FixRequestVersion, OtherMajorsAndGarbage) {
    for (std::string head : {"GET / HTTP/2.0\r\n\r\n", "GET / HTTP/0.9\r\n\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                             "GET / HTTP/3.0\r\nHost: a\r\n\r\n"}) {
        const std::string before = head;
        EXPECT_EQ(fix_request_version(head), VersionFix::unsupported) << before;
        EXPECT_EQ(head, before);
    }
    for (std::string head : {"GET / HTTP/1.10\r\n\r\n", "GET / http/1.2\r\n\r\n", "GET / HTTP/1.x\r\n\r\n",
                             "GET / HTTPS/1.2\r\n\r\n", "GET /HTTP/1.2\r\n\r\n", "HTTP/1.2\r\n\r\n",
                             " / HTTP/1.2\r\n\r\n", "GET  HTTP/1.2\r\n\r\n", "GET / HTTP/1.2\nHost: a\r\n\r\n",
                             "", "\r\n"}) {
        const std::string before = head;
        EXPECT_EQ(fix_request_version(head), VersionFix::malformed) << before;
        EXPECT_EQ(head, before);
    }
}

// Beast refuses a version as soon as it has read its eight characters, which may be before the
// line's CRLF has arrived: the answer must not depend on where the client's bytes were split.
// (Found by tests/fuzz/fuzz_request_head: "GET / HTTP/1.5" in one read, "\r\n..." in the next
// got 400, the same request in one read was served.)
TEST(FixRequestVersion, LineWhoseEndHasNotArrivedYet) {
    for (std::string head : {"GET /x HTTP/1.5", "GET /x HTTP/1.5\r"}) {
        const std::string before = head;
        EXPECT_EQ(fix_request_version(head), VersionFix::read_as_http11) << before;
        EXPECT_EQ(head, before.substr(0, 14) + "1" + before.substr(15)) << before;
    }
    std::string other_major = "GET /x HTTP/2.0";
    EXPECT_EQ(fix_request_version(other_major), VersionFix::unsupported);
    std::string garbage_after = "GET /x HTTP/1.5X";
    EXPECT_EQ(fix_request_version(garbage_after), VersionFix::malformed);
}

// A line Beast refuses although it ends in HTTP/1.0 or HTTP/1.1 is malformed; reading it "as
// HTTP/1.1" would change nothing, and the session would read the same line again, forever. A
// space in the target is enough. (Found by tests/fuzz/fuzz_request_head: "CONNECT shop.T /
// HTTP/1.1", Beast reading "/ HTTP/1" as the version.)
TEST(FixRequestVersion, RefusedHttp11LineIsNotReadAgain) {
    for (std::string head : {"CONNECT shop.T / HTTP/1.1\r\nHost: a\r\nX-Routing-Key: acme\r\n\r\n",
                             "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1 HTTP/1.5\r\nHost: a\r\n\r\n",
                             "GET / HTTP/1.1 HTTP/1.1\r\n\r\n", "GET / HTTP/1.0 x HTTP/1.1\r\n\r\n",
                             "GET / HTTP/1.1X\r\n\r\n"}) {
        const std::string before = head;
        EXPECT_EQ(fix_request_version(head), VersionFix::malformed) << before;
        EXPECT_EQ(head, before);
    }
}

// The session's read of a head split anywhere, through Beast's parser: a fixed line parses as
// HTTP/1.1 whatever the split, and is fixed at most once.
TEST(FixRequestVersion, SplitHeadIsReadAsHttp11WhereverItIsSplit) {
    const std::string request = "GET /x HTTP/1.5\r\nHost: a\r\n\r\n";
    for (std::size_t split = 1; split <= request.size(); ++split) {
        std::string arrived = request.substr(0, split);
        std::string pending = request.substr(split);
        std::optional<http::request_parser<http::empty_body>> parser(std::in_place);
        bool fixed = false;
        bool read = false;
        for (int step = 0; step < 8 && !read; ++step) {
            boost::system::error_code ec;
            arrived.erase(0, parser->put(boost::asio::buffer(arrived), ec));
            if (ec == http::error::need_more && !pending.empty()) {
                arrived += pending;  // the next read
                pending.clear();
            } else if (ec == http::error::bad_version) {
                ASSERT_FALSE(fixed) << "split at " << split << ": refused again after the fix";
                ASSERT_EQ(fix_request_version(arrived), VersionFix::read_as_http11) << "split at " << split;
                fixed = true;
                parser.emplace();
            } else {
                ASSERT_FALSE(ec) << "split at " << split << ": " << ec.message();
                read = parser->is_header_done();
            }
        }
        EXPECT_TRUE(read && fixed) << "split at " << split;
        EXPECT_EQ(parser->get().version(), 11u) << "split at " << split;
    }
}

}  // namespace
}  // namespace cell::proxy
