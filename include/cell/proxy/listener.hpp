#pragma once
// The per-worker accept loop on an SO_REUSEPORT socket. Include only from .cpp files.

#include "cell/proxy/worker_state.hpp"
#include "cell/runtime/io.hpp"

namespace cell::proxy {

// Opens, binds and listens with SO_REUSEPORT, so every worker can bind the same port and the
// kernel spreads connections across them. Throws boost::system::system_error on failure.
tcp_acceptor open_reuseport_acceptor(executor_type executor, const tcp::endpoint& endpoint);

// Accepts until the acceptor is closed, spawning one session per connection on this worker.
// NOTE: `acceptor` and `worker` must outlive the loop (both are owned by the Worker).
awaitable<void> accept_loop(tcp_acceptor* acceptor, WorkerState* worker);

// Completion handler for co_spawn: logs an exception that escaped a coroutine as an
// internal error instead of letting it vanish.
void log_escaped_exception(std::exception_ptr error, const char* what);

}  // namespace cell::proxy
