#pragma once
// WebSocket at the byte level, for fault tests: Beast only writes valid frames, so the peers here
// write any FIN, RSV, opcode, mask and length a test asks for, and read frames without judging
// them. RawFrameSocket speaks frames on a connected socket; RawWebSocket is the client side
// (connect and upgrade), the server side lives in scripted_control_plane.hpp.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cell::testing {

namespace ws_opcode {
inline constexpr std::uint8_t continuation = 0x0;
inline constexpr std::uint8_t text = 0x1;
inline constexpr std::uint8_t binary = 0x2;
inline constexpr std::uint8_t close = 0x8;
inline constexpr std::uint8_t ping = 0x9;
inline constexpr std::uint8_t pong = 0xA;
}  // namespace ws_opcode

// One frame header as written; nothing is checked, so any field can be wrong on purpose.
struct FrameHeader {
    bool fin = true;
    std::uint8_t rsv = 0;  // the three RSV bits, RSV1 = 4
    std::uint8_t opcode = ws_opcode::text;
    bool masked = true;
    // The length announced in the header; by default the payload's. A larger one with a short
    // payload announces a message without sending it.
    std::optional<std::uint64_t> announced_length;
};

struct Frame {
    bool fin = true;
    std::uint8_t rsv = 0;
    std::uint8_t opcode = 0;
    bool masked = false;
    std::string payload;  // unmasked

    // For a close frame: its status code, 1005 ("no status") when the payload has none.
    std::uint16_t close_code() const;
};

// The bytes of one frame; a masked frame uses a fixed, non-zero key.
std::string encode_frame(const FrameHeader& header, std::string_view payload);
// The payload of a close frame.
std::string close_payload(std::uint16_t code, std::string_view reason = "");
// Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2).
std::string websocket_accept(std::string_view key);

// How a wait for the peer's close ended.
struct CloseOutcome {
    std::optional<std::uint16_t> code;  // the peer's close frame, if one came
    bool connection_closed = false;     // EOF or reset seen (after the close frame, if any)
    bool timed_out = false;             // neither within the wait
};

// Frames over a connected socket with blocking, bounded reads. Owns the descriptor.
class RawFrameSocket {
public:
    explicit RawFrameSocket(int fd);
    ~RawFrameSocket();
    RawFrameSocket(const RawFrameSocket&) = delete;
    RawFrameSocket& operator=(const RawFrameSocket&) = delete;

    int fd() const { return fd_; }
    // False when the socket no longer takes bytes (the peer reset it).
    bool send_raw(std::string_view bytes);
    bool send_frame(const FrameHeader& header, std::string_view payload);
    // The next frame, or nullopt on EOF, error or timeout.
    std::optional<Frame> read_frame(std::chrono::milliseconds timeout);
    // An HTTP header section up to and including the blank line; "" on EOF, error or timeout.
    std::string read_http_head(std::chrono::milliseconds timeout);
    // Reads (and drops) frames until the peer's close frame, then waits for the connection to end
    // without answering it, so the peer's own bound on the close handshake is what ends it.
    CloseOutcome wait_for_close(std::chrono::milliseconds timeout);
    // True when the peer ends the connection within `timeout` (frames that arrive are dropped).
    bool wait_for_eof(std::chrono::milliseconds timeout);
    // Closes the socket at once (and wakes a read blocked in another thread).
    void shutdown();

private:
    // Reads more bytes into buffer_ before `deadline`; false on EOF, error or timeout.
    bool fill(std::chrono::steady_clock::time_point deadline);
    bool take(std::size_t n, std::string& out, std::chrono::steady_clock::time_point deadline);

    int fd_ = -1;
    std::string buffer_;
    bool eof_ = false;
};

// A client connection to 127.0.0.1:port that upgrades with a hand-written request.
class RawWebSocket : public RawFrameSocket {
public:
    // Connects; throws std::runtime_error when the connect fails. A non-zero
    // `receive_buffer_bytes` sets SO_RCVBUF first, so that a slow reader slows the sender.
    explicit RawWebSocket(unsigned short port, int receive_buffer_bytes = 0);

    // Sends the upgrade request for `target` and reads the response head. Returns the status code
    // (101 on success), 0 when no response came within `timeout`.
    // `extra_headers` are whole header lines ("Name: value\r\n"), e.g. an extension offer.
    int handshake(const std::string& target = "/connect", std::chrono::milliseconds timeout = std::chrono::seconds(5),
                  const std::string& extra_headers = "");
    // The response head the handshake read.
    const std::string& response_head() const { return response_head_; }

private:
    std::string response_head_;
};

}  // namespace cell::testing
