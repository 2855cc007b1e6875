#pragma once
// The JSON documents behind the debug endpoints (M2: /debug/config). Rendering happens off
// the hot path of proxied requests, so it uses nlohmann::json for clarity.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cell/controlplane/client.hpp"
#include "cell/resilience/connection_limit.hpp"
#include "cell/reload/file_poller.hpp"
#include "cell/routing/snapshot.hpp"
#include "cell/routing/table.hpp"

namespace cell::admin {

// Where /debug/config reads its facts. All members are safe to call from any thread.
struct DebugSources {
    const routing::TablePublisher* publisher = nullptr;
    const reload::FilePoller* poller = nullptr;                // null when reload is not active
    std::function<std::vector<std::uint64_t>()> worker_generations;  // table generation per worker
    const controlplane::ControlPlaneClient* control_plane = nullptr;  // null without a control plane
    const resilience::ConnectionLimit* connections = nullptr;  // client connections against max_connections
};

// `served` is the table the answering thread serves (a worker's copy, or the published one).
std::string render_debug_config(const routing::Table& served, const DebugSources& sources);

// /debug/placements: per placement its policy and live state: health (last probe result and
// time), breaker (state, counters), in-flight requests against the limit, rate-limit tokens.
std::string render_debug_placements(const routing::Table& served);

// /debug/route?key=K: where a request with routing key K would go right now and why, computed
// like a real request but without sending one or taking a breaker permit.
std::string render_route_preview(const routing::Table& served, std::string_view routing_key);

// The percent-decoded value of parameter `name` in a URL query ("a=1&key=acme"); nullopt when
// absent or when the query is malformed.
std::optional<std::string> query_parameter(std::string_view query, std::string_view name);

}  // namespace cell::admin
