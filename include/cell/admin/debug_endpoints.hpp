#pragma once
// The JSON documents behind the debug endpoints (M2: /debug/config). Rendering happens off
// the hot path of proxied requests, so it uses nlohmann::json for clarity.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cell/controlplane/client.hpp"
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
};

// `served` is the table the answering thread serves (a worker's copy, or the published one).
std::string render_debug_config(const routing::Table& served, const DebugSources& sources);

}  // namespace cell::admin
