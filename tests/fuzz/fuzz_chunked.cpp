// A chunked body (sizes, chunk extensions, trailers, whatever follows it) through the body
// relay of forward.cpp, both ways: the client's request body to the cell, and the cell's
// response body to the client. Beast's parser reads it into the relay buffer piece by piece,
// BodyFramer frames each piece again as a chunk.
//
// Beyond "no crash, no leak, no undefined behaviour", it checks against Beast reading the same
// message whole (string_body):
//   - the relay accepts exactly the bodies the whole read accepts, and yields the same bytes,
//     whatever the relay buffer's size and however the input is split into reads;
//   - the re-framed body reads, for the other side, as the same body and exactly one message:
//     extensions and trailers never make the two sides disagree on where the message ends.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "cell/proxy/wire_format.hpp"
#include "check.hpp"
#include "segmented_stream.hpp"

namespace {

using namespace cell;
using namespace cell::proxy;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using error_code = boost::system::error_code;

constexpr std::string_view request_head =
    "POST /upload HTTP/1.1\r\nHost: shop.example\r\nX-Routing-Key: acme\r\nTransfer-Encoding: chunked\r\n\r\n";
constexpr std::string_view response_head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

// The header limits the router reads each side with: its default max_header_bytes for
// clients, 64 KiB for cells. Beast applies them to trailers too.
constexpr std::uint32_t client_header_limit = 16 * 1024;
constexpr std::uint32_t cell_header_limit = 64 * 1024;

struct Read {
    error_code ec;
    bool done = false;
    std::string body;
};

// Beast reading the whole message into a string: the reference.
template <bool isRequest>
Read read_whole(std::string_view message, std::uint32_t header_limit) {
    fuzz::SegmentedStream stream(message, message.size());
    beast::flat_buffer buffer;
    http::parser<isRequest, http::string_body> parser;
    parser.header_limit(header_limit);
    parser.body_limit(boost::none);
    Read read;
    http::read(stream, buffer, parser, read.ec);
    read.done = parser.is_done();
    read.body = parser.get().body();
    return read;
}

struct Relayed {
    Read read;
    std::string framed;  // what the other side receives after the head
};

// The relay loop of send_request / relay_response.
template <bool isRequest>
Relayed relay(std::string_view message, std::uint32_t header_limit, std::size_t segment, std::size_t relay_size) {
    fuzz::SegmentedStream stream(message, segment);
    beast::flat_buffer buffer;
    http::parser<isRequest, http::buffer_body> parser;
    parser.header_limit(header_limit);
    parser.body_limit(boost::none);
    Relayed out;
    http::read_header(stream, buffer, parser, out.read.ec);
    FUZZ_CHECK(!out.read.ec, "the fixed head reads");
    FUZZ_CHECK(parser.chunked(), "the fixed head is chunked");
    BodyFramer framer(BodyFraming::chunked);
    std::vector<char> relay_buffer(relay_size);
    auto& in_body = parser.get().body();
    for (bool finished = false; !finished;) {
        std::size_t received = 0;
        if (!parser.is_done()) {
            in_body.data = relay_buffer.data();
            in_body.size = relay_buffer.size();
            error_code ec;
            http::read_some(stream, buffer, parser, ec);
            if (ec == http::error::need_buffer) {
                ec = {};
            }
            if (ec) {
                out.read.ec = ec;
                return out;
            }
            received = relay_buffer.size() - in_body.size;
            out.read.body.append(relay_buffer.data(), received);
        }
        finished = parser.is_done();
        if (received == 0 && !finished) {
            continue;
        }
        for (const auto& piece : framer.frame(boost::asio::buffer(relay_buffer.data(), received), finished)) {
            out.framed.append(static_cast<const char*>(piece.data()), piece.size());
        }
    }
    out.read.done = true;
    return out;
}

template <bool isRequest>
void check_side(std::string_view head, std::string_view body, std::uint32_t header_limit, std::size_t segment,
                std::size_t relay_size) {
    const std::string message = std::string(head) + std::string(body);
    const Read whole = read_whole<isRequest>(message, header_limit);
    const Relayed relayed = relay<isRequest>(message, header_limit, segment, relay_size);
    const bool whole_ok = !whole.ec && whole.done;
    const bool relay_ok = !relayed.read.ec && relayed.read.done;
    FUZZ_CHECK(whole_ok == relay_ok, "the relay accepts exactly the bodies a whole read accepts");
    if (!whole_ok) {
        FUZZ_CHECK(whole.ec == relayed.read.ec, "the relay refuses a body for the same reason as a whole read");
        return;
    }
    FUZZ_CHECK(relayed.read.body == whole.body, "the relay reads the same body as a whole read");

    const std::string forwarded = std::string(head) + relayed.framed;
    fuzz::SegmentedStream stream(forwarded, forwarded.size());
    beast::flat_buffer buffer;
    http::parser<isRequest, http::string_body> other_side;
    other_side.header_limit(header_limit);
    other_side.body_limit(boost::none);
    error_code ec;
    http::read(stream, buffer, other_side, ec);
    FUZZ_CHECK(!ec && other_side.is_done(), "the re-framed body reads on the other side");
    FUZZ_CHECK(buffer.size() == 0 && stream.remaining() == 0, "the re-framed body ends the message exactly");
    FUZZ_CHECK(other_side.get().body() == whole.body, "the other side reads the same body");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    // Client to cell: small reads into a small relay buffer.
    check_side<true>(request_head, body, client_header_limit, 1 + size % 7, 1 + size % 61);
    // Cell to client: the router's 64 KiB relay buffer, the input in one read.
    check_side<false>(response_head, body, cell_header_limit, SIZE_MAX, 64 * 1024);
    return 0;
}
