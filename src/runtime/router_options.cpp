#include "cell/runtime/router_options.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "cell/config/duration.hpp"
#include "cell/config/validate.hpp"
#include "cell/controlplane/client.hpp"
#include "cell/observability/request_counters.hpp"
#include "cell/util/command_line.hpp"

namespace cell::runtime {
namespace {

using OptionSpec = util::FlagSpec<RouterOptions>;

std::optional<std::string> set_duration(std::optional<config::Duration>& target, const std::string& value) {
    config::Duration parsed{};
    if (auto error = util::set_positive_duration(parsed, value)) {
        return error;
    }
    target = parsed;
    return std::nullopt;
}

// Control-plane timings are durations of at least 10ms: shorter ones only help a test to spin.
std::optional<std::string> set_control_plane_duration(std::chrono::milliseconds& target, const std::string& value) {
    const auto parsed = config::parse_duration(value);
    if (!parsed || parsed->count() < 10) {
        return "must be a duration of at least 10ms, such as 5s";
    }
    target = *parsed;
    return std::nullopt;
}

const std::vector<OptionSpec>& option_specs() {
    static const std::vector<OptionSpec> specs{
        {"--config", "CONFIG_PATH", "PATH", "routing config file (default config/routing.json)",
         [](RouterOptions& o, const std::string& v) { return util::set_non_empty(o.config_path, v); }},
        {"--port", "PORT", "N", "proxy port (default 8080; 0 picks a free port)",
         [](RouterOptions& o, const std::string& v) { return util::set_port(o.port, v); }},
        {"--listen", "LISTEN_ADDRESS", "ADDR", "address of the proxy listener (default 0.0.0.0)",
         [](RouterOptions& o, const std::string& v) { return util::set_non_empty(o.listen_address, v); }},
        {"--threads", "ROUTER_THREADS", "N", "worker threads, one event loop each (default: number of cores)",
         [](RouterOptions& o, const std::string& v) -> std::optional<std::string> {
             // Each worker counts its requests in a shard of its own, and a placement has room
             // for this many.
             constexpr auto max_threads = observability::ShardedRequestCounters::max_shards;
             const auto parsed = util::parse_unsigned(v, 1, static_cast<unsigned>(max_threads));
             if (!parsed) {
                 return fmt::format("must be an integer between 1 and {}", max_threads);
             }
             o.threads = *parsed;
             return std::nullopt;
         }},
        {"--admin-port", "ADMIN_PORT", "N", "admin/debug port (default 9901; 0 turns it off)",
         [](RouterOptions& o, const std::string& v) { return util::set_port(o.admin_port, v); }},
        {"--admin-listen", "ADMIN_LISTEN_ADDRESS", "ADDR",
         "address of the admin/debug listener (default 127.0.0.1: this host only)",
         [](RouterOptions& o, const std::string& v) { return util::set_non_empty(o.admin_listen_address, v); }},
        {"--reload-interval", "RELOAD_INTERVAL", "SECONDS", "how often the config file is checked; SIGHUP checks at once, and so does a save seen by inotify (default 5)",
         [](RouterOptions& o, const std::string& v) { return util::set_seconds_or_duration(o.reload_interval, v); }},
        {"--log-level", "LOG_LEVEL", "LEVEL", "trace, debug, info, warn, error, critical or off (default info)",
         [](RouterOptions& o, const std::string& v) -> std::optional<std::string> {
             const auto level = observability::parse_log_level(v);
             if (!level) {
                 return "must be one of trace, debug, info, warn, error, critical, off";
             }
             o.log_level = *level;
             return std::nullopt;
         }},
        {"--access-log", "ACCESS_LOG", "on|off", "one JSON line per request (default on)",
         [](RouterOptions& o, const std::string& v) -> std::optional<std::string> {
             if (v == "on" || v == "true" || v == "1") {
                 o.access_log = true;
             } else if (v == "off" || v == "false" || v == "0") {
                 o.access_log = false;
             } else {
                 return "must be on or off";
             }
             return std::nullopt;
         }},
        {"--upstream-ca-file", "UPSTREAM_CA_FILE", "PATH",
         "PEM file of extra CAs trusted for https:// cells (the system's CAs are always trusted)",
         [](RouterOptions& o, const std::string& v) -> std::optional<std::string> {
             o.upstream_ca_file = v;
             return std::nullopt;
         }},
        {"--control-plane", "CONTROL_PLANE_URL", "URL[,URL...]",
         "take config from this control plane (ws://host:port/connect) after booting from --config; "
         "a comma-separated list names replicas: the router stays on one and moves to the next when it fails",
         [](RouterOptions& o, const std::string& v) -> std::optional<std::string> {
             o.control_plane_urls.clear();
             if (v.empty()) {
                 return std::nullopt;
             }
             auto parsed = controlplane::parse_control_plane_urls(v);
             if (const auto* problem = std::get_if<std::string>(&parsed)) {
                 return *problem;
             }
             for (const auto& replica : std::get<std::vector<controlplane::ControlPlaneReplica>>(parsed)) {
                 o.control_plane_urls.push_back(replica.url);
             }
             return std::nullopt;
         }},
        {"--node-id", "NODE_ID", "ID", "this router's name towards the control plane (default hostname:port)",
         [](RouterOptions& o, const std::string& v) -> std::optional<std::string> {
             if (v.empty() || v.size() > 256) {
                 return "must be 1 to 256 characters";
             }
             o.node_id = v;
             return std::nullopt;
         }},
        {"--control-plane-keepalive", "CONTROL_PLANE_KEEPALIVE", "DURATION",
         "ping the control plane after half this much silence; reconnect after all of it (default 30s)",
         [](RouterOptions& o, const std::string& v) -> std::optional<std::string> {
             const auto parsed = config::parse_duration(v);
             if (!parsed || parsed->count() < 100) {
                 return "must be a duration of at least 100ms, such as 30s";
             }
             o.control_plane_keepalive = *parsed;
             return std::nullopt;
         }},
        {"--report-interval", "REPORT_INTERVAL", "DURATION",
         "how often to report per-version request and error counts to the control plane (default 5s)",
         [](RouterOptions& o, const std::string& v) -> std::optional<std::string> {
             const auto parsed = config::parse_duration(v);
             if (!parsed || parsed->count() < 100 || *parsed > std::chrono::hours(1)) {
                 return "must be a duration from 100ms to 1h, such as 5s";
             }
             o.report_interval = *parsed;
             return std::nullopt;
         }},
        {"--control-plane-connect-timeout", "CONTROL_PLANE_CONNECT_TIMEOUT", "DURATION",
         "time to connect to the control plane, and again to complete the WebSocket handshake (default 5s)",
         [](RouterOptions& o, const std::string& v) { return set_control_plane_duration(o.control_plane_connect_timeout, v); }},
        {"--control-plane-backoff", "CONTROL_PLANE_BACKOFF", "DURATION",
         "first delay before reconnecting to the control plane; it doubles per failed attempt (default 1s)",
         [](RouterOptions& o, const std::string& v) { return set_control_plane_duration(o.control_plane_backoff, v); }},
        {"--control-plane-max-backoff", "CONTROL_PLANE_MAX_BACKOFF", "DURATION",
         "longest delay between reconnect attempts (default 60s)",
         [](RouterOptions& o, const std::string& v) { return set_control_plane_duration(o.control_plane_max_backoff, v); }},
        {"--control-plane-backoff-reset", "CONTROL_PLANE_BACKOFF_RESET", "DURATION",
         "a connection that stayed up this long starts the reconnect delays over from the first (default 10s)",
         [](RouterOptions& o, const std::string& v) { return set_control_plane_duration(o.control_plane_backoff_reset, v); }},
        {"--max-snapshot-bytes", "MAX_SNAPSHOT_BYTES", "SIZE",
         "largest config snapshot taken from the control plane (bytes, or 64MiB, 32MB); a bigger one is "
         "nacked and the connection stays up (default 64MiB, as for a config file)",
         [](RouterOptions& o, const std::string& v) { return util::set_byte_size(o.max_snapshot_bytes, v); }},
        {"--ws-compression", "WS_COMPRESSION", "on|off",
         "offer permessage-deflate to the control plane: snapshots travel compressed if it agrees (default on)",
         [](RouterOptions& o, const std::string& v) { return util::set_on_off(o.control_plane_compression, v); }},
        {"--config-cache", "CONFIG_CACHE", "PATH",
         "where the last snapshot from the control plane is kept (default <tmp>/cell-router-<node id>.json)",
         [](RouterOptions& o, const std::string& v) -> std::optional<std::string> {
             if (v.empty()) {
                 return "must not be empty";
             }
             o.config_cache = v;
             return std::nullopt;
         }},
        {"--max-header-bytes", "MAX_HEADER_BYTES", "N", "largest request header section; larger gets 431 (default 16384)",
         [](RouterOptions& o, const std::string& v) -> std::optional<std::string> {
             const auto parsed = util::parse_unsigned(v, 1024, 1024 * 1024);
             if (!parsed) {
                 return "must be an integer between 1024 and 1048576";
             }
             o.proxy.max_header_bytes = *parsed;
             return std::nullopt;
         }},
        {"--max-connections", "MAX_CONNECTIONS", "N",
         "client connections open at once; more are answered 503 and closed (default 100000)",
         [](RouterOptions& o, const std::string& v) -> std::optional<std::string> {
             const auto parsed = util::parse_unsigned(v, config::min_max_connections, config::max_max_connections);
             if (!parsed) {
                 return "must be an integer between " + std::to_string(config::min_max_connections) + " and " +
                        std::to_string(config::max_max_connections);
             }
             o.proxy.max_connections = *parsed;
             return std::nullopt;
         }},
        {"--header-timeout", "HEADER_TIMEOUT", "DURATION", "time to receive a request's headers (default 10s)",
         [](RouterOptions& o, const std::string& v) { return set_duration(o.proxy.header_timeout, v); }},
        {"--idle-timeout", "IDLE_TIMEOUT", "DURATION",
         "idle keep-alive connections and stalled body transfers are closed after this (default 60s)",
         [](RouterOptions& o, const std::string& v) { return set_duration(o.proxy.idle_timeout, v); }},
        {"--connect-timeout", "CONNECT_TIMEOUT", "DURATION", "time to connect to a cell; then 502 (default 5s)",
         [](RouterOptions& o, const std::string& v) { return set_duration(o.proxy.connect_timeout, v); }},
        {"--request-timeout", "REQUEST_TIMEOUT", "DURATION",
         "time from sending a request to the cell's response headers; then 504 (default 30s)",
         [](RouterOptions& o, const std::string& v) { return set_duration(o.proxy.request_timeout, v); }},
        {"--drain-timeout", "DRAIN_TIMEOUT", "DURATION",
         "on SIGTERM/SIGINT, how long in-flight requests may finish (default 10s)",
         [](RouterOptions& o, const std::string& v) { return set_duration(o.proxy.drain_timeout, v); }},
    };
    return specs;
}

}  // namespace

std::string router_usage() {
    return "Usage: cell-router [options]\n\n"
           "Routes HTTP requests to cells by their X-Routing-Key header.\n"
           "Every option may also be given as --name=value. Flags win over environment variables,\n"
           "and limits given here win over the config file's \"proxy\" section.\n\nOptions:\n" +
           util::describe_flags(option_specs());
}

ParsedOptions parse_router_options(const std::vector<std::string>& args, const util::Environment& environment) {
    RouterOptions options;
    const auto result = util::apply_command_line(option_specs(), args, environment, options);
    if (result.outcome == util::CommandLineOutcome::help) {
        return HelpRequested{};
    }
    if (result.outcome == util::CommandLineOutcome::error) {
        return OptionsError{result.error};
    }
    if (options.control_plane_max_backoff < options.control_plane_backoff) {
        return OptionsError{fmt::format("option --control-plane-max-backoff {}: must not be shorter than --control-plane-backoff {}",
                                        config::format_duration(options.control_plane_max_backoff),
                                        config::format_duration(options.control_plane_backoff))};
    }
    if (options.threads == 0) {
        options.threads = std::clamp(std::thread::hardware_concurrency(), 1u,
                                     static_cast<unsigned>(observability::ShardedRequestCounters::max_shards));
    }
    if (options.node_id.empty()) {
        char host[256] = {};
        if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
            std::snprintf(host, sizeof host, "router");
        }
        options.node_id = fmt::format("{}:{}", host, options.port);
    }
    if (options.config_cache.empty()) {
        std::string safe_id = options.node_id;
        for (auto& c : safe_id) {
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') {
                c = '_';
            }
        }
        options.config_cache = (std::filesystem::temp_directory_path() / ("cell-router-" + safe_id + ".json")).string();
    }
    return options;
}

}  // namespace cell::runtime
