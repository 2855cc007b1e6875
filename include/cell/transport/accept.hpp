#pragma once
// Accepting connections and keeping escaped exceptions visible: shared by the proxy's workers,
// the admin listener and the control plane. Include only from .cpp files.

#include <exception>
#include <functional>

#include "cell/transport/io.hpp"

namespace cell::transport {

// Starts serving one accepted connection. Must return a coroutine that owns what it needs
// (e.g. `[p](tcp_socket s) { return serve(std::move(s), p); }`), never a capturing lambda coroutine.
using ConnectionHandler = std::function<awaitable<void>(tcp_socket)>;

// Takes over one accepted connection; it may park it, spawn a coroutine for it, or close it.
using ConnectionTaker = std::function<void(tcp_socket)>;

// Accepts until the acceptor is closed, handing each connection (with TCP_NODELAY) to `take`.
// Accept errors such as EMFILE are logged and retried after a pause instead of spinning.
// NOTE: `acceptor` must outlive the loop.
awaitable<void> take_connections(tcp_acceptor* acceptor, ConnectionTaker take);

// The same, spawning `serve` for each connection on this executor.
awaitable<void> accept_connections(tcp_acceptor* acceptor, ConnectionHandler serve, const char* what);

// Completion handler for co_spawn: logs an exception that escaped a coroutine as an
// internal error instead of letting it vanish.
void log_escaped_exception(std::exception_ptr error, const char* what);

}  // namespace cell::transport
