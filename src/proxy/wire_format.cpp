#include "cell/proxy/wire_format.hpp"

#include <cstdio>

#include <boost/beast/http/status.hpp>

namespace cell::proxy {
namespace {

namespace http = boost::beast::http;

void append_version(std::string& out, unsigned version) {
    out += "HTTP/";
    out += static_cast<char>('0' + version / 10);
    out += '.';
    out += static_cast<char>('0' + version % 10);
}

void append_start_line(std::string& out, std::string_view method, std::string_view target, unsigned version) {
    out += method;
    out += ' ';
    out += target;
    out += ' ';
    append_version(out, version);
    out += "\r\n";
}

void append_status_line(std::string& out, unsigned version, unsigned code, std::string_view reason) {
    append_version(out, version);
    out += ' ';
    out += static_cast<char>('0' + code / 100);
    out += static_cast<char>('0' + (code / 10) % 10);
    out += static_cast<char>('0' + code % 10);
    out += ' ';
    if (reason.empty()) {
        out += http::obsolete_reason(static_cast<http::status>(code));
    } else {
        out += reason;
    }
    out += "\r\n";
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
}

}  // namespace

void WireHead::request_line(std::string_view method, std::string_view target, unsigned version) {
    // Typical heads are a few hundred bytes: one allocation for the whole head.
    bytes_.reserve(512);
    append_start_line(bytes_, method, target, version);
}

void WireHead::status_line(unsigned version, unsigned code, std::string_view reason) {
    bytes_.reserve(512);
    append_status_line(bytes_, version, code, reason);
}

void WireHead::field(std::string_view name, std::string_view value) { append_field(bytes_, name, value); }

const std::string& WireHead::finish() {
    bytes_ += "\r\n";
    return bytes_;
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
