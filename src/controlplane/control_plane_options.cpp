#include "cell/controlplane/control_plane_options.hpp"

#include <cstdlib>

#include "cell/config/duration.hpp"
#include "cell/controlplane/etcd_endpoint.hpp"
#include "cell/util/command_line.hpp"

namespace cell::controlplane {
namespace {

using OptionSpec = util::FlagSpec<ControlPlaneOptions>;

// A comma-separated list of etcd client URLs: http only (the JSON gateway), host and port.
std::optional<std::string> set_etcd_endpoints(std::vector<std::string>& endpoints, const std::string& value) {
    std::vector<std::string> parsed;
    std::size_t start = 0;
    while (start <= value.size()) {
        const auto comma = value.find(',', start);
        std::string item = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!parse_etcd_endpoint(item)) {
            return "\"" + item + "\" is not an etcd client URL (http://host:port)";
        }
        parsed.push_back(std::move(item));
        if (comma == std::string::npos) {
            break;
        }
        start = comma + 1;
    }
    endpoints = std::move(parsed);
    return std::nullopt;
}

}  // namespace

std::optional<std::string> set_rollout_duration(std::chrono::milliseconds& out, const std::string& value,
                                                bool may_be_zero) {
    const auto parsed = config::parse_duration(value);
    if (!parsed || (!may_be_zero && parsed->count() == 0) || *parsed > std::chrono::hours(24)) {
        return may_be_zero ? "must be a duration from 0s to 24h, such as 60s" : "must be a duration from 1ms to 24h, such as 60s";
    }
    out = *parsed;
    return std::nullopt;
}

std::optional<std::string> set_error_margin(double& out, const std::string& value) {
    char* end = nullptr;
    const double parsed = std::strtod(value.c_str(), &end);
    if (value.empty() || end != value.c_str() + value.size() || !(parsed >= 0 && parsed <= 1)) {
        return "must be a number from 0 to 1, such as 0.05";
    }
    out = parsed;
    return std::nullopt;
}

namespace {

const std::vector<OptionSpec>& option_specs() {
    static const std::vector<OptionSpec> specs{
        {"--config", "CONFIG_PATH", "PATH", "routing config file to watch and push (default config/routing.json)",
         [](ControlPlaneOptions& o, const std::string& v) { return util::set_non_empty(o.config_path, v); }},
        {"--port", "PORT", "N", "port for /connect, /status and /health (default 8081; 0 picks a free port)",
         [](ControlPlaneOptions& o, const std::string& v) { return util::set_port(o.port, v); }},
        {"--listen", "LISTEN_ADDRESS", "ADDR",
         "address to listen on (default 127.0.0.1: this host only; 0.0.0.0 lets routers on other hosts connect)",
         [](ControlPlaneOptions& o, const std::string& v) { return util::set_non_empty(o.listen_address, v); }},
        {"--poll-interval", "POLL_INTERVAL", "SECONDS",
         "how often the config file is checked; SIGHUP checks at once, and so does a save seen by inotify (default 2)",
         [](ControlPlaneOptions& o, const std::string& v) { return util::set_seconds_or_duration(o.poll_interval, v); }},
        {"--resend-interval", "RESEND_INTERVAL", "DURATION",
         "re-send the current snapshot to every router this often, correcting silent divergence (default 5m)",
         [](ControlPlaneOptions& o, const std::string& v) { return util::set_positive_duration(o.resend_interval, v); }},
        {"--keepalive-timeout", "KEEPALIVE_TIMEOUT", "DURATION",
         "a router silent this long (no frame, no pong) is dropped; pings go out at half of it (default 30s)",
         [](ControlPlaneOptions& o, const std::string& v) { return util::set_positive_duration(o.keepalive_timeout, v); }},
        {"--send-timeout", "SEND_TIMEOUT", "DURATION",
         "a router whose socket takes no part of a snapshot (1 MiB at a time) within this is disconnected "
         "(default 10s)",
         [](ControlPlaneOptions& o, const std::string& v) { return util::set_positive_duration(o.send_timeout, v); }},
        {"--handshake-timeout", "HANDSHAKE_TIMEOUT", "DURATION",
         "a connection that sends no complete request (or upgrade) within this is closed, as is a router "
         "that does not answer a close frame (default 10s)",
         [](ControlPlaneOptions& o, const std::string& v) { return util::set_positive_duration(o.handshake_timeout, v); }},
        {"--max-snapshot-bytes", "MAX_SNAPSHOT_BYTES", "SIZE",
         "refuse to publish a config whose snapshot frame is bigger (bytes, or 64MiB, 32MB; default 64MiB, "
         "as the routers)",
         [](ControlPlaneOptions& o, const std::string& v) { return util::set_byte_size(o.max_snapshot_bytes, v); }},
        {"--rollout-canary", "ROLLOUT_CANARY", "SET",
         "stage every change of the config file: canaries first, a share of the routers (10%) or a node-id "
         "pattern (edge-a-*) (default: every router at once)",
         [](ControlPlaneOptions& o, const std::string& v) -> std::optional<std::string> {
             auto parsed = parse_canary_spec(v);
             if (auto* error = std::get_if<std::string>(&parsed)) {
                 return *error;
             }
             o.rollout_canary = std::get<CanarySpec>(std::move(parsed));
             return std::nullopt;
         }},
        {"--rollout-soak", "ROLLOUT_SOAK", "DURATION",
         "a staged rollout watches its canaries this long after their acks before promoting (default 60s)",
         [](ControlPlaneOptions& o, const std::string& v) { return set_rollout_duration(o.rollout_soak, v, true); }},
        {"--rollout-ack-timeout", "ROLLOUT_ACK_TIMEOUT", "DURATION",
         "a staged rollout halts when a canary has not acked within this (default 60s)",
         [](ControlPlaneOptions& o, const std::string& v) { return set_rollout_duration(o.rollout_ack_timeout, v, false); }},
        {"--rollout-error-margin", "ROLLOUT_ERROR_MARGIN", "RATE",
         "a staged rollout halts when the canaries' error rate exceeds the other routers' by more than this "
         "(0.05 = 5 points; default 0.05)",
         [](ControlPlaneOptions& o, const std::string& v) { return set_error_margin(o.rollout_error_margin, v); }},
        {"--rollout-min-requests", "ROLLOUT_MIN_REQUESTS", "N",
         "canary requests below which error rates are not compared (default 20)",
         [](ControlPlaneOptions& o, const std::string& v) -> std::optional<std::string> {
             const auto parsed = util::parse_unsigned(v, 1, 1'000'000'000);
             if (!parsed) {
                 return "must be a number from 1 to 1000000000";
             }
             o.rollout_min_requests = *parsed;
             return std::nullopt;
         }},
        {"--etcd", "ETCD_ENDPOINTS", "URLS",
         "take the config from etcd instead of the file: comma-separated http://host:port client URLs of one "
         "cluster (the file then only seeds an empty store)",
         [](ControlPlaneOptions& o, const std::string& v) { return set_etcd_endpoints(o.etcd_endpoints, v); }},
        {"--etcd-prefix", "ETCD_PREFIX", "PREFIX",
         "key prefix of this fleet's config in etcd (default /cellrouter/)",
         [](ControlPlaneOptions& o, const std::string& v) -> std::optional<std::string> {
             if (v.empty() || v.front() != '/') {
                 return "must start with /";
             }
             o.etcd_prefix = v.back() == '/' ? v : v + "/";
             return std::nullopt;
         }},
        {"--etcd-history", "ETCD_HISTORY", "N", "applied versions kept in etcd for history and rollback (default 100)",
         [](ControlPlaneOptions& o, const std::string& v) -> std::optional<std::string> {
             const auto count = util::parse_unsigned(v, 1, 100000);
             if (!count) {
                 return "must be a whole number from 1 to 100000";
             }
             o.etcd_history = *count;
             return std::nullopt;
         }},
        {"--etcd-timeout", "ETCD_TIMEOUT", "DURATION",
         "one etcd request slower than this moves to the next endpoint (default 5s)",
         [](ControlPlaneOptions& o, const std::string& v) { return util::set_positive_duration(o.etcd_timeout, v); }},
        {"--etcd-compact-interval", "ETCD_COMPACT_INTERVAL", "DURATION|off",
         "compact etcd's history this often, up to the revision seen one interval before, so that "
         "superseded values do not fill etcd's space quota (default 5m; off when etcd compacts itself)",
         [](ControlPlaneOptions& o, const std::string& v) -> std::optional<std::string> {
             if (v == "off") {
                 o.etcd_compact_interval = std::chrono::milliseconds(0);
                 return std::nullopt;
             }
             return util::set_positive_duration(o.etcd_compact_interval, v);
         }},
        {"--etcd-chunk-encoding", "ETCD_CHUNK_ENCODING", "zstd|identity",
         "how new versions are stored in etcd: zstd (a third of the size; replicas older than this "
         "release cannot read it) or identity (default zstd)",
         [](ControlPlaneOptions& o, const std::string& v) -> std::optional<std::string> {
             const auto encoding = parse_chunk_encoding(v);
             if (!encoding) {
                 return "must be zstd or identity";
             }
             o.etcd_chunk_encoding = *encoding;
             return std::nullopt;
         }},
        {"--ws-compression", "WS_COMPRESSION", "on|off",
         "accept permessage-deflate from routers that offer it: snapshots go out compressed, at a CPU cost "
         "per router that slows a large fleet's convergence on a fast network (default off)",
         [](ControlPlaneOptions& o, const std::string& v) { return util::set_on_off(o.compression, v); }},
        {"--log-level", "LOG_LEVEL", "LEVEL", "trace, debug, info, warn, error, critical or off (default info)",
         [](ControlPlaneOptions& o, const std::string& v) -> std::optional<std::string> {
             const auto level = observability::parse_log_level(v);
             if (!level) {
                 return "must be one of trace, debug, info, warn, error, critical, off";
             }
             o.log_level = *level;
             return std::nullopt;
         }},
    };
    return specs;
}

}  // namespace

std::string control_plane_usage() {
    return "Usage: cell-control-plane [options]\n\n"
           "Watches a routing config file, or with --etcd the config stored in etcd, and pushes every\n"
           "valid version to the routers connected to GET /connect (WebSocket). GET /status shows the\n"
           "fleet, GET /health liveness; GET/PUT /config, POST /config/diff, GET /history and\n"
           "POST /rollback serve cellctl.\n"
           "Every option may also be given as --name=value. Flags win over environment variables.\n\nOptions:\n" +
           util::describe_flags(option_specs());
}

ParsedControlPlaneOptions parse_control_plane_options(const std::vector<std::string>& args,
                                                      const util::Environment& environment) {
    ControlPlaneOptions options;
    const auto result = util::apply_command_line(option_specs(), args, environment, options);
    if (result.outcome == util::CommandLineOutcome::help) {
        return ControlPlaneHelpRequested{};
    }
    if (result.outcome == util::CommandLineOutcome::error) {
        return ControlPlaneOptionsError{result.error};
    }
    return options;
}

}  // namespace cell::controlplane
