#pragma once
// The TCP stream under the control-plane WebSockets, with a deadline on the last step of every
// close. Include only from .cpp files (it pulls in Beast).
//
// Why: after a close frame (sent or received, or sent because the peer broke the protocol) Beast
// "tears down" the connection: it shuts down its sending side and reads until the peer closes.
// Its teardown for a TCP socket has no deadline of its own, so a peer that never closes holds
// the socket until the WebSocket idle timer happens to fire, up to half the keepalive timeout
// later. Beast finds the teardown for a stream type by argument-dependent lookup; this type's
// teardown reads through the stream, whose deadline it sets first.

#include <array>
#include <chrono>
#include <memory>

#include <boost/asio/compose.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include "cell/transport/io.hpp"

namespace cell::controlplane {

class ClosingStream : public tcp_stream {
public:
    using tcp_stream::tcp_stream;
    explicit ClosingStream(tcp_stream&& stream) : tcp_stream(std::move(stream)) {}

    // How long the peer gets to close its end once both close frames are out (or ours is).
    std::chrono::milliseconds close_timeout() const { return close_timeout_; }
    void close_timeout(std::chrono::milliseconds timeout) { close_timeout_ = timeout; }

private:
    std::chrono::milliseconds close_timeout_{10'000};
};

namespace detail {

// Reads until the peer's EOF, an error or the stream's deadline, then closes the socket. It
// always succeeds: whoever asked for the close reports why the connection ended, and a peer
// that did not close in time changes nothing about that.
struct TeardownOp {
    ClosingStream& stream;
    boost::beast::role_type role;
    std::unique_ptr<std::array<char, 2048>> buffer = std::make_unique<std::array<char, 2048>>();
    bool started = false;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, std::size_t = 0) {
        if (!started || !ec) {
            started = true;
            stream.async_read_some(net::buffer(*buffer), std::move(self));
            return;
        }
        boost::system::error_code ignored;
        if (ec == net::error::eof && role == boost::beast::role_type::client) {
            stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        }
        stream.socket().close(ignored);
        self.complete({});
    }
};

}  // namespace detail

template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, ClosingStream& stream, TeardownHandler&& handler) {
    stream.expires_after(stream.close_timeout());
    if (role == boost::beast::role_type::server) {
        boost::system::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
    net::async_compose<TeardownHandler, void(boost::system::error_code)>(detail::TeardownOp{stream, role},
                                                                          handler, stream);
}

// The blocking form, which Beast's synchronous calls would use; the control plane never makes them.
inline void teardown(boost::beast::role_type role, ClosingStream& stream, boost::system::error_code& ec) {
    if (role == boost::beast::role_type::server) {
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
    stream.socket().close(ec);
}

}  // namespace cell::controlplane
