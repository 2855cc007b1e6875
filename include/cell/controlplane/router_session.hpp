#pragma once
// One router's WebSocket connection to the control plane. Include only from .cpp files.
//
// Two coroutines share the stream, as Beast allows one read and one write outstanding: the
// reader always has a read pending (so acks are processed and pings answered even while a big
// snapshot is being written), and the writer is the only one to write, draining the session's
// outbox (at most one waiting snapshot, the newest). A snapshot is written in pieces; a piece
// that does not go out within the send timeout closes the connection; Beast's idle timeout with keep-alive pings drops a router
// that has been silent for the keepalive timeout.
//
// Lifetime: each coroutine holds a shared_ptr to the session; ServerState holds a weak_ptr so
// that broadcasts reach live sessions only.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/beast/websocket/stream.hpp>

#include "cell/controlplane/closing_stream.hpp"
#include "cell/controlplane/router_session_outbox.hpp"
#include "cell/controlplane/server_state.hpp"
#include "cell/transport/io.hpp"

namespace cell::controlplane {

namespace websocket = boost::beast::websocket;

class RouterSession : public std::enable_shared_from_this<RouterSession> {
public:
    using Upgrade = http::request<http::string_body>;

    // NOTE: `state` must outlive the session; the server owns it and destroys its event loop
    // (and so every session coroutine) first.
    RouterSession(tcp_stream stream, ServerState* state, SessionSettings settings);

    // Answers the upgrade request and serves the router until the connection ends. The caller
    // keeps the session and `upgrade` alive until this returns.
    awaitable<void> run(Upgrade& upgrade);

    // Queues `snapshot` for sending; replaces a snapshot still waiting (never sent).
    void send(SnapshotConstPtr snapshot);
    // Sends a close frame ("going away") after the write in progress, if any, then ends.
    void close_going_away();

private:
    awaitable<void> read_loop();
    awaitable<void> write_loop();
    void arm_send_deadline();
    bool negotiates_deflate(const Upgrade& upgrade) const;
    void stop(std::string_view reason, std::string_view detail);

    websocket::stream<ClosingStream> ws_;
    ServerState* state_;
    const SessionSettings settings_;
    std::string address_;
    RouterSessionOutbox outbox_;
    steady_timer wake_;           // the writer sleeps on it while the outbox is empty
    steady_timer send_deadline_;  // armed while a write (or the close frame) is in progress
    std::uint64_t connection_ = 0;
    std::uint64_t write_number_ = 0;  // tells a stale deadline handler from the current write's
    bool writing_ = false;
    bool closing_ = false;
    bool stopped_ = false;
};

}  // namespace cell::controlplane
