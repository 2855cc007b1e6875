#pragma once
// The per-worker accept loop on an SO_REUSEPORT socket. Include only from .cpp files.

#include <functional>

#include "cell/proxy/worker_state.hpp"
#include "cell/runtime/io.hpp"

namespace cell::proxy {

// Opens, binds and listens with SO_REUSEPORT, so every worker can bind the same port and the
// kernel spreads connections across them. Throws boost::system::system_error on failure.
tcp_acceptor open_reuseport_acceptor(executor_type executor, const tcp::endpoint& endpoint);

// SO_REUSEPORT would let a second router on the same port silently take half of the first
// one's connections: binding a plain socket first makes that an "Address already in use"
// instead. Throws boost::system::system_error when the port is taken.
void ensure_port_is_free(const tcp::endpoint& endpoint);

// Starts serving one accepted connection. Must return a coroutine that owns what it needs
// (e.g. `[p](tcp_stream s) { return serve(std::move(s), p); }`), never a capturing lambda coroutine.
using ConnectionHandler = std::function<awaitable<void>(tcp_stream)>;

// Accepts until the acceptor is closed, spawning `serve` for each connection on this executor
// (with TCP_NODELAY). Accept errors such as EMFILE are logged and retried after a pause
// instead of spinning. NOTE: `acceptor` must outlive the loop.
awaitable<void> accept_connections(tcp_acceptor* acceptor, ConnectionHandler serve, const char* what);

// The worker's accept loop: one proxy session per connection.
// NOTE: `acceptor` and `worker` must outlive the loop (both are owned by the Worker).
awaitable<void> accept_loop(tcp_acceptor* acceptor, WorkerState* worker);

// Completion handler for co_spawn: logs an exception that escaped a coroutine as an
// internal error instead of letting it vanish.
void log_escaped_exception(std::exception_ptr error, const char* what);

}  // namespace cell::proxy
