#include "cell/admin/debug_endpoints.hpp"

#include <nlohmann/json.hpp>

#include "cell/config/duration.hpp"
#include "cell/util/time_format.hpp"

namespace cell::admin {
namespace {

using nlohmann::json;

json render_settings(const config::ProxySettings& settings) {
    return json{{"max_header_bytes", settings.max_header_bytes},
                {"header_timeout", config::format_duration(settings.header_timeout)},
                {"idle_timeout", config::format_duration(settings.idle_timeout)},
                {"connect_timeout", config::format_duration(settings.connect_timeout)},
                {"request_timeout", config::format_duration(settings.request_timeout)},
                {"drain_timeout", config::format_duration(settings.drain_timeout)}};
}

json render_placements(const routing::Table& table) {
    json placements = json::object();
    for (const auto& placement : table.placements()) {
        placements[placement.name] = json{
            {"url", placement.endpoint.url},
            {"type", placement.kind == config::PlacementKind::dedicated ? "dedicated" : "shared"}};
    }
    return placements;
}

json render_reloads(const reload::ReloadStatus& status) {
    json reloads{{"checks", status.checks},
                 {"applied", status.applied},
                 {"rejected", status.rejected},
                 {"unchanged", status.unchanged}};
    return reloads;
}

json render_last_rejected(const reload::ReloadStatus& status) {
    if (!status.last_rejected_at) {
        return nullptr;
    }
    return json{{"at", util::format_rfc3339(*status.last_rejected_at)},
                {"reason", status.last_rejected_reason},
                {"content_hash", status.last_rejected_hash}};
}

json optional_time(const std::optional<std::chrono::system_clock::time_point>& time) {
    return time ? json(util::format_rfc3339(*time)) : json(nullptr);
}

json render_control_plane(const controlplane::ControlPlaneClient& client) {
    const auto connection = client.status();
    const auto applied = client.applier().status();
    json last_rejected = nullptr;
    if (applied->last_rejected_at) {
        last_rejected = json{{"at", util::format_rfc3339(*applied->last_rejected_at)},
                             {"reason", applied->last_rejected_reason}};
    }
    return json{{"url", connection->url},
                {"node_id", client.applier().node_id()},
                {"state", connection->state},
                {"connected_since", optional_time(connection->connected_since)},
                {"next_attempt_at", optional_time(connection->next_attempt_at)},
                {"connections", connection->connections},
                {"reconnect_attempts", connection->reconnect_attempts},
                {"last_error", connection->last_error},
                {"last_snapshot_at", optional_time(applied->last_snapshot_at)},
                {"last_snapshot_version", applied->last_snapshot_version},
                {"snapshots", json{{"received", applied->snapshots_received},
                                   {"applied", applied->applied},
                                   {"unchanged", applied->unchanged},
                                   {"rejected", applied->rejected}}},
                {"last_rejected", last_rejected},
                {"cache_error", applied->last_cache_error}};
}

}  // namespace

std::string render_debug_config(const routing::Table& served, const DebugSources& sources) {
    const auto& origin = served.origin();
    json document{{"version", served.version()},
                  {"source", origin.source},
                  {"path", origin.path},
                  {"last_reload_at", util::format_rfc3339(origin.loaded_at)},
                  {"content_hash", origin.content_hash},
                  {"routing_keys", served.routing_key_count()},
                  {"placement_count", served.placements().size()},
                  {"default_placement", served.default_placement().name},
                  {"placements", render_placements(served)},
                  {"settings", render_settings(served.settings())}};
    if (sources.publisher != nullptr) {
        document["generation"] = sources.publisher->generation();
    }
    if (sources.worker_generations) {
        document["worker_generations"] = sources.worker_generations();
    }
    document["control_plane"] =
        sources.control_plane != nullptr ? render_control_plane(*sources.control_plane) : json(nullptr);
    if (sources.poller != nullptr) {
        const auto status = sources.poller->status();
        document["reloads"] = render_reloads(*status);
        document["last_rejected"] = render_last_rejected(*status);
    } else {
        document["reloads"] = nullptr;
        document["last_rejected"] = nullptr;
    }
    return document.dump();
}

}  // namespace cell::admin
