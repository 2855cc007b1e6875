#include "cell/admin/debug_endpoints.hpp"

#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>
#include <nlohmann/json.hpp>

#include "cell/config/duration.hpp"
#include "cell/routing/failover.hpp"
#include "cell/util/time_format.hpp"

namespace cell::admin {
namespace {

using nlohmann::json;

// Text these documents carry can hold bytes that are not UTF-8: a rejected file's syntax error
// quotes the bytes it choked on, and /debug/route echoes the key it was asked about. Such bytes
// are shown as U+FFFD instead of making the whole answer fail.
std::string to_text(const json& document) { return document.dump(-1, ' ', false, json::error_handler_t::replace); }

json render_settings(const config::ProxySettings& settings) {
    return json{{"max_header_bytes", settings.max_header_bytes},
                {"header_timeout", config::format_duration(settings.header_timeout)},
                {"idle_timeout", config::format_duration(settings.idle_timeout)},
                {"connect_timeout", config::format_duration(settings.connect_timeout)},
                {"request_timeout", config::format_duration(settings.request_timeout)},
                {"drain_timeout", config::format_duration(settings.drain_timeout)},
                {"max_connections", settings.max_connections}};
}

std::string_view type_name(config::PlacementKind kind) {
    return kind == config::PlacementKind::dedicated ? "dedicated" : "shared";
}

json render_policy(const routing::Table& table, const routing::PlacementTarget& placement) {
    const routing::PlacementPolicy& policy = placement.policy;
    const routing::PlacementTarget* fallback = table.fallback_of(placement);
    json rendered{{"fallback", fallback != nullptr ? json(fallback->name) : json(nullptr)},
                  {"connect_timeout", config::format_duration(policy.connect_timeout)},
                  {"response_timeout", config::format_duration(policy.response_timeout)},
                  {"health_check", nullptr},
                  {"circuit_breaker", nullptr},
                  {"concurrency_limit", policy.concurrency_limit ? json(*policy.concurrency_limit) : json(nullptr)},
                  {"max_request_body_bytes",
                   policy.max_request_body_bytes ? json(*policy.max_request_body_bytes) : json(nullptr)},
                  {"rate_limit", nullptr}};
    if (const auto& check = policy.health_check) {
        rendered["health_check"] = json{{"path", check->path},
                                        {"interval", config::format_duration(check->interval)},
                                        {"timeout", config::format_duration(check->timeout)},
                                        {"healthy_threshold", check->healthy_threshold},
                                        {"unhealthy_threshold", check->unhealthy_threshold}};
    }
    if (const auto& breaker = policy.circuit_breaker) {
        rendered["circuit_breaker"] = json{{"failure_threshold", breaker->failure_threshold},
                                           {"timeout", config::format_duration(breaker->open_timeout)}};
    }
    if (const auto& limit = policy.rate_limit) {
        rendered["rate_limit"] = json{{"requests_per_second", limit->requests_per_second}, {"burst", limit->burst}};
    }
    return rendered;
}

json render_placements(const routing::Table& table) {
    json placements = json::object();
    for (const auto& placement : table.placements()) {
        json rendered{{"url", placement.endpoint.url}, {"type", type_name(placement.kind)}};
        rendered.update(render_policy(table, placement));
        placements[placement.name] = std::move(rendered);
    }
    return placements;
}

json optional_steady_time(const std::optional<resilience::SteadyClock::time_point>& at) {
    if (!at) {
        return nullptr;
    }
    // Steady time has no calendar meaning: show it as wall-clock time by its distance from now.
    const auto from_now = *at - resilience::SteadyClock::now();
    const auto wall = std::chrono::system_clock::now() +
                      std::chrono::duration_cast<std::chrono::system_clock::duration>(from_now);
    return util::format_rfc3339(wall);
}

json render_health(const routing::PlacementTarget& placement) {
    if (!placement.policy.health_check) {
        return json{{"state", "not_checked"}, {"routable", true}};
    }
    const auto health = placement.state->health.snapshot();
    json last_probe = nullptr;
    if (health.last_probe_at) {
        last_probe = json{{"at", util::format_rfc3339(*health.last_probe_at)},
                          {"success", health.last_success.value_or(false)},
                          {"detail", health.last_detail}};
    }
    return json{{"state", resilience::to_string(health.status)},
                {"routable", health.status != resilience::HealthStatus::unhealthy},
                {"consecutive_successes", health.consecutive_successes},
                {"consecutive_failures", health.consecutive_failures},
                {"probes", health.probes},
                {"failed_probes", health.failed_probes},
                {"last_probe", last_probe},
                {"last_change_at", health.last_change_at ? json(util::format_rfc3339(*health.last_change_at))
                                                         : json(nullptr)}};
}

json render_breaker(const routing::PlacementTarget& placement) {
    const auto& settings = placement.policy.circuit_breaker;
    if (!settings) {
        return json{{"state", "disabled"}};
    }
    const auto breaker = placement.state->breaker.snapshot(*settings);
    return json{{"state", resilience::to_string(breaker.state)},
                {"consecutive_failures", breaker.consecutive_failures},
                {"failure_threshold", settings->failure_threshold},
                {"successes", breaker.successes},
                {"failures", breaker.failures},
                {"rejected", breaker.rejected},
                {"times_opened", breaker.times_opened},
                {"open_until", optional_steady_time(breaker.open_until)}};
}

json render_live_state(const routing::PlacementTarget& placement, resilience::SteadyClock::time_point now) {
    const routing::PlacementPolicy& policy = placement.policy;
    json rate_limit = nullptr;
    if (policy.rate_limit) {
        rate_limit = json{{"requests_per_second", policy.rate_limit->requests_per_second},
                          {"burst", policy.rate_limit->burst},
                          {"tokens", placement.state->rate_limiter.tokens(*policy.rate_limit, now)}};
    }
    return json{{"health", render_health(placement)},
                {"circuit_breaker", render_breaker(placement)},
                {"in_flight", placement.state->concurrency.in_flight()},
                {"concurrency_limit", policy.concurrency_limit ? json(*policy.concurrency_limit) : json(nullptr)},
                {"rate_limit", rate_limit}};
}

json render_reloads(const reload::ReloadStatus& status) {
    json reloads{{"checks", status.checks},
                 {"applied", status.applied},
                 {"rejected", status.rejected},
                 {"unchanged", status.unchanged},
                 {"not_read", status.not_read},
                 {"watch_mode", status.watch_mode}};
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
    json urls = json::array();
    json replicas = json::array();
    for (const auto& replica : connection->replicas) {
        urls.push_back(replica.url);
        replicas.push_back(json{{"url", replica.url},
                                {"current", replica.url == connection->url},
                                {"last_connected_at", optional_time(replica.last_connected_at)},
                                {"last_error", replica.last_error},
                                {"last_error_at", optional_time(replica.last_error_at)}});
    }
    return json{{"url", connection->url},
                {"urls", std::move(urls)},
                {"replicas", std::move(replicas)},
                {"node_id", client.applier().node_id()},
                {"state", connection->state},
                {"connected_since", optional_time(connection->connected_since)},
                {"next_attempt_at", optional_time(connection->next_attempt_at)},
                {"connections", connection->connections},
                {"reconnect_attempts", connection->reconnect_attempts},
                {"last_error", connection->last_error},
                {"last_snapshot_at", optional_time(applied->last_snapshot_at)},
                {"last_snapshot_version", applied->last_snapshot_version},
                {"applied_revision", applied->applied_revision},
                {"snapshots", json{{"received", applied->snapshots_received},
                                   {"applied", applied->applied},
                                   {"unchanged", applied->unchanged},
                                   {"rejected", applied->rejected},
                                   {"stale", applied->stale},
                                   {"deltas_applied", applied->deltas_applied},
                                   {"deltas_refused", applied->deltas_refused}}},
                {"last_rejected", last_rejected},
                {"cache_error", applied->last_cache_error}};
}

}  // namespace

std::string render_debug_placements(const routing::Table& served) {
    const auto now = resilience::SteadyClock::now();
    json placements = json::object();
    for (const auto& placement : served.placements()) {
        json rendered{{"url", placement.endpoint.url}, {"type", type_name(placement.kind)}};
        rendered.update(render_live_state(placement, now));
        rendered["policy"] = render_policy(served, placement);
        placements[placement.name] = std::move(rendered);
    }
    return to_text(json{{"version", served.version()},
                        {"default_placement", served.default_placement().name},
                        {"placements", std::move(placements)}});
}

std::string render_route_preview(const routing::Table& served, std::string_view routing_key) {
    const auto wall_now = std::chrono::system_clock::now();
    const routing::RouteDecision route = served.route(routing_key, wall_now);
    const routing::PlacementTarget& routed = *route.placement;
    json document{{"routing_key", routing_key},
                  {"version", served.version()},
                  {"routed_placement", routed.name},
                  {"route_reason", routing::to_string(route.reason)},
                  {"known_key", served.find_key(routing_key) != nullptr}};
    if (route.pin != nullptr) {
        document["pin"] = json{{"placement", routed.name},
                               {"expires", util::format_rfc3339(route.pin->expires)},
                               {"reason", route.pin->reason}};
    }
    if (route.pause != nullptr) {
        document["pause"] = json{{"until", util::format_rfc3339(route.pause->until)},
                                 {"retry_after_seconds",
                                  std::chrono::duration_cast<std::chrono::seconds>(route.pause->retry_after).count()},
                                 {"reason", route.pause->reason}};
        document["would_serve"] = nullptr;
        document["status"] = 503;
        document["failover_reason"] = nullptr;
        document["explanation"] = "key paused until " + util::format_rfc3339(route.pause->until) +
                                  (route.pause->reason.empty() ? std::string() : " (" + route.pause->reason + ")") +
                                  ": the router answers 503 with Retry-After and no cell sees the request";
        return to_text(document);
    }
    if (route.drain != nullptr) {
        document["drain"] = json{{"to", route.drained_to->name},
                                 {"share", route.drain->share_at(wall_now)},
                                 {"key_position", routing::drain_position(routed.name, routing_key)},
                                 {"start", util::format_rfc3339(route.drain->start)},
                                 {"reason", route.drain->reason}};
    }
    const routing::PlacementTarget& first = route.drained_to != nullptr ? *route.drained_to : routed;
    auto choice = routing::preview_placement(served, first, resilience::SteadyClock::now());
    if (choice.serving != nullptr && route.drained_to != nullptr) {
        choice.failover = routing::FailoverReason::drained;
    }
    if (choice.serving == nullptr) {
        document["would_serve"] = nullptr;
        document["status"] = 503;
        document["failover_reason"] = routing::to_string(choice.failover);
        document["explanation"] = "every candidate's circuit breaker is open: the router would answer 503";
        return to_text(document);
    }
    document["would_serve"] = choice.serving->name;
    document["url"] = choice.serving->endpoint.url;
    document["failover_reason"] =
        choice.failover == routing::FailoverReason::none ? json(nullptr) : json(routing::to_string(choice.failover));
    document["fail_open"] = choice.fail_open;
    std::string explanation;
    if (route.reason == routing::RouteReason::default_placement) {
        explanation = "key not in the routing table: default placement " + routed.name;
    } else if (route.pin != nullptr) {
        explanation = "key pinned to " + routed.name + " until " + util::format_rfc3339(route.pin->expires) +
                      (route.pin->reason.empty() ? std::string() : " (" + route.pin->reason + ")");
    } else {
        explanation = "key maps to " + std::string(routing::to_string(route.reason)) + " placement " + routed.name;
    }
    if (route.drain != nullptr) {
        explanation += "; " + routed.name + " is being drained to " + route.drained_to->name + " (" +
                       std::to_string(static_cast<int>(route.drain->share_at(wall_now) * 100)) +
                       " % of its keys moved, this key among them)";
        if (choice.serving != route.drained_to) {
            explanation += ", and " + choice.serving->name + " serves in its place";
        }
    } else if (choice.failover != routing::FailoverReason::none) {
        explanation += "; " + routed.name + " is " +
                       (choice.failover == routing::FailoverReason::unhealthy ? "unhealthy" : "behind an open circuit breaker") +
                       ", so fallback " + choice.serving->name + " serves";
    }
    if (choice.fail_open) {
        explanation += "; no healthy placement left, so health checks are ignored (fail open)";
    }
    document["explanation"] = std::move(explanation);
    document["state"] = render_live_state(*choice.serving, resilience::SteadyClock::now());
    return to_text(document);
}

std::optional<std::string> query_parameter(std::string_view query, std::string_view name) {
    if (query.empty()) {
        return std::nullopt;
    }
    // Boost 1.81's parse_query reads the last value up to a NUL, past the end of a view that
    // is not NUL-terminated (as this slice of the request target is): parse a copy.
    const std::string terminated(query);
    const auto encoded = boost::urls::parse_query(terminated);
    if (!encoded) {
        return std::nullopt;
    }
    for (const auto& param : boost::urls::params_view(*encoded)) {
        if (param.key == name) {
            return std::string(param.value);
        }
    }
    return std::nullopt;
}

// The operations written in the config, with what each does now.
json render_operations(const routing::Table& served) {
    const auto now = std::chrono::system_clock::now();
    const config::Operations& operations = served.operations();
    json drains = json::object();
    for (const auto& placement : served.placements()) {
        if (const routing::DrainRule* drain = served.drain_of(placement)) {
            drains[placement.name] = json{{"to", served.placements()[drain->target].name},
                                          {"start", util::format_rfc3339(drain->start)},
                                          {"ramp_seconds", std::chrono::duration<double>(drain->ramp).count()},
                                          {"from_share", drain->from_share},
                                          {"to_share", drain->to_share},
                                          {"share_now", drain->share_at(now)},
                                          {"reason", drain->reason}};
        }
    }
    json pins = json::object();
    for (const config::Pin& pin : operations.pins) {
        pins[pin.key] = json{{"placement", pin.placement},
                             {"expires", util::format_rfc3339(pin.expires)},
                             {"active", now < pin.expires},
                             {"reason", pin.reason}};
    }
    json pauses = json::object();
    for (const config::Pause& pause : operations.pauses) {
        pauses[pause.key] = json{{"until", util::format_rfc3339(pause.until)},
                                 {"retry_after_seconds", std::chrono::duration_cast<std::chrono::seconds>(pause.retry_after).count()},
                                 {"active", now < pause.until},
                                 {"reason", pause.reason}};
    }
    return json{{"drains", std::move(drains)}, {"pins", std::move(pins)}, {"pauses", std::move(pauses)}};
}

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
                  {"settings", render_settings(served.settings())},
                  {"operations", render_operations(served)}};
    if (sources.publisher != nullptr) {
        document["generation"] = sources.publisher->generation();
    }
    if (sources.worker_generations) {
        document["worker_generations"] = sources.worker_generations();
    }
    if (sources.connections != nullptr) {
        document["connections"] = json{{"open", sources.connections->open()},
                                       {"max", served.settings().max_connections},
                                       {"refused", sources.connections->refused()}};
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
    return to_text(document);
}

}  // namespace cell::admin
