#include "cell/controlplane/router_session.hpp"

#include <boost/beast/websocket.hpp>

#include "cell/controlplane/protocol.hpp"
#include "cell/controlplane/ws_compression.hpp"
#include "cell/observability/log.hpp"
#include "cell/transport/accept.hpp"

namespace cell::controlplane {
namespace {

using observability::Level;

constexpr std::size_t snapshot_fragment_bytes = 64 * 1024;
// A snapshot is written this much at a time, and each piece written restarts the send deadline:
// the deadline catches a router that takes nothing, not one whose snapshot is big. A million-key
// snapshot (30 MB) to 100 routers, compressed on one thread, takes 30 s or more for all of them
// together, and over a slow link as long uncompressed; a deadline on the whole write would cut
// every router off, and the reconnects would get the same snapshot again, for ever.
constexpr std::size_t snapshot_piece_bytes = 1024 * 1024;

std::string peer_address(const tcp_stream& stream) {
    boost::system::error_code ec;
    const auto endpoint = stream.socket().remote_endpoint(ec);
    if (ec) {
        return "unknown";
    }
    return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

// A short, stable code for why a read ended, for the disconnect log line.
std::string_view read_error_reason(const boost::system::error_code& ec) {
    if (ec == websocket::error::closed) {
        return "closed_by_router";
    }
    if (ec == beast::error::timeout) {
        return "keepalive_timeout";
    }
    if (ec == net::error::eof || ec == net::error::connection_reset || ec == net::error::broken_pipe) {
        return "connection_lost";
    }
    if (ec == websocket::condition::protocol_violation || ec == websocket::error::message_too_big) {
        return "protocol_violation";
    }
    return "read_error";
}

}  // namespace

// Beast accepts any permessage-deflate offer when the server side is enabled, so the offer in
// the upgrade request decides.
bool RouterSession::negotiates_deflate(const Upgrade& upgrade) const {
    if (!settings_.compression) {
        return false;
    }
    const auto offered = upgrade[http::field::sec_websocket_extensions];
    return std::string_view(offered.data(), offered.size()).find("permessage-deflate") != std::string_view::npos;
}

RouterSession::RouterSession(tcp_stream stream, ServerState* state, SessionSettings settings)
    : ws_(std::move(stream)),
      state_(state),
      settings_(settings),
      address_(peer_address(ws_.next_layer())),
      wake_(ws_.get_executor()),
      send_deadline_(ws_.get_executor()) {}

awaitable<void> RouterSession::run(Upgrade& upgrade) {
    // The WebSocket layer owns the timeouts from now on: the HTTP read deadline must not fire.
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeouts{};
    // Bounds the answer to the upgrade and the wait for the router's close frame after ours
    // (a protocol error, a message too big, shutdown).
    timeouts.handshake_timeout = settings_.handshake_timeout;
    ws_.next_layer().close_timeout(settings_.handshake_timeout);
    timeouts.idle_timeout = settings_.keepalive_timeout;
    timeouts.keep_alive_pings = true;  // a ping at half the idle timeout; silence for all of it ends the connection
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& response) { response.set(http::field::server, "cell-control-plane"); }));
    ws_.read_message_max(max_router_message_bytes);
    ws_.set_option(websocket_deflate(settings_.compression, WebSocketRole::server));
    // Snapshots can be megabytes: larger fragments mean fewer frames and write calls, while
    // still letting control frames (pongs, close) go out between fragments.
    ws_.write_buffer_bytes(snapshot_fragment_bytes);
    ws_.text(true);

    auto [accept_ec] = co_await ws_.async_accept(upgrade);
    if (accept_ec) {
        observability::emit_event(Level::warn, std::move(observability::event_line(Level::warn, "router_handshake_failed")
                                                             .add("address", address_)
                                                             .add("error", accept_ec.message())));
        co_return;
    }
    if (state_->shutting_down()) {
        co_return;
    }
    connection_ = state_->attach(shared_from_this(), address_, negotiates_deflate(upgrade));
    // The writer runs beside the reader; each holds the session alive.
    net::co_spawn(ws_.get_executor(), [self = shared_from_this()] { return self->write_loop(); },
                  [](std::exception_ptr error) { transport::log_escaped_exception(error, "router_session_writer"); });
    co_await read_loop();
}

awaitable<void> RouterSession::read_loop() {
    beast::flat_buffer buffer;
    for (;;) {
        auto [ec, bytes] = co_await ws_.async_read(buffer);
        if (ec) {
            stop(read_error_reason(ec), ec.message());
            co_return;
        }
        const auto data = buffer.cdata();
        const std::string_view text(static_cast<const char*>(data.data()), data.size());
        state_->on_message(connection_, text, ws_.got_text());
        buffer.consume(buffer.size());
        if (stopped_) {
            co_return;
        }
    }
}

awaitable<void> RouterSession::write_loop() {
    for (;;) {
        if (stopped_) {
            co_return;
        }
        if (closing_) {
            arm_send_deadline();
            const websocket::close_reason reason(websocket::close_code::going_away);
            auto [close_ec] = co_await ws_.async_close(reason);
            writing_ = false;
            send_deadline_.cancel();
            if (close_ec) {
                stop("server_shutdown", close_ec.message());
            }
            // Otherwise the reader gets the router's answering close frame and ends the session.
            co_return;
        }
        SnapshotConstPtr snapshot = outbox_.take();
        if (!snapshot) {
            wake_.expires_at(steady_timer::time_point::max());
            [[maybe_unused]] auto [wake_ec] = co_await wake_.async_wait();
            continue;
        }
        // Chosen when written, not when queued: an ack read meanwhile may make the delta usable.
        const std::string& frame = state_->frame_for(connection_, *snapshot);
        const bool delta = &frame == &snapshot->delta_frame;
        std::size_t offset = 0;
        boost::system::error_code write_ec;
        do {
            const std::size_t piece = std::min(snapshot_piece_bytes, frame.size() - offset);
            const bool last = offset + piece == frame.size();
            arm_send_deadline();
            auto [piece_ec, written] = co_await ws_.async_write_some(last, net::buffer(frame.data() + offset, piece));
            write_ec = piece_ec;
            offset += piece;
        } while (!write_ec && offset < frame.size() && !stopped_);
        writing_ = false;
        send_deadline_.cancel();
        if (write_ec) {
            stop("send_failed", write_ec.message());
            co_return;
        }
        if (stopped_) {
            co_return;
        }
        state_->on_sent(connection_, *snapshot, delta);
    }
}

void RouterSession::arm_send_deadline() {
    writing_ = true;
    const std::uint64_t number = ++write_number_;
    send_deadline_.expires_after(settings_.send_timeout);
    // A plain handler, not a coroutine: it only has to close the socket, which fails the write.
    send_deadline_.async_wait([weak = weak_from_this(), number](const boost::system::error_code& ec) {
        auto self = weak.lock();
        // The write may have finished just as the timer fired: only the current write counts.
        if (ec || !self || !self->writing_ || self->write_number_ != number) {
            return;
        }
        self->stop("send_timeout", "the router took no part of the snapshot within the send timeout");
    });
}

void RouterSession::send(SnapshotConstPtr snapshot) {
    if (stopped_ || closing_) {
        return;
    }
    const SnapshotConstPtr queued = snapshot;
    if (auto dropped = outbox_.push(std::move(snapshot))) {
        state_->on_superseded(connection_, *dropped, *queued);
    }
    wake_.cancel();
}

void RouterSession::close_going_away() {
    if (stopped_ || closing_) {
        return;
    }
    closing_ = true;
    wake_.cancel();
}

void RouterSession::stop(std::string_view reason, std::string_view detail) {
    if (stopped_) {
        return;
    }
    stopped_ = true;
    // Whichever direction notices first, a connection we are closing ended because of shutdown.
    if (closing_) {
        reason = "server_shutdown";
    }
    state_->detach(connection_, reason, detail, outbox_.dropped());
    // Closing the socket completes the pending read and write (if any) with an error, which
    // ends both coroutines and so the session.
    beast::get_lowest_layer(ws_).close();
    wake_.cancel();
    send_deadline_.cancel();
}

}  // namespace cell::controlplane
