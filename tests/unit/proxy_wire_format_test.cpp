// Message heads and body framing written by the relay: the same bytes Beast's serializer writes,
// and bodies that a parser reads back whole.

#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include <boost/beast/http.hpp>

#include "cell/proxy/wire_format.hpp"

namespace cell::proxy {
namespace {

namespace http = boost::beast::http;
namespace net = boost::asio;

template <bool isRequest>
std::string beast_bytes(const http::message<isRequest, http::empty_body>& message) {
    std::ostringstream out;
    out << message;
    return out.str();
}

// The same head through WireHead, as the relay writes it: start line, then the fields in order.
std::string wire_bytes(const http::request_header<>& head) {
    WireHead wire;
    wire.request_line(head.method_string(), head.target(), head.version());
    for (const auto& field : head) {
        wire.field(field.name_string(), field.value());
    }
    return wire.finish();
}

std::string wire_bytes(const http::response_header<>& head) {
    WireHead wire;
    wire.status_line(head.version(), head.result_int(), head.reason());
    for (const auto& field : head) {
        wire.field(field.name_string(), field.value());
    }
    return wire.finish();
}

std::string bytes_of(const BodyFramer::Buffers& buffers) {
    std::string out;
    for (const auto& buffer : buffers) {
        out.append(static_cast<const char*>(buffer.data()), buffer.size());
    }
    return out;
}

TEST(WireFormat, RequestHeadIsWhatBeastWrites) {
    http::request<http::empty_body> request{http::verb::post, "/orders?id=7&x=%20", 11};
    request.set(http::field::host, "tier1:8080");
    request.insert("X-Routing-Key", "acme");
    request.insert("X-Forwarded-For", "10.0.0.1");
    request.insert("x-custom", "");  // empty value
    request.insert("Accept", "text/html");
    request.insert("Accept", "application/json");  // repeated field, order kept
    request.set(http::field::content_length, "12");
    const std::string head = wire_bytes(request.base());
    EXPECT_EQ(head, beast_bytes(request));
    EXPECT_TRUE(head.starts_with("POST /orders?id=7&x=%20 HTTP/1.1\r\nHost: tier1:8080\r\n"));
    EXPECT_TRUE(head.ends_with("Content-Length: 12\r\n\r\n"));
}

TEST(WireFormat, UnknownMethodAndHttp10) {
    http::request<http::empty_body> request;
    request.method_string("PURGE");
    request.target("*");
    request.version(10);
    const std::string head = wire_bytes(request.base());
    EXPECT_EQ(head, beast_bytes(request));
    EXPECT_EQ(head, "PURGE * HTTP/1.0\r\n\r\n");
}

TEST(WireFormat, ResponseHeadKeepsTheCellsReasonOrUsesTheStandardOne) {
    http::response<http::empty_body> custom{http::status::ok, 11};
    custom.reason("Fine Thanks");
    custom.set(http::field::content_type, "application/json");
    custom.insert("X-Routed-To", "visa");
    std::string head = wire_bytes(custom.base());
    EXPECT_EQ(head, beast_bytes(custom));
    EXPECT_TRUE(head.starts_with("HTTP/1.1 200 Fine Thanks\r\n"));

    http::response<http::empty_body> standard{http::status::not_found, 10};
    head = wire_bytes(standard.base());
    EXPECT_EQ(head, beast_bytes(standard));
    EXPECT_EQ(head, "HTTP/1.0 404 Not Found\r\n\r\n");

    http::response<http::empty_body> unknown;
    unknown.result(599);
    unknown.version(11);
    head = wire_bytes(unknown.base());
    EXPECT_EQ(head, beast_bytes(unknown));
}

TEST(WireFormat, HeadWithoutFieldsEndsWithTheBlankLine) {
    WireHead head;
    head.status_line(11, 204, "");
    EXPECT_EQ(head.finish(), "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(BodyFramer, RawPiecesPassUnchanged) {
    BodyFramer framer(BodyFraming::raw);
    EXPECT_EQ(bytes_of(framer.frame(net::buffer(std::string_view("hello")), false)), "hello");
    EXPECT_EQ(bytes_of(framer.frame(net::buffer(std::string_view("!")), true)), "!");
    EXPECT_EQ(net::buffer_size(framer.frame(net::const_buffer{}, true)), 0u);
}

TEST(BodyFramer, ChunkedPiecesAreChunksAndTheLastEndsTheBody) {
    BodyFramer framer(BodyFraming::chunked);
    EXPECT_EQ(bytes_of(framer.frame(net::buffer(std::string_view("hello")), false)), "5\r\nhello\r\n");
    const std::string large(0x1a2b, 'x');
    EXPECT_EQ(bytes_of(framer.frame(net::buffer(large), false)), "1a2b\r\n" + large + "\r\n");
    EXPECT_EQ(bytes_of(framer.frame(net::buffer(std::string_view("end")), true)), "3\r\nend\r\n0\r\n\r\n");
}

TEST(BodyFramer, EmptyPiecesWriteNothingUnlessTheyEndTheBody) {
    BodyFramer framer(BodyFraming::chunked);
    EXPECT_EQ(net::buffer_size(framer.frame(net::const_buffer{}, false)), 0u);
    EXPECT_EQ(bytes_of(framer.frame(net::const_buffer{}, true)), "0\r\n\r\n");
}

TEST(BodyFramer, ParserReadsTheFramedBodyBackWhole) {
    http::response<http::empty_body> response{http::status::ok, 11};
    response.set(http::field::transfer_encoding, "chunked");
    std::string wire = wire_bytes(response.base());
    BodyFramer framer(BodyFraming::chunked);
    const std::string pieces[] = {"first piece, ", "", "second, ", "and the last"};
    for (std::size_t i = 0; i < std::size(pieces); ++i) {
        wire += bytes_of(framer.frame(net::buffer(pieces[i]), i + 1 == std::size(pieces)));
    }
    // put() consumes one part (head, chunk header, data...) per call.
    http::response_parser<http::string_body> whole;
    boost::system::error_code ec;
    std::size_t offset = 0;
    while (!whole.is_done() && offset < wire.size()) {
        offset += whole.put(net::buffer(wire.data() + offset, wire.size() - offset), ec);
        ASSERT_FALSE(ec) << ec.message();
    }
    ASSERT_TRUE(whole.is_done());
    EXPECT_EQ(offset, wire.size());
    EXPECT_EQ(whole.get().body(), "first piece, second, and the last");
}

}  // namespace
}  // namespace cell::proxy
