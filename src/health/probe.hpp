#pragma once
// One health probe: `GET <path>` on a fresh upstream connection, judged by its status line.
// Private to the health checker; include only from .cpp files (pulls in Asio/Beast).
//
// Thread safety: runs on the thread of the pool it is given.

#include <string>

#include "cell/config/types.hpp"
#include "cell/proxy/upstream_pool.hpp"
#include "cell/routing/table.hpp"
#include "cell/transport/io.hpp"

namespace cell::health {

struct ProbeResult {
    bool success = false;
    // What the probe saw, short enough for a log line: "HTTP 200", "HTTP 503",
    // "connect: Connection refused", "timeout after 2s".
    std::string detail;
};

// "timeout after 2s": the detail of a probe that did not finish within `timeout`.
std::string timeout_detail(config::Duration timeout);

// Probes `target` once with its `policy.health_check` (which must be set). Connect (TCP, and
// TLS for https), write and reading the response header each stop at `health_check.timeout`
// after the start; only name resolution is not bounded here, so callers that need a hard
// bound race this against their own timer. Never throws for network failures.
// NOTE: `pool` must outlive the probe (it is owned by the checker, whose io_context goes first).
awaitable<ProbeResult> probe_once(proxy::UpstreamPool* pool, routing::PlacementTarget target);

}  // namespace cell::health
