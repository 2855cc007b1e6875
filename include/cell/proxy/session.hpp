#pragma once
// One downstream connection: read a request, route it, forward it, log it; repeat while the
// connection is kept alive. Include only from .cpp files.

#include "cell/proxy/worker_state.hpp"
#include "cell/transport/io.hpp"

namespace cell::proxy {

// NOTE: `worker` must outlive the session. Workers guarantee it by destroying their
// io_context (and with it every suspended session) before their WorkerState.
awaitable<void> run_session(TimedSocket client, WorkerState* worker);

// A connection over max_connections: answers 503 too_many_connections with Retry-After at once,
// without waiting for a request, then closes. `max_connections` is for the message.
// NOTE: `access_log` must outlive the coroutine (it is the accepting worker's).
awaitable<void> refuse_connection(TimedSocket client, std::uint32_t max_connections, AccessLog::Shard* access_log);

}  // namespace cell::proxy
