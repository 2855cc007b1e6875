// The bytes a cell answers with, through the response path of forward.cpp: Beast's response
// parser with the router's limits, the interim (1xx) responses passed on or dropped, and the
// rewrite of the final head for the client (both forms of build_downstream_response).
//
// Beyond "no crash, no leak, no undefined behaviour", it checks:
//   - what the client gets as an interim response is a 1xx response, and nothing but one;
//   - the client's final head parses, keeps the cell's status, carries each routing header
//     once (the router's, never the cell's) and no hop-by-hop or framing field of the cell's;
//   - both forms of build_downstream_response write the same bytes;
//   - how the bytes are split into reads changes nothing: what the client gets, or that the
//     cell's answer is refused.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>
#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "cell/proxy/headers.hpp"
#include "cell/proxy/wire_format.hpp"
#include "check.hpp"
#include "segmented_stream.hpp"

namespace {

using namespace cell;
using namespace cell::proxy;
namespace beast = boost::beast;
using error_code = boost::system::error_code;
using ResponseParser = http::response_parser<http::buffer_body>;

// forward.cpp reads the cell's head with this limit.
constexpr std::uint32_t response_header_limit = 64 * 1024;
constexpr int max_interim_responses = 8;

struct Client {
    unsigned version;
    bool head_request;
    RouteHeaders route;
};

// A head the client reads: it must parse on its own, with the expected status.
http::response_header<> parse_client_head(std::string_view bytes) {
    fuzz::SegmentedStream stream(bytes, bytes.size());
    beast::flat_buffer buffer;
    http::response_parser<http::empty_body> client;
    client.skip(true);  // only the head is checked here; framing is added by the caller
    client.header_limit(1024 * 1024);
    error_code ec;
    http::read_header(stream, buffer, client, ec);
    FUZZ_CHECK(!ec, "the head sent to the client parses");
    FUZZ_CHECK(buffer.size() == 0 && stream.remaining() == 0, "the head sent to the client is exactly one head");
    return client.release().base();
}

void check_interim(const ResponseParser& response, std::string& transcript) {
    http::response<http::empty_body> interim;
    interim.version(11);
    build_interim_response(response.get().base(), interim.base());
    std::ostringstream out;
    out << interim.base();
    const auto seen = parse_client_head(out.str());
    FUZZ_CHECK(seen.result_int() >= 100 && seen.result_int() < 200, "an interim response reaches the client as 1xx");
    FUZZ_CHECK(seen.result_int() == response.get().result_int(), "the interim status is the cell's");
    FUZZ_CHECK(seen.count(http::field::content_length) == 0 && seen.count(http::field::connection) == 0 &&
                   seen.count(http::field::transfer_encoding) == 0,
               "no framing or hop-by-hop field in an interim response");
    transcript += out.str();
}

std::size_t count_of(const http::response_header<>& head, std::string_view name) {
    return head.count(name);
}

void check_final(const ResponseParser& response, const Client& client, std::string& transcript) {
    const auto& cell_head = response.get().base();
    WireHead wire;
    build_downstream_response(cell_head, client.route, client.version, wire);
    const std::string bytes = wire.finish();

    ResponseHeader beast_form;
    beast_form.version(client.version);
    build_downstream_response(cell_head, client.route, beast_form);
    std::ostringstream out;
    out << beast_form;
    FUZZ_CHECK(out.str() == bytes, "the Beast and wire forms of the client head are the same bytes");

    const auto seen = parse_client_head(bytes);
    FUZZ_CHECK(seen.result_int() == cell_head.result_int(), "the client gets the cell's status");
    FUZZ_CHECK(seen.result_int() >= 200 && seen.result_int() <= 599, "the client's final status is 200..599");
    FUZZ_CHECK(seen.version() == client.version, "the client is answered in its own HTTP version");
    FUZZ_CHECK(seen.count(http::field::content_length) == 0 && seen.count(http::field::transfer_encoding) == 0 &&
                   seen.count(http::field::connection) == 0 && seen.count(http::field::keep_alive) == 0 &&
                   seen.count(http::field::upgrade) == 0,
               "no framing or hop-by-hop field of the cell's reaches the client");
    FUZZ_CHECK(count_of(seen, routed_to_header) == 1 && seen[routed_to_header] == client.route.routed_to,
               "one X-Routed-To, the router's");
    FUZZ_CHECK(count_of(seen, route_reason_header) == 1 && seen[route_reason_header] == client.route.route_reason,
               "one X-Route-Reason, the router's");
    FUZZ_CHECK(count_of(seen, request_id_header) == 1 && seen[request_id_header] == client.route.request_id,
               "one X-Request-Id, the router's");
    const std::size_t failover = client.route.failover_reason.empty() ? 0 : 1;
    FUZZ_CHECK(count_of(seen, failover_reason_header) == failover &&
                   count_of(seen, original_placement_header) == failover,
               "failover headers only from the router, and only after a failover");
    transcript += bytes;
}

// read_response_header of forward.cpp, then the client's head.
std::string relay_head(std::string_view input, std::size_t segment, const Client& client) {
    fuzz::SegmentedStream stream(input, segment);
    beast::flat_buffer buffer;
    std::string transcript;
    for (int i = 0; i < max_interim_responses; ++i) {
        ResponseParser response;
        response.body_limit(boost::none);
        response.header_limit(response_header_limit);
        response.skip(client.head_request);
        error_code ec;
        http::read_header(stream, buffer, response, ec);
        if (ec) {
            // The router answers 502 whatever the reason; which parse error Beast names may
            // depend on how much of a head had arrived when the cell closed.
            return transcript + "upstream error\n";
        }
        const unsigned status = response.get().result_int();
        if (!is_valid_response_status(status)) {
            return transcript + "upstream error\n";
        }
        if (status >= 200) {
            check_final(response, client, transcript);
            return transcript;
        }
        if (status == 101) {
            return transcript + "upstream error switching protocols\n";
        }
        if (status == 100 || client.version < 11) {
            transcript += "interim dropped\n";
            continue;
        }
        check_interim(response, transcript);
    }
    return transcript + "too many interim responses\n";
}

void relay_both_ways(std::string_view input, const Client& client) {
    const std::string whole = relay_head(input, input.size(), client);
    const std::string segmented = relay_head(input, 1 + input.size() % 13, client);
    if (whole != segmented) {
        std::fprintf(stderr, "read whole:\n%s\nread in pieces:\n%s\n", whole.c_str(), segmented.c_str());
    }
    FUZZ_CHECK(whole == segmented, "the client's head does not depend on how the cell's bytes arrive");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    relay_both_ways(input, Client{11, false, RouteHeaders{"tier1", "tier", "req-1", "", ""}});
    relay_both_ways(input, Client{10, true, RouteHeaders{"tier2", "default", "req-2", "unhealthy", "tier1"}});
    return 0;
}
