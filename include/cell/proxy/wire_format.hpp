#pragma once
// HTTP/1.x message heads and body framing, written straight into bytes for the relay.
//
// Beast's serializer hands the socket one buffer per header field and walks that sequence again
// on every write of the message; a proxy writes each head exactly once, so it renders the head
// into one contiguous string and frames the body pieces itself (docs/benchmarks.md, "Where the
// time goes"). The bytes are the same as Beast's (tests/unit/proxy_wire_format_test.cpp).

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>

namespace cell::proxy {

// A head written field by field straight into the bytes that go out: the start line, the
// fields in order, then finish(). build_upstream_request / build_downstream_response fill it.
class WireHead {
public:
    void request_line(std::string_view method, std::string_view target, unsigned version);
    // An empty reason gets the standard phrase, as Beast does.
    void status_line(unsigned version, unsigned code, std::string_view reason);
    void field(std::string_view name, std::string_view value);
    // Ends the head with the blank line; the bytes are ready to write.
    const std::string& finish();

private:
    std::string bytes_;
};

enum class BodyFraming {
    raw,      // Content-Length, or read until the connection closes (HTTP/1.0): bytes as they are
    chunked,  // Transfer-Encoding: chunked: each piece a chunk, then the last chunk
};

// Frames the pieces of one body. Holds the current chunk's size line, so the buffers it returns
// are valid until the next call.
class BodyFramer {
public:
    using Buffers = std::array<boost::asio::const_buffer, 3>;

    explicit BodyFramer(BodyFraming framing) : framing_(framing) {}

    // The bytes for one piece of body; `last` also ends the body (for chunked, the zero-size
    // chunk). An empty piece that is not the last yields nothing to write.
    Buffers frame(boost::asio::const_buffer piece, bool last);

private:
    BodyFraming framing_;
    char size_line_[20] = {};
};

}  // namespace cell::proxy
