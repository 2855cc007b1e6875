// The bytes a client sends on one connection, through the request path as a router session runs
// it: Beast's request parser with the router's header limit, the version fix for HTTP/1.2-1.9,
// the request checks, X-Request-Id and routing-key extraction, the table lookup and placement
// choice, the limits checked before forwarding, the upstream head rewrite and the request body
// relay, for each request kept alive on the connection.
//
// Beyond "no crash, no leak, no undefined behaviour", it checks:
//   - the version fix never makes the session read the same refused head again (a loop);
//   - what goes upstream reads, for a strict HTTP/1.1 parser (the cell), as exactly one request
//     with the checked method, target, one Host, the framing and the body the router read, and
//     the routing key it routed by: the router and the cell never disagree on a message's end;
//   - both forms of build_upstream_request (Beast header, wire bytes) write the same bytes;
//   - how the bytes are split into reads changes nothing: what is forwarded, where, and whether
//     the router refuses.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "cell/config/load.hpp"
#include "cell/config/proxy_settings.hpp"
#include "cell/proxy/error_response.hpp"
#include "cell/proxy/headers.hpp"
#include "cell/proxy/request_version.hpp"
#include "cell/proxy/wire_format.hpp"
#include "cell/routing/failover.hpp"
#include "cell/routing/table.hpp"
#include "check.hpp"
#include "segmented_stream.hpp"

namespace {

using namespace cell;
using namespace cell::proxy;
namespace beast = boost::beast;
using error_code = boost::system::error_code;
using RequestParser = http::request_parser<http::buffer_body>;

// Three placements of both kinds, a fallback, a breaker and a body limit: every branch of the
// routing step is reachable from a request alone.
constexpr std::string_view router_config = R"({
  "version": "fuzz-1",
  "routingTable": {"acme": "tier1", "globex": "tier2", "visa": "visa", "small": "limited"},
  "placements": {
    "tier1": {"url": "http://cell-tier1:9001", "fallback": "tier2",
              "circuit_breaker": {"failure_threshold": 5, "timeout": "30s"}},
    "tier2": {"url": "http://[::1]:9002"},
    "visa": {"url": "https://visa.example", "type": "dedicated", "fallback": "tier2"},
    "limited": {"url": "http://127.0.0.1:9004", "max_request_body_bytes": 16}
  },
  "defaultPlacement": "tier2"
})";

constexpr std::string_view client_address = "127.0.0.1";
constexpr int max_requests_per_connection = 8;
// The relay buffer is 64 KiB in the router; a small one makes the fuzzer's short bodies cross
// its boundary too.
constexpr std::size_t relay_buffer_size = 61;

routing::TableConstPtr make_table() {
    config::LoadResult loaded = config::load_config(router_config);
    FUZZ_CHECK(loaded.ok(), "the harness's router config loads");
    return routing::Table::build(*loaded.config, config::resolve_proxy_settings(loaded.config->proxy, {}),
                                 routing::TableOrigin{"file", "", "", {}});
}

const routing::Table& table() {
    static const routing::TableConstPtr built = make_table();
    return *built;
}

Outcome error_for_problem(RequestProblem problem) {
    switch (problem) {
    case RequestProblem::method_not_allowed: return Outcome::method_not_allowed;
    case RequestProblem::unsupported_expectation: return Outcome::expectation_failed;
    default: return Outcome::bad_request;
    }
}

// A router-made answer: it must serialize, whatever detail and id it carries.
void answer_locally(Outcome error, std::string_view detail, unsigned version, std::string& transcript) {
    const auto response = make_local_response(LocalAnswer(error, std::string(detail)), RouteHeaders{}, version, false);
    std::ostringstream out;
    out << response;
    FUZZ_CHECK(response.result_int() >= 400, "a local answer is an error status");
    // Only that the router refused: which status it picks may depend on how much of a head had
    // arrived when the client stopped sending (an incomplete head is "bad request"; the same
    // head whole may be refused for its version first).
    transcript += "refused\n";
}

std::string value_or_empty(const http::fields& fields, http::field name) {
    const auto it = fields.find(name);
    return it == fields.end() ? std::string() : std::string(it->value());
}

// What the cell reads from the router: one complete request, nothing before or after it.
void check_upstream_request(std::string_view upstream, const RequestHeader& client, const RequestParser& client_parser,
                            const RequestCheck& check, std::string_view routing_key, std::string_view body,
                            std::string_view authority) {
    fuzz::SegmentedStream stream(upstream, upstream.size());
    beast::flat_buffer buffer;
    http::request_parser<http::string_body> cell;
    cell.header_limit(1024 * 1024);
    cell.body_limit(boost::none);
    error_code ec;
    http::read(stream, buffer, cell, ec);
    FUZZ_CHECK(!ec, "the upstream request parses");
    FUZZ_CHECK(cell.is_done() && buffer.size() == 0 && stream.remaining() == 0,
               "the upstream bytes are exactly one request");
    const auto& got = cell.get();
    FUZZ_CHECK(got.method_string() == client.method_string(), "the method goes upstream unchanged");
    FUZZ_CHECK(got.target() == check.upstream_target, "the checked target goes upstream");
    FUZZ_CHECK(got.version() == 11, "upstream speaks HTTP/1.1");
    FUZZ_CHECK(got.count(http::field::host) == 1, "exactly one Host goes upstream");
    const std::string expected_host = check.upstream_host.empty() ? std::string(authority) : check.upstream_host;
    FUZZ_CHECK(value_or_empty(got, http::field::host) == expected_host, "the decided Host goes upstream");
    FUZZ_CHECK(cell.chunked() == client_parser.chunked(), "chunked upstream exactly when the client sent chunked");
    FUZZ_CHECK(got.count(http::field::transfer_encoding) == (client_parser.chunked() ? 1u : 0u),
               "one Transfer-Encoding upstream, the router's own");
    FUZZ_CHECK(got.count(http::field::content_length) <= 1, "at most one Content-Length upstream");
    FUZZ_CHECK(got.body() == body, "the cell reads the body the router read");
    FUZZ_CHECK(got.count(http::field::connection) == 0 && got.count(http::field::upgrade) == 0 &&
                   got.count(http::field::te) == 0 && got.count(http::field::expect) == 0,
               "no hop-by-hop field goes upstream");
    const RoutingKey upstream_key = find_routing_key(got.base());
    FUZZ_CHECK(upstream_key.problem == RoutingKeyProblem::none && upstream_key.value == routing_key,
               "the cell sees the routing key the router routed by");
}

// Both forms of the rewrite must agree byte for byte.
void check_head_forms(const RequestHeader& client, const RequestCheck& check, const ForwardedFor& forwarded,
                      std::string_view authority, const std::string& framing_name, const std::string& framing_value,
                      const std::string& wire_head) {
    RequestHeader rebuilt;
    build_upstream_request(client, check, forwarded, authority, rebuilt);
    if (!framing_name.empty()) {
        rebuilt.insert(framing_name, framing_value);
    }
    std::ostringstream out;
    out << rebuilt;
    FUZZ_CHECK(out.str() == wire_head, "the Beast and wire forms of the upstream head are the same bytes");
}

// The body relay of forward.cpp's send_request: each piece framed as it arrives. Returns false
// when the client's body breaks off or is malformed (the router then never completes the
// upstream request), or crosses the placement's body limit.
bool relay_body(fuzz::SegmentedStream& stream, beast::flat_buffer& buffer, RequestParser& parser,
                const routing::PlacementTarget& serving, std::string& upstream, std::string& body,
                std::string& transcript) {
    BodyFramer framer(parser.chunked() ? BodyFraming::chunked : BodyFraming::raw);
    std::array<char, relay_buffer_size> relay{};
    auto& in_body = parser.get().body();
    const auto& limit = serving.policy.max_request_body_bytes;
    for (bool finished = parser.is_done(); !finished;) {
        std::size_t received = 0;
        if (!parser.is_done()) {
            in_body.data = relay.data();
            in_body.size = relay.size();
            error_code ec;
            http::read_some(stream, buffer, parser, ec);
            if (ec == http::error::need_buffer) {
                ec = {};
            }
            if (ec) {
                transcript += "body error " + ec.message() + "\n";
                return false;
            }
            received = relay.size() - in_body.size;
            body.append(relay.data(), received);
            if (limit && body.size() > *limit) {
                transcript += "local 413 over max_request_body_bytes\n";
                return false;
            }
        }
        finished = parser.is_done();
        if (received == 0 && !finished) {
            continue;
        }
        for (const auto& piece : framer.frame(boost::asio::buffer(relay.data(), received), finished)) {
            upstream.append(static_cast<const char*>(piece.data()), piece.size());
        }
    }
    return true;
}

// Routing, limits and the rewrite for a request whose head passed the checks. Returns whether
// the connection may carry another request.
bool route_and_forward(fuzz::SegmentedStream& stream, beast::flat_buffer& buffer, RequestParser& parser,
                       const RequestCheck& check, std::string_view routing_key, const std::string& request_id,
                       std::string& transcript) {
    const RequestHeader& header = parser.get().base();
    const routing::RouteDecision route = table().route(routing_key);
    FUZZ_CHECK(route.placement != nullptr, "every key routes somewhere");
    const routing::PlacementChoice choice =
        routing::choose_placement(table(), *route.placement, resilience::SteadyClock::now());
    FUZZ_CHECK(choice.serving != nullptr, "with every breaker closed a placement serves");
    const routing::PlacementTarget& serving = *choice.serving;
    transcript += "routed " + serving.name + " " + std::string(routing::to_string(route.reason)) + "\n";

    const auto declared = parser.content_length();
    const auto& limit = serving.policy.max_request_body_bytes;
    if (limit && declared && *declared > *limit) {
        answer_locally(Outcome::body_too_large, "Content-Length over the limit", header.version(), transcript);
        return parser.is_done() && parser.keep_alive();
    }

    const ForwardedFor forwarded{request_id, std::string(client_address), "http"};
    const std::string_view authority = serving.endpoint.authority;
    WireHead head;
    build_upstream_request(header, check, forwarded, authority, head);
    std::string framing_name;
    std::string framing_value;
    if (parser.chunked()) {
        framing_name = "Transfer-Encoding";
        framing_value = "chunked";
    } else if (declared) {
        framing_name = "Content-Length";
        framing_value = std::to_string(*declared);
    }
    if (!framing_name.empty()) {
        head.field(framing_name, framing_value);
    }
    std::string upstream = head.finish();
    check_head_forms(header, check, forwarded, authority, framing_name, framing_value, upstream);
    transcript += upstream;

    std::string body;
    if (!relay_body(stream, buffer, parser, serving, upstream, body, transcript)) {
        return false;
    }
    check_upstream_request(upstream, header, parser, check, routing_key, body, authority);
    transcript += "body " + std::to_string(body.size()) + "\n";
    return parser.keep_alive();
}

// One request of the connection, as Session::serve_one_request handles it. Returns whether
// the connection may carry another request.
bool serve_one_request(fuzz::SegmentedStream& stream, beast::flat_buffer& buffer, std::string& transcript) {
    const config::ProxySettings& settings = table().settings();
    bool version_fixed = false;
    for (;;) {
        RequestParser parser;
        parser.header_limit(settings.max_header_bytes);
        parser.body_limit(boost::none);
        error_code ec;
        http::read_header(stream, buffer, parser, ec);
        if (ec) {
            if (ec == http::error::end_of_stream || ec == boost::asio::error::eof) {
                transcript += "closed\n";
                return false;
            }
            Outcome error = ec == http::error::header_limit ? Outcome::header_too_large : Outcome::bad_request;
            if (ec == http::error::bad_version) {
                const auto head = buffer.data();
                switch (fix_request_version({static_cast<char*>(head.data()), head.size()})) {
                case VersionFix::read_as_http11:
                    // The session reads the head again; refused again for its version, it would
                    // be fixed again, forever.
                    FUZZ_CHECK(!version_fixed, "a head whose version was fixed is not refused for its version again");
                    version_fixed = true;
                    continue;
                case VersionFix::unsupported: error = Outcome::version_not_supported; break;
                case VersionFix::malformed: break;
                }
            }
            answer_locally(error, ec.message(), 11, transcript);
            return false;
        }

        const RequestHeader& header = parser.get().base();
        const std::string request_id = request_id_for(header);
        FUZZ_CHECK(!request_id.empty() && request_id.size() <= 128, "a request id is 1..128 characters");
        // A generated id differs on every call; the transcript must not.
        const bool client_id = header.count(request_id_header) > 0 && header[request_id_header] == request_id;
        const std::string stable_id = client_id ? request_id : std::string("generated");

        const RequestCheck check = check_request(header);
        if (check.problem != RequestProblem::none) {
            answer_locally(error_for_problem(check.problem), check.detail, header.version(), transcript);
            return false;
        }
        FUZZ_CHECK(!check.upstream_target.empty(), "an accepted request has a target to forward");
        FUZZ_CHECK(check.upstream_host.empty() || is_valid_host(check.upstream_host), "the upstream Host is valid");
        const RoutingKey key = find_routing_key(header);
        if (key.problem != RoutingKeyProblem::none) {
            answer_locally(key.problem == RoutingKeyProblem::conflicting ? Outcome::conflicting_key
                                                                          : Outcome::missing_key,
                           "routing key", header.version(), transcript);
            return parser.is_done() && parser.keep_alive();
        }
        return route_and_forward(stream, buffer, parser, check, key.value, stable_id, transcript);
    }
}

std::string serve_connection(std::string_view input, std::size_t segment) {
    fuzz::SegmentedStream stream(input, segment);
    beast::flat_buffer buffer;
    std::string transcript;
    for (int i = 0; i < max_requests_per_connection; ++i) {
        if (!serve_one_request(stream, buffer, transcript)) {
            break;
        }
    }
    return transcript;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);
    table();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::string whole = serve_connection(input, input.size());
    const std::string segmented = serve_connection(input, 1 + size % 17);
    if (whole != segmented) {
        std::fprintf(stderr, "read whole:\n%s\nread in pieces:\n%s\n", whole.c_str(), segmented.c_str());
    }
    FUZZ_CHECK(whole == segmented, "the router's answer does not depend on how the bytes arrive");
    return 0;
}
