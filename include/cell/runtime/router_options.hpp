#pragma once
// Command-line flags of cell-router, each with an environment fallback for containers.

#include <cstdint>
#include <optional>
#include <string>
#include <functional>
#include <variant>
#include <vector>

#include "cell/config/types.hpp"
#include "cell/controlplane/protocol.hpp"
#include "cell/observability/log.hpp"

namespace cell::runtime {

struct RouterOptions {
    std::string config_path = "config/routing.json";
    std::string listen_address = "0.0.0.0";
    std::uint16_t port = 8080;
    std::uint16_t admin_port = 9901;  // 0 = no admin listener
    // Admin and debug endpoints stay on this host unless the operator opens them.
    std::string admin_listen_address = "127.0.0.1";
    unsigned threads = 0;             // 0 = one per core
    std::chrono::milliseconds reload_interval = std::chrono::seconds(5);
    observability::Level log_level = observability::Level::info;
    bool access_log = true;
    std::string upstream_ca_file;  // extra trusted CAs (PEM) for https:// cells
    // M3: when set, config comes from the control plane (ws://host:port/connect) after booting
    // from --config, and the file is no longer watched. Several URLs are replicas of one
    // control plane (validated, in the order given): the client follows whichever is up.
    std::vector<std::string> control_plane_urls;
    std::string node_id;       // default: hostname:port
    std::string config_cache;  // default: <temp dir>/cell-router-<node id>.json
    std::chrono::milliseconds control_plane_keepalive{30000};  // ping at half, dead after all of it
    std::chrono::milliseconds report_interval{5000};  // per-version counts to the control plane
    std::chrono::milliseconds control_plane_connect_timeout{5000};  // TCP connect, then the handshake
    // Reconnect delays: exponential from the first to the most, with jitter; back to the first
    // only after a connection stayed up for the reset time, so a control plane that accepts and
    // then fails is not hammered.
    std::chrono::milliseconds control_plane_backoff{1000};
    std::chrono::milliseconds control_plane_max_backoff{60000};
    std::chrono::milliseconds control_plane_backoff_reset{10000};
    // The largest snapshot taken from the control plane; a bigger one is nacked, the connection
    // stays up. The default is the largest config file the router reads (64 MiB).
    std::uint64_t max_snapshot_bytes = controlplane::default_max_snapshot_bytes;
    bool control_plane_compression = true;  // offer permessage-deflate to the control plane
    // Limits and timeouts given as flags; they win over the config file's "proxy" section.
    config::ProxySettingsOverrides proxy;
};

struct HelpRequested {};
struct OptionsError {
    std::string message;
};

using ParsedOptions = std::variant<RouterOptions, HelpRequested, OptionsError>;

// Reads flags (`--name value` or `--name=value`) over environment variables over defaults.
// `environment` looks a variable up, so tests need not touch the real environment.
ParsedOptions parse_router_options(const std::vector<std::string>& args,
                                   const std::function<std::optional<std::string>(const char*)>& environment);

std::string router_usage();

}  // namespace cell::runtime
