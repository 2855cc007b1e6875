#pragma once
// The per-worker accept loop on an SO_REUSEPORT socket. Include only from .cpp files.

#include "cell/proxy/worker_state.hpp"
#include "cell/transport/io.hpp"

namespace cell::proxy {

// Opens, binds and listens with SO_REUSEPORT, so every worker can bind the same port and the
// kernel spreads connections across them. Throws boost::system::system_error on failure.
tcp_acceptor open_reuseport_acceptor(executor_type executor, const tcp::endpoint& endpoint);

// SO_REUSEPORT would let a second router on the same port silently take half of the first
// one's connections: binding a plain socket first makes that an "Address already in use"
// instead. Throws boost::system::system_error when the port is taken.
void ensure_port_is_free(const tcp::endpoint& endpoint);

// The worker's accept loop: one proxy session per connection.
// NOTE: `acceptor` and `worker` must outlive the loop (both are owned by the Worker).
awaitable<void> accept_loop(tcp_acceptor* acceptor, WorkerState* worker);

}  // namespace cell::proxy
