#include "cell/proxy/wire_format.hpp"

#include <cstdio>

namespace cell::proxy {
namespace {

namespace http = boost::beast::http;

void append_version(std::string& out, unsigned version) {
    out += "HTTP/";
    out += static_cast<char>('0' + version / 10);
    out += '.';
    out += static_cast<char>('0' + version % 10);
}

template <typename Fields>
void append_fields(std::string& out, const Fields& fields) {
    for (const auto& field : fields) {
        out += field.name_string();
        out += ": ";
        out += field.value();
        out += "\r\n";
    }
    out += "\r\n";
}

}  // namespace

void append_head(std::string& out, const http::request_header<>& head) {
    out += head.method_string();
    out += ' ';
    out += head.target();
    out += ' ';
    append_version(out, head.version());
    out += "\r\n";
    append_fields(out, head);
}

void append_head(std::string& out, const http::response_header<>& head) {
    append_version(out, head.version());
    const unsigned code = head.result_int();
    out += ' ';
    out += static_cast<char>('0' + code / 100);
    out += static_cast<char>('0' + (code / 10) % 10);
    out += static_cast<char>('0' + code % 10);
    out += ' ';
    // As Beast: a head without its own reason phrase gets the standard one.
    out += head.reason().empty() ? http::obsolete_reason(static_cast<http::status>(code)) : head.reason();
    out += "\r\n";
    append_fields(out, head);
}

BodyFramer::Buffers BodyFramer::frame(boost::asio::const_buffer piece, bool last) {
    static constexpr std::string_view crlf_and_last_chunk = "\r\n0\r\n\r\n";
    if (framing_ == BodyFraming::raw) {
        return {piece, {}, {}};
    }
    if (piece.size() == 0) {
        return last ? Buffers{boost::asio::buffer(crlf_and_last_chunk.substr(2)), {}, {}} : Buffers{};
    }
    const int length = std::snprintf(size_line_, sizeof size_line_, "%zx\r\n", piece.size());
    const std::string_view after = last ? crlf_and_last_chunk : crlf_and_last_chunk.substr(0, 2);
    return {boost::asio::buffer(size_line_, static_cast<std::size_t>(length)), piece, boost::asio::buffer(after)};
}

}  // namespace cell::proxy
