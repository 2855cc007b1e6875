// cell-router's flags, environment fallbacks and their errors.

#include <gtest/gtest.h>

#include <map>

#include "cell/runtime/router_options.hpp"

namespace cell::runtime {
namespace {

using Env = std::map<std::string, std::string>;

ParsedOptions parse(const std::vector<std::string>& args, const Env& env = {}) {
    return parse_router_options(args, [&](const char* name) -> std::optional<std::string> {
        const auto it = env.find(name);
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
}

RouterOptions ok(const std::vector<std::string>& args, const Env& env = {}) {
    auto parsed = parse(args, env);
    if (const auto* error = std::get_if<OptionsError>(&parsed)) {
        ADD_FAILURE() << error->message;
        return {};
    }
    return std::get<RouterOptions>(parsed);
}

std::string error(const std::vector<std::string>& args, const Env& env = {}) {
    auto parsed = parse(args, env);
    const auto* failure = std::get_if<OptionsError>(&parsed);
    return failure ? failure->message : "(no error)";
}

// Defaults match the documentation.
TEST(RouterOptions, Defaults) {
    const auto options = ok({});
    EXPECT_EQ(options.config_path, "config/routing.json");
    EXPECT_EQ(options.port, 8080);
    EXPECT_EQ(options.listen_address, "0.0.0.0");
    EXPECT_EQ(options.admin_port, 9901);
    EXPECT_EQ(options.admin_listen_address, "127.0.0.1");
    EXPECT_GE(options.threads, 1u);
    EXPECT_EQ(options.reload_interval, std::chrono::seconds(5));
    EXPECT_TRUE(options.access_log);
    EXPECT_FALSE(options.proxy.header_timeout.has_value());
    // As large a snapshot as the largest config file the router reads.
    EXPECT_EQ(options.max_snapshot_bytes, 64u * 1024 * 1024);
    EXPECT_TRUE(options.control_plane_compression);
}

// Flags win over environment variables, which win over defaults.
TEST(RouterOptions, FlagsOverEnvironmentOverDefaults) {
    const auto from_env = ok({}, {{"PORT", "9000"}, {"CONFIG_PATH", "/etc/r.json"}, {"ROUTER_THREADS", "3"}});
    EXPECT_EQ(from_env.port, 9000);
    EXPECT_EQ(from_env.config_path, "/etc/r.json");
    EXPECT_EQ(from_env.threads, 3u);
    const auto from_flag = ok({"--port", "9100", "--config=/x.json"}, {{"PORT", "9000"}, {"CONFIG_PATH", "/etc/r.json"}});
    EXPECT_EQ(from_flag.port, 9100);
    EXPECT_EQ(from_flag.config_path, "/x.json");
}

// The admin listener's address is set apart from the proxy's, by flag or environment.
TEST(RouterOptions, AdminListenAddress) {
    EXPECT_EQ(ok({"--admin-listen", "0.0.0.0"}).admin_listen_address, "0.0.0.0");
    EXPECT_EQ(ok({}, {{"ADMIN_LISTEN_ADDRESS", "::1"}}).admin_listen_address, "::1");
    EXPECT_EQ(ok({"--listen", "127.0.0.2"}).admin_listen_address, "127.0.0.1");
    EXPECT_NE(error({"--admin-listen="}), "(no error)");
}

// Every limit and timeout has a flag.
TEST(RouterOptions, LimitsAndTimeouts) {
    const auto options = ok({"--max-header-bytes", "4096", "--header-timeout", "2s", "--idle-timeout", "1m",
                             "--connect-timeout", "500ms", "--request-timeout", "45s", "--drain-timeout", "3s"});
    EXPECT_EQ(options.proxy.max_header_bytes, 4096u);
    EXPECT_EQ(options.proxy.header_timeout, std::chrono::seconds(2));
    EXPECT_EQ(options.proxy.idle_timeout, std::chrono::minutes(1));
    EXPECT_EQ(options.proxy.connect_timeout, std::chrono::milliseconds(500));
    EXPECT_EQ(options.proxy.request_timeout, std::chrono::seconds(45));
    EXPECT_EQ(options.proxy.drain_timeout, std::chrono::seconds(3));
}

// max_connections: flag over environment, unset by default (the file or the built-in 100000).
TEST(RouterOptions, MaxConnections) {
    EXPECT_FALSE(ok({}).proxy.max_connections.has_value());
    EXPECT_EQ(ok({"--max-connections", "250"}).proxy.max_connections, 250u);
    EXPECT_EQ(ok({}, {{"MAX_CONNECTIONS", "7"}}).proxy.max_connections, 7u);
    EXPECT_EQ(ok({"--max-connections=9"}, {{"MAX_CONNECTIONS", "7"}}).proxy.max_connections, 9u);
    EXPECT_EQ(error({"--max-connections", "0"}),
              "option --max-connections 0: must be an integer between 1 and 10000000");
    EXPECT_EQ(error({}, {{"MAX_CONNECTIONS", "lots"}}),
              "environment variable MAX_CONNECTIONS=lots: must be an integer between 1 and 10000000");
}

// The reload interval takes plain seconds (as documented) or a duration.
TEST(RouterOptions, ReloadInterval) {
    EXPECT_EQ(ok({"--reload-interval", "7"}).reload_interval, std::chrono::seconds(7));
    EXPECT_EQ(ok({"--reload-interval", "250ms"}).reload_interval, std::chrono::milliseconds(250));
}

// Port 0 asks for an ephemeral proxy port and turns the admin listener off.
TEST(RouterOptions, PortZero) {
    const auto options = ok({"--port", "0", "--admin-port", "0"});
    EXPECT_EQ(options.port, 0);
    EXPECT_EQ(options.admin_port, 0);
}

// Bad flags and values name the flag and what is wrong.
TEST(RouterOptions, Errors) {
    EXPECT_EQ(error({"--bogus"}), "unknown option '--bogus' (see --help)");
    EXPECT_EQ(error({"--port"}), "option --port needs a value (N)");
    EXPECT_EQ(error({"--port", "70000"}), "option --port 70000: must be a port number between 0 and 65535");
    EXPECT_EQ(error({"--threads", "0"}), "option --threads 0: must be an integer between 1 and 256");
    EXPECT_EQ(error({"--threads", "257"}), "option --threads 257: must be an integer between 1 and 256");
    EXPECT_EQ(error({"--header-timeout", "10"}),
              "option --header-timeout 10: must be a positive duration such as 500ms, 10s or 1m");
    EXPECT_EQ(error({"--access-log", "maybe"}), "option --access-log maybe: must be on or off");
    EXPECT_EQ(error({"--log-level", "loud"}),
              "option --log-level loud: must be one of trace, debug, info, warn, error, critical, off");
    EXPECT_EQ(error({}, {{"PORT", "eighty"}}),
              "environment variable PORT=eighty: must be a port number between 0 and 65535");
}

// --help wins, and the usage text documents every flag.
// --control-plane takes one URL or a comma-separated list of replicas; each entry is checked and
// a bad one is named.
TEST(RouterOptions, ControlPlaneUrlList) {
    EXPECT_TRUE(ok({}).control_plane_urls.empty());
    EXPECT_TRUE(ok({"--control-plane", ""}).control_plane_urls.empty());
    EXPECT_EQ(ok({"--control-plane", "ws://cp:8081/connect"}).control_plane_urls,
              (std::vector<std::string>{"ws://cp:8081/connect"}));
    EXPECT_EQ(ok({"--control-plane", "ws://a:8081/connect, ws://b:8081/connect,ws://[::1]:9000/connect"}).control_plane_urls,
              (std::vector<std::string>{"ws://a:8081/connect", "ws://b:8081/connect", "ws://[::1]:9000/connect"}));
    EXPECT_EQ(ok({}, {{"CONTROL_PLANE_URL", "ws://a/connect,ws://b/connect"}}).control_plane_urls,
              (std::vector<std::string>{"ws://a/connect", "ws://b/connect"}));
    // The flag replaces the variable's list, not adds to it.
    EXPECT_EQ(ok({"--control-plane", "ws://c/connect"}, {{"CONTROL_PLANE_URL", "ws://a/connect,ws://b/connect"}})
                  .control_plane_urls,
              (std::vector<std::string>{"ws://c/connect"}));

    EXPECT_EQ(error({"--control-plane", "ws://a:8081/connect,http://b:8081/connect"}),
              "option --control-plane ws://a:8081/connect,http://b:8081/connect: \"http://b:8081/connect\" must be a "
              "ws:// URL with a host, e.g. ws://control-plane:8081/connect");
    EXPECT_EQ(error({"--control-plane", "cp:8081"}),
              "option --control-plane cp:8081: \"cp:8081\" must be a ws:// URL with a host, e.g. "
              "ws://control-plane:8081/connect");
    EXPECT_EQ(error({"--control-plane", "ws://a/connect,,ws://b/connect"}),
              "option --control-plane ws://a/connect,,ws://b/connect: entry 2 of the list is empty");
    EXPECT_EQ(error({"--control-plane", "ws://a/connect,"}),
              "option --control-plane ws://a/connect,: entry 2 of the list is empty");
    EXPECT_EQ(error({"--control-plane", "ws://a/connect, ws://a/connect"}),
              "option --control-plane ws://a/connect, ws://a/connect: \"ws://a/connect\" is listed twice");
    EXPECT_NE(error({}, {{"CONTROL_PLANE_URL", "ws://a:0/connect"}}).find("CONTROL_PLANE_URL"), std::string::npos);
}

// The control-plane client's connect timeout and reconnect schedule, as flags and variables.
TEST(RouterOptions, ControlPlaneTimings) {
    using namespace std::chrono_literals;
    const auto defaults = ok({});
    EXPECT_EQ(defaults.control_plane_connect_timeout, 5s);
    EXPECT_EQ(defaults.control_plane_backoff, 1s);
    EXPECT_EQ(defaults.control_plane_max_backoff, 60s);
    EXPECT_EQ(defaults.control_plane_backoff_reset, 10s);
    const auto flags = ok({"--control-plane-connect-timeout", "300ms", "--control-plane-backoff=50ms",
                           "--control-plane-max-backoff", "2s", "--control-plane-backoff-reset", "1500ms"});
    EXPECT_EQ(flags.control_plane_connect_timeout, 300ms);
    EXPECT_EQ(flags.control_plane_backoff, 50ms);
    EXPECT_EQ(flags.control_plane_max_backoff, 2s);
    EXPECT_EQ(flags.control_plane_backoff_reset, 1500ms);
    const auto env = ok({}, {{"CONTROL_PLANE_CONNECT_TIMEOUT", "1s"}, {"CONTROL_PLANE_BACKOFF", "200ms"},
                             {"CONTROL_PLANE_MAX_BACKOFF", "5s"}, {"CONTROL_PLANE_BACKOFF_RESET", "3s"}});
    EXPECT_EQ(env.control_plane_connect_timeout, 1s);
    EXPECT_EQ(env.control_plane_backoff, 200ms);
    EXPECT_EQ(env.control_plane_max_backoff, 5s);
    EXPECT_EQ(env.control_plane_backoff_reset, 3s);
}

TEST(RouterOptions, ControlPlaneTimingErrors) {
    EXPECT_NE(error({"--control-plane-backoff", "5ms"}).find("at least 10ms"), std::string::npos);
    EXPECT_NE(error({"--control-plane-connect-timeout", "soon"}).find("--control-plane-connect-timeout"),
              std::string::npos);
    EXPECT_NE(error({"--control-plane-backoff-reset", "0s"}).find("at least 10ms"), std::string::npos);
    // A ceiling below the first delay is a typo, not a schedule.
    EXPECT_NE(error({"--control-plane-backoff", "2s", "--control-plane-max-backoff", "1s"})
                  .find("must not be shorter than --control-plane-backoff"),
              std::string::npos);
}

// The largest snapshot taken from the control plane, with a size unit or in bytes.
TEST(RouterOptions, MaxSnapshotBytes) {
    EXPECT_EQ(ok({"--max-snapshot-bytes", "64KiB"}).max_snapshot_bytes, 65536u);
    EXPECT_EQ(ok({"--max-snapshot-bytes=32MB"}).max_snapshot_bytes, 32'000'000u);
    EXPECT_EQ(ok({"--max-snapshot-bytes", "1048576"}).max_snapshot_bytes, 1048576u);
    EXPECT_EQ(ok({}, {{"MAX_SNAPSHOT_BYTES", "64MiB"}}).max_snapshot_bytes, 64u * 1024 * 1024);
    EXPECT_EQ(error({"--max-snapshot-bytes", "lots"}),
              "option --max-snapshot-bytes lots: must be a positive size in bytes, or with a unit: 65536, 64KiB, "
              "64MiB, 32MB");
    EXPECT_NE(error({}, {{"MAX_SNAPSHOT_BYTES", "0"}}).find("environment variable MAX_SNAPSHOT_BYTES=0"),
              std::string::npos);
}

// The permessage-deflate offer to the control plane, by flag or WS_COMPRESSION.
TEST(RouterOptions, WsCompression) {
    EXPECT_FALSE(ok({"--ws-compression", "off"}).control_plane_compression);
    EXPECT_FALSE(ok({}, {{"WS_COMPRESSION", "off"}}).control_plane_compression);
    EXPECT_EQ(error({"--ws-compression", "maybe"}), "option --ws-compression maybe: must be on or off");
}

TEST(RouterOptions, Help) {
    EXPECT_TRUE(std::holds_alternative<HelpRequested>(parse({"--port", "1", "--help"})));
    const auto usage = router_usage();
    for (const auto* flag : {"--config", "--port", "--listen", "--threads", "--admin-port", "--reload-interval",
                             "--log-level", "--access-log", "--max-header-bytes", "--header-timeout",
                             "--idle-timeout", "--connect-timeout", "--request-timeout", "--drain-timeout",
                             "--max-connections", "--max-snapshot-bytes", "--ws-compression"}) {
        EXPECT_NE(usage.find(flag), std::string::npos) << flag;
    }
}

}  // namespace
}  // namespace cell::runtime
