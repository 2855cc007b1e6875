#pragma once
// Command-line flags of cell-control-plane, each with an environment fallback for containers
// (same conventions as cell-router's: `--name value` or `--name=value`, flags win over the
// environment, bad values are an error).

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cell/controlplane/chunk_encoding.hpp"
#include "cell/controlplane/protocol.hpp"
#include "cell/controlplane/rollout.hpp"
#include "cell/observability/log.hpp"

namespace cell::controlplane {

struct ControlPlaneOptions {
    std::string config_path = "config/routing.json";
    std::string listen_address = "127.0.0.1";  // routers elsewhere need --listen 0.0.0.0
    std::uint16_t port = 8081;  // 0 = ephemeral
    std::chrono::milliseconds poll_interval = std::chrono::seconds(2);
    // Every router gets the current snapshot again this often, so one that diverged silently
    // (lost a frame, was edited by hand) is corrected without an operator.
    std::chrono::milliseconds resend_interval = std::chrono::minutes(5);
    // A router that sends nothing (not even a pong) for this long is dead; pings go out at half.
    std::chrono::milliseconds keepalive_timeout = std::chrono::seconds(30);
    // A router whose socket takes no part of a snapshot (1 MiB) within this is disconnected.
    std::chrono::milliseconds send_timeout = std::chrono::seconds(10);
    // A connection that has not sent a complete HTTP request (the WebSocket upgrade included)
    // within this is closed, and so is one whose peer does not answer a close frame: a peer that
    // stalls a handshake holds a socket, never the server.
    std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
    // A config whose snapshot frame is bigger is refused (logged, counted as a rejection), as
    // the routers would refuse it; the default matches theirs.
    std::uint64_t max_snapshot_bytes = default_max_snapshot_bytes;
    // Accept permessage-deflate from routers that offer it (docs/protocol.md, "Compression").
    bool compression = false;
    observability::Level log_level = observability::Level::info;

    // etcd as the store of record (docs/milestones/m6-control-plane-ha.md): empty = watch the
    // config file. With endpoints, the file only seeds an empty store.
    std::vector<std::string> etcd_endpoints;  // "http://127.0.0.1:2379", ...
    std::string etcd_prefix = "/cellrouter/";
    std::size_t etcd_history = 100;  // applied versions kept in the store
    // One etcd request (a range, a chunk put, a transaction) that takes longer fails over to the
    // next endpoint; a config write is then reported as failed.
    std::chrono::milliseconds etcd_timeout = std::chrono::seconds(5);
    // Every interval, etcd's history is compacted up to the revision seen one interval before
    // (0: never; etcd's own --auto-compaction-* flags can do it instead).
    std::chrono::milliseconds etcd_compact_interval = std::chrono::minutes(5);
    // How new versions' chunks are written (chunk_encoding.hpp); both are always read.
    ChunkEncoding etcd_chunk_encoding = ChunkEncoding::zstd;

    // Staged rollouts (docs/operations.md). With a canary set, every change of the watched file
    // goes to the canaries first; `cellctl apply --staged` asks for one per change in etcd mode,
    // and the other settings are its defaults.
    std::optional<CanarySpec> rollout_canary;
    std::chrono::milliseconds rollout_soak = std::chrono::seconds(60);
    std::chrono::milliseconds rollout_ack_timeout = std::chrono::seconds(60);
    double rollout_error_margin = 0.05;
    std::uint64_t rollout_min_requests = 20;
};

struct ControlPlaneHelpRequested {};
struct ControlPlaneOptionsError {
    std::string message;
};

using ParsedControlPlaneOptions =
    std::variant<ControlPlaneOptions, ControlPlaneHelpRequested, ControlPlaneOptionsError>;

// Reads flags over environment variables over defaults. `environment` looks a variable up, so
// tests need not touch the real environment.
ParsedControlPlaneOptions parse_control_plane_options(
    const std::vector<std::string>& args, const std::function<std::optional<std::string>(const char*)>& environment);

std::string control_plane_usage();

// The readers of the rollout settings, shared with the config API's query parameters; the
// error when `value` is not one.
std::optional<std::string> set_rollout_duration(std::chrono::milliseconds& out, const std::string& value,
                                                bool may_be_zero);
std::optional<std::string> set_error_margin(double& out, const std::string& value);

}  // namespace cell::controlplane
