#include "raw_websocket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <stdexcept>

#include <openssl/evp.h>

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::array<unsigned char, 4> mask_key{0x37, 0xfa, 0x21, 0x3d};
constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr std::string_view client_key = "dGhlIHNhbXBsZSBub25jZQ==";

// Writes that could block forever on a peer that stopped reading fail after this instead.
constexpr timeval send_timeout{5, 0};

}  // namespace

std::uint16_t Frame::close_code() const {
    if (payload.size() < 2) {
        return 1005;
    }
    return static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                      static_cast<unsigned char>(payload[1]));
}

std::string encode_frame(const FrameHeader& header, std::string_view payload) {
    std::string out;
    out.push_back(static_cast<char>((header.fin ? 0x80 : 0) | ((header.rsv & 0x7) << 4) | (header.opcode & 0xF)));
    const std::uint64_t length = header.announced_length.value_or(payload.size());
    const unsigned char mask_bit = header.masked ? 0x80 : 0;
    if (length < 126) {
        out.push_back(static_cast<char>(mask_bit | length));
    } else if (length <= 0xFFFF) {
        out.push_back(static_cast<char>(mask_bit | 126));
        out.push_back(static_cast<char>(length >> 8));
        out.push_back(static_cast<char>(length & 0xFF));
    } else {
        out.push_back(static_cast<char>(mask_bit | 127));
        for (int shift = 56; shift >= 0; shift -= 8) {
            out.push_back(static_cast<char>((length >> shift) & 0xFF));
        }
    }
    if (!header.masked) {
        out.append(payload);
        return out;
    }
    out.append(reinterpret_cast<const char*>(mask_key.data()), mask_key.size());
    for (std::size_t i = 0; i < payload.size(); ++i) {
        out.push_back(static_cast<char>(payload[i] ^ mask_key[i % 4]));
    }
    return out;
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
    std::string out;
    out.push_back(static_cast<char>(code >> 8));
    out.push_back(static_cast<char>(code & 0xFF));
    out.append(reason);
    return out;
}

std::string websocket_accept(std::string_view key) {
    const std::string input = std::string(key) + std::string(websocket_guid);
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int digest_size = 0;
    EVP_Digest(input.data(), input.size(), digest.data(), &digest_size, EVP_sha1(), nullptr);
    std::array<unsigned char, 64> encoded{};
    const int n = EVP_EncodeBlock(encoded.data(), digest.data(), static_cast<int>(digest_size));
    return std::string(reinterpret_cast<const char*>(encoded.data()), static_cast<std::size_t>(n));
}

RawFrameSocket::RawFrameSocket(int fd) : fd_(fd) {
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
}

RawFrameSocket::~RawFrameSocket() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

void RawFrameSocket::shutdown() { ::shutdown(fd_, SHUT_RDWR); }

bool RawFrameSocket::send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

bool RawFrameSocket::send_frame(const FrameHeader& header, std::string_view payload) {
    return send_raw(encode_frame(header, payload));
}

bool RawFrameSocket::fill(Clock::time_point deadline) {
    if (eof_) {
        return false;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
        return false;
    }
    pollfd waiting{fd_, POLLIN, 0};
    const int ready = ::poll(&waiting, 1, static_cast<int>(left));
    if (ready <= 0) {
        return false;
    }
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
        eof_ = true;
        return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
}

bool RawFrameSocket::take(std::size_t n, std::string& out, Clock::time_point deadline) {
    while (buffer_.size() < n) {
        if (!fill(deadline)) {
            return false;
        }
    }
    out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return true;
}

std::optional<Frame> RawFrameSocket::read_frame(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::string head;
    if (!take(2, head, deadline)) {
        return std::nullopt;
    }
    Frame frame;
    const auto first = static_cast<unsigned char>(head[0]);
    const auto second = static_cast<unsigned char>(head[1]);
    frame.fin = (first & 0x80) != 0;
    frame.rsv = static_cast<std::uint8_t>((first >> 4) & 0x7);
    frame.opcode = static_cast<std::uint8_t>(first & 0xF);
    frame.masked = (second & 0x80) != 0;
    std::uint64_t length = second & 0x7F;
    if (length >= 126) {
        std::string extended;
        if (!take(length == 126 ? 2 : 8, extended, deadline)) {
            return std::nullopt;
        }
        length = 0;
        for (const char c : extended) {
            length = (length << 8) | static_cast<unsigned char>(c);
        }
    }
    std::string key;
    if (frame.masked && !take(4, key, deadline)) {
        return std::nullopt;
    }
    if (!take(static_cast<std::size_t>(length), frame.payload, deadline)) {
        return std::nullopt;
    }
    if (frame.masked) {
        for (std::size_t i = 0; i < frame.payload.size(); ++i) {
            frame.payload[i] = static_cast<char>(frame.payload[i] ^ key[i % 4]);
        }
    }
    return frame;
}

std::string RawFrameSocket::read_http_head(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        const auto end = buffer_.find("\r\n\r\n");
        if (end != std::string::npos) {
            std::string head = buffer_.substr(0, end + 4);
            buffer_.erase(0, end + 4);
            return head;
        }
        if (!fill(deadline)) {
            return "";
        }
    }
}

CloseOutcome RawFrameSocket::wait_for_close(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    CloseOutcome outcome;
    while (!outcome.code) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        auto frame = read_frame(std::max(left, std::chrono::milliseconds(0)));
        if (!frame) {
            outcome.connection_closed = eof_;
            outcome.timed_out = !eof_;
            return outcome;
        }
        if (frame->opcode == ws_opcode::close) {
            outcome.code = frame->close_code();
        }
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    outcome.connection_closed = wait_for_eof(std::max(left, std::chrono::milliseconds(0)));
    outcome.timed_out = !outcome.connection_closed;
    return outcome;
}

bool RawFrameSocket::wait_for_eof(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!eof_) {
        buffer_.clear();
        if (!fill(deadline) && !eof_) {
            return false;
        }
    }
    return true;
}

namespace {

int connect_loopback(unsigned short port, int receive_buffer_bytes) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        throw std::runtime_error("socket() failed");
    }
    if (receive_buffer_bytes > 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof receive_buffer_bytes);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
    }
    return fd;
}

}  // namespace

RawWebSocket::RawWebSocket(unsigned short port, int receive_buffer_bytes)
    : RawFrameSocket(connect_loopback(port, receive_buffer_bytes)) {}

int RawWebSocket::handshake(const std::string& target, std::chrono::milliseconds timeout,
                            const std::string& extra_headers) {
    const std::string request = "GET " + target +
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                "Sec-WebSocket-Key: " +
                                std::string(client_key) + "\r\nSec-WebSocket-Version: 13\r\n" + extra_headers + "\r\n";
    if (!send_raw(request)) {
        return 0;
    }
    response_head_ = read_http_head(timeout);
    // "HTTP/1.1 101 Switching Protocols"
    if (response_head_.size() < 12 || response_head_.compare(0, 5, "HTTP/") != 0) {
        return 0;
    }
    const auto space = response_head_.find(' ');
    return std::stoi(response_head_.substr(space + 1, 3));
}

}  // namespace cell::testing
