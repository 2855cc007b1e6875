// cell-control-plane's flags, environment fallbacks and their errors.

#include <gtest/gtest.h>

#include <map>

#include "cell/controlplane/control_plane_options.hpp"

namespace cell::controlplane {
namespace {

using Env = std::map<std::string, std::string>;
using namespace std::chrono_literals;

ParsedControlPlaneOptions parse(const std::vector<std::string>& args, const Env& env = {}) {
    return parse_control_plane_options(args, [&](const char* name) -> std::optional<std::string> {
        const auto it = env.find(name);
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
}

ControlPlaneOptions ok(const std::vector<std::string>& args, const Env& env = {}) {
    auto parsed = parse(args, env);
    if (const auto* error = std::get_if<ControlPlaneOptionsError>(&parsed)) {
        ADD_FAILURE() << error->message;
        return {};
    }
    return std::get<ControlPlaneOptions>(parsed);
}

std::string error(const std::vector<std::string>& args, const Env& env = {}) {
    auto parsed = parse(args, env);
    const auto* failure = std::get_if<ControlPlaneOptionsError>(&parsed);
    return failure ? failure->message : "(no error)";
}

// Defaults match the documentation.
TEST(ControlPlaneOptions, Defaults) {
    const auto options = ok({});
    EXPECT_EQ(options.config_path, "config/routing.json");
    EXPECT_EQ(options.port, 8081);
    EXPECT_EQ(options.listen_address, "127.0.0.1");
    EXPECT_EQ(options.poll_interval, 2s);
    EXPECT_EQ(options.resend_interval, 5min);
    EXPECT_EQ(options.keepalive_timeout, 30s);
    EXPECT_EQ(options.send_timeout, 10s);
    EXPECT_EQ(options.handshake_timeout, 10s);
    EXPECT_EQ(options.max_snapshot_bytes, 64u * 1024 * 1024);
    EXPECT_FALSE(options.compression);
    EXPECT_EQ(options.log_level, observability::Level::info);
}

// Every flag, in both spellings.
TEST(ControlPlaneOptions, EveryFlag) {
    const auto options = ok({"--config", "/etc/cp.json", "--port=0", "--listen", "0.0.0.0", "--poll-interval", "7",
                             "--resend-interval=300ms", "--keepalive-timeout", "2s", "--send-timeout", "1500ms",
                             "--handshake-timeout=250ms", "--log-level", "debug"});
    EXPECT_EQ(options.config_path, "/etc/cp.json");
    EXPECT_EQ(options.port, 0);
    EXPECT_EQ(options.listen_address, "0.0.0.0");
    EXPECT_EQ(options.poll_interval, 7s);
    EXPECT_EQ(options.resend_interval, 300ms);
    EXPECT_EQ(options.keepalive_timeout, 2s);
    EXPECT_EQ(options.send_timeout, 1500ms);
    EXPECT_EQ(options.handshake_timeout, 250ms);
    EXPECT_EQ(options.log_level, observability::Level::debug);
}

// Flags win over environment variables, which win over defaults.
TEST(ControlPlaneOptions, FlagsOverEnvironmentOverDefaults) {
    const Env env{{"CONFIG_PATH", "/env.json"}, {"PORT", "9000"}, {"POLL_INTERVAL", "3"},
                  {"RESEND_INTERVAL", "1m"}, {"KEEPALIVE_TIMEOUT", "10s"}, {"LISTEN_ADDRESS", "::1"}};
    const auto from_env = ok({}, env);
    EXPECT_EQ(from_env.config_path, "/env.json");
    EXPECT_EQ(from_env.port, 9000);
    EXPECT_EQ(from_env.poll_interval, 3s);
    EXPECT_EQ(from_env.resend_interval, 1min);
    EXPECT_EQ(from_env.keepalive_timeout, 10s);
    EXPECT_EQ(from_env.listen_address, "::1");
    const auto from_flags = ok({"--port", "9100", "--config", "/flag.json"}, env);
    EXPECT_EQ(from_flags.port, 9100);
    EXPECT_EQ(from_flags.config_path, "/flag.json");
    EXPECT_EQ(from_flags.poll_interval, 3s);
}

// The poll interval takes whole seconds, as the seed documents, or a duration.
TEST(ControlPlaneOptions, PollIntervalSecondsOrDuration) {
    EXPECT_EQ(ok({"--poll-interval", "1"}).poll_interval, 1s);
    EXPECT_EQ(ok({"--poll-interval", "200ms"}).poll_interval, 200ms);
    EXPECT_NE(error({"--poll-interval", "0"}).find("--poll-interval"), std::string::npos);
    EXPECT_NE(error({"--poll-interval", "-1"}).find("positive"), std::string::npos);
    EXPECT_NE(error({"--poll-interval", "soon"}).find("positive"), std::string::npos);
}

// Bad values name the flag (or variable) and the rule.
TEST(ControlPlaneOptions, BadValuesAreErrors) {
    EXPECT_EQ(error({"--port", "65536"}), "option --port 65536: must be a port number between 0 and 65535");
    EXPECT_NE(error({"--port", "http"}).find("port number"), std::string::npos);
    EXPECT_NE(error({"--resend-interval", "0s"}).find("positive duration"), std::string::npos);
    EXPECT_NE(error({"--keepalive-timeout", "30"}).find("positive duration"), std::string::npos);
    EXPECT_NE(error({"--send-timeout", "fast"}).find("positive duration"), std::string::npos);
    EXPECT_NE(error({"--handshake-timeout", "0ms"}).find("positive duration"), std::string::npos);
    EXPECT_NE(error({"--log-level", "loud"}).find("must be one of"), std::string::npos);
    EXPECT_NE(error({"--config", ""}).find("must not be empty"), std::string::npos);
    EXPECT_EQ(error({}, {{"PORT", "x"}}), "environment variable PORT=x: must be a port number between 0 and 65535");
}

TEST(ControlPlaneOptions, UnknownFlagAndMissingValue) {
    EXPECT_EQ(error({"--verbose"}), "unknown option '--verbose' (see --help)");
    EXPECT_EQ(error({"--port"}), "option --port needs a value (N)");
}

// --help wins, and the usage names every flag with its environment variable.
// The snapshot size limit: plain bytes or a binary or decimal unit, from a flag or MAX_SNAPSHOT_BYTES.
TEST(ControlPlaneOptions, MaxSnapshotBytes) {
    EXPECT_EQ(ok({"--max-snapshot-bytes", "65536"}).max_snapshot_bytes, 65536u);
    EXPECT_EQ(ok({"--max-snapshot-bytes=64KiB"}).max_snapshot_bytes, 65536u);
    EXPECT_EQ(ok({"--max-snapshot-bytes", "64MiB"}).max_snapshot_bytes, 64u * 1024 * 1024);
    EXPECT_EQ(ok({"--max-snapshot-bytes", "32MB"}).max_snapshot_bytes, 32'000'000u);
    EXPECT_EQ(ok({"--max-snapshot-bytes", "1gib"}).max_snapshot_bytes, 1024u * 1024 * 1024);
    EXPECT_EQ(ok({}, {{"MAX_SNAPSHOT_BYTES", "2MiB"}}).max_snapshot_bytes, 2u * 1024 * 1024);
    EXPECT_EQ(ok({"--max-snapshot-bytes", "1MiB"}, {{"MAX_SNAPSHOT_BYTES", "2MiB"}}).max_snapshot_bytes, 1024u * 1024);
    for (const char* bad : {"0", "0MiB", "-1", "64 MiB", "64TiB", "MiB", "1.5MiB", "99999999999999999999",
                            "18446744073709551615GiB"}) {
        EXPECT_NE(error({"--max-snapshot-bytes", bad}).find("must be a positive size in bytes"), std::string::npos)
            << bad;
    }
}

// permessage-deflate can be turned off, by flag or WS_COMPRESSION.
TEST(ControlPlaneOptions, WsCompression) {
    EXPECT_FALSE(ok({"--ws-compression", "off"}).compression);
    EXPECT_TRUE(ok({"--ws-compression=on"}, {{"WS_COMPRESSION", "off"}}).compression);
    EXPECT_FALSE(ok({}, {{"WS_COMPRESSION", "off"}}).compression);
    EXPECT_EQ(error({"--ws-compression", "gzip"}), "option --ws-compression gzip: must be on or off");
}

TEST(ControlPlaneOptions, HelpListsEveryFlag) {
    EXPECT_TRUE(std::holds_alternative<ControlPlaneHelpRequested>(parse({"--port", "1", "--help"})));
    EXPECT_TRUE(std::holds_alternative<ControlPlaneHelpRequested>(parse({"-h"})));
    const auto usage = control_plane_usage();
    for (const char* flag : {"--config", "--port", "--listen", "--poll-interval", "--resend-interval",
                             "--keepalive-timeout", "--send-timeout", "--max-snapshot-bytes", "--ws-compression", "--log-level",
                             "--help"}) {
        EXPECT_NE(usage.find(flag), std::string::npos) << flag;
    }
    for (const char* env : {"CONFIG_PATH", "PORT", "LISTEN_ADDRESS", "POLL_INTERVAL", "RESEND_INTERVAL",
                            "KEEPALIVE_TIMEOUT", "MAX_SNAPSHOT_BYTES"}) {
        EXPECT_NE(usage.find(env), std::string::npos) << env;
    }
}

}  // namespace
}  // namespace cell::controlplane

namespace cell::controlplane {
namespace {

// --etcd takes a comma list of http URLs (ETCD_ENDPOINTS), with a prefix and history size.
TEST(ControlPlaneOptions, EtcdStore) {
    EXPECT_TRUE(ok({}).etcd_endpoints.empty());
    EXPECT_EQ(ok({}).etcd_prefix, "/cellrouter/");
    const auto options = ok({"--etcd", "http://127.0.0.1:2379,http://[::1]:2380", "--etcd-prefix", "/fleet-a",
                             "--etcd-history", "7", "--etcd-timeout", "2s"});
    EXPECT_EQ(options.etcd_endpoints, (std::vector<std::string>{"http://127.0.0.1:2379", "http://[::1]:2380"}));
    EXPECT_EQ(options.etcd_prefix, "/fleet-a/");
    EXPECT_EQ(options.etcd_history, 7u);
    EXPECT_EQ(options.etcd_timeout, 2s);
    EXPECT_EQ(ok({}, {{"ETCD_ENDPOINTS", "http://etcd:2379"}, {"ETCD_PREFIX", "/x/"}}).etcd_endpoints,
              (std::vector<std::string>{"http://etcd:2379"}));
    EXPECT_NE(error({"--etcd", "https://127.0.0.1:2379"}).find("not an etcd client URL"), std::string::npos);
    EXPECT_NE(error({"--etcd", "http://a:2379,,http://b:2379"}).find("\"\" is not an etcd client URL"), std::string::npos);
    EXPECT_NE(error({"--etcd", "127.0.0.1:2379"}).find("not an etcd client URL"), std::string::npos);
    EXPECT_NE(error({"--etcd-prefix", "cellrouter"}).find("must start with /"), std::string::npos);
    EXPECT_NE(error({"--etcd-history", "0"}).find("whole number"), std::string::npos);
    EXPECT_EQ(ok({}).etcd_compact_interval, 5min);
    EXPECT_EQ(ok({"--etcd-compact-interval", "30s"}).etcd_compact_interval, 30s);
    EXPECT_EQ(ok({"--etcd-compact-interval", "off"}).etcd_compact_interval, 0ms);
    EXPECT_EQ(ok({}, {{"ETCD_COMPACT_INTERVAL", "1h"}}).etcd_compact_interval, 1h);
    EXPECT_FALSE(error({"--etcd-compact-interval", "0s"}).empty());
    EXPECT_FALSE(error({"--etcd-compact-interval", "soon"}).empty());
    EXPECT_EQ(ok({}).etcd_chunk_encoding, ChunkEncoding::zstd);
    EXPECT_EQ(ok({"--etcd-chunk-encoding", "identity"}).etcd_chunk_encoding, ChunkEncoding::identity);
    EXPECT_EQ(ok({}, {{"ETCD_CHUNK_ENCODING", "identity"}}).etcd_chunk_encoding, ChunkEncoding::identity);
    EXPECT_NE(error({"--etcd-chunk-encoding", "gzip"}).find("zstd or identity"), std::string::npos);
}

}  // namespace
}  // namespace cell::controlplane
