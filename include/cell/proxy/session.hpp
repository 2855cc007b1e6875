#pragma once
// Downstream connections: read a request, route it, forward it, log it; repeat while the
// connection is kept alive. Include only from .cpp files.

#include "cell/proxy/worker_state.hpp"
#include "cell/transport/io.hpp"

namespace cell::proxy {

// Takes over an accepted client connection on this worker's loop: counts it against
// max_connections and serves its requests, or, when the router already holds max_connections,
// answers 503 too_many_connections with Retry-After at once and closes.
// NOTE: `worker` must outlive the connection. Workers guarantee it by destroying their
// io_context (and with it every waiting connection and suspended request) before their
// WorkerState.
void serve_connection(tcp_socket socket, WorkerState* worker);

}  // namespace cell::proxy
