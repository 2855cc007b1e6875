#pragma once
// permessage-deflate (RFC 7692) on the control-plane WebSocket, as both sides configure it.
// Include only from .cpp files: it pulls in Beast.
//
// Why these numbers (measured in docs/protocol.md, "Compression"): snapshots are the only big
// messages and a routing table is repetitive JSON, so the full 32 KiB window (15 bits) is worth
// its memory; level 1 already takes a million-key snapshot to about a fifth of its size, while
// higher levels cost several times the CPU for a few percent, and the control plane compresses
// every snapshot once per router. Hellos, acks and nacks are too small to gain from it.

#include <cstddef>

#include <boost/beast/websocket/option.hpp>

namespace cell::controlplane {

enum class WebSocketRole { client, server };

inline constexpr int ws_compression_level = 1;
inline constexpr int ws_compression_window_bits = 15;
inline constexpr int ws_compression_memory_level = 8;
// Messages smaller than this go out uncompressed (an ack is about 150 bytes).
inline constexpr std::size_t ws_compression_threshold_bytes = 1024;

// The extension as this side offers (client) or accepts (server) it; `enabled` false offers and
// accepts nothing, so the peers speak plain frames.
inline boost::beast::websocket::permessage_deflate websocket_deflate(bool enabled, WebSocketRole role) {
    boost::beast::websocket::permessage_deflate deflate;
    deflate.client_enable = enabled && role == WebSocketRole::client;
    deflate.server_enable = enabled && role == WebSocketRole::server;
    deflate.server_max_window_bits = ws_compression_window_bits;
    deflate.client_max_window_bits = ws_compression_window_bits;
    deflate.compLevel = ws_compression_level;
    deflate.memLevel = ws_compression_memory_level;
    deflate.msg_size_threshold = ws_compression_threshold_bytes;
    return deflate;
}

}  // namespace cell::controlplane
