#pragma once
// The control plane's one port: plain HTTP for GET /health, GET /status and /metrics, the
// config API for cellctl (config_api.hpp), and the WebSocket upgrade at GET /connect that turns a
// connection into a RouterSession. Include only from .cpp files.

#include "cell/controlplane/config_api.hpp"
#include "cell/controlplane/server_state.hpp"
#include "cell/transport/io.hpp"

namespace cell::controlplane {

// Accepts until the acceptor is closed, one coroutine per connection on this event loop.
// NOTE: `acceptor`, `state` and `config_api` must outlive the loop and every connection it starts.
awaitable<void> control_plane_accept_loop(tcp_acceptor* acceptor, ServerState* state, ConfigApi* config_api,
                                          SessionSettings settings);

}  // namespace cell::controlplane
