#include "cell/controlplane/control_plane_options.hpp"

#include <charconv>

#include <fmt/format.h>

#include "cell/config/duration.hpp"

namespace cell::controlplane {
namespace {

// Returns an error message, or nullopt when the value was accepted.
using Setter = std::optional<std::string> (*)(ControlPlaneOptions&, const std::string&);

struct OptionSpec {
    const char* flag;
    const char* env;  // nullptr when there is no environment fallback
    const char* value_name;
    const char* help;
    Setter set;
};

std::optional<unsigned> parse_unsigned(const std::string& text, unsigned min, unsigned max) {
    unsigned value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end || value < min || value > max) {
        return std::nullopt;
    }
    return value;
}

std::optional<std::string> set_duration(std::chrono::milliseconds& target, const std::string& value) {
    const auto parsed = config::parse_duration(value);
    if (!parsed || parsed->count() <= 0) {
        return "must be a positive duration such as 500ms, 10s or 1m";
    }
    target = *parsed;
    return std::nullopt;
}

std::optional<std::string> set_text(std::string& target, const std::string& value) {
    if (value.empty()) {
        return "must not be empty";
    }
    target = value;
    return std::nullopt;
}

const std::vector<OptionSpec>& option_specs() {
    static const std::vector<OptionSpec> specs{
        {"--config", "CONFIG_PATH", "PATH", "routing config file to watch and push (default config/routing.json)",
         [](ControlPlaneOptions& o, const std::string& v) { return set_text(o.config_path, v); }},
        {"--port", "PORT", "N", "port for /connect, /status and /health (default 8081; 0 picks a free port)",
         [](ControlPlaneOptions& o, const std::string& v) -> std::optional<std::string> {
             const auto parsed = parse_unsigned(v, 0, 65535);
             if (!parsed) {
                 return "must be a port number between 0 and 65535";
             }
             o.port = static_cast<std::uint16_t>(*parsed);
             return std::nullopt;
         }},
        {"--listen", "LISTEN_ADDRESS", "ADDR", "address to listen on (default 0.0.0.0)",
         [](ControlPlaneOptions& o, const std::string& v) { return set_text(o.listen_address, v); }},
        {"--poll-interval", "POLL_INTERVAL", "SECONDS",
         "how often the config file is checked; SIGHUP checks at once (default 2)",
         [](ControlPlaneOptions& o, const std::string& v) -> std::optional<std::string> {
             // Seconds as a plain number, like the router's --reload-interval; a duration also works.
             if (const auto seconds = parse_unsigned(v, 1, 86400)) {
                 o.poll_interval = std::chrono::seconds(*seconds);
                 return std::nullopt;
             }
             const auto parsed = config::parse_duration(v);
             if (!parsed || parsed->count() <= 0) {
                 return "must be a positive number of seconds or a duration such as 200ms";
             }
             o.poll_interval = *parsed;
             return std::nullopt;
         }},
        {"--resend-interval", "RESEND_INTERVAL", "DURATION",
         "re-send the current snapshot to every router this often, correcting silent divergence (default 5m)",
         [](ControlPlaneOptions& o, const std::string& v) { return set_duration(o.resend_interval, v); }},
        {"--keepalive-timeout", "KEEPALIVE_TIMEOUT", "DURATION",
         "a router silent this long (no frame, no pong) is dropped; pings go out at half of it (default 30s)",
         [](ControlPlaneOptions& o, const std::string& v) { return set_duration(o.keepalive_timeout, v); }},
        {"--send-timeout", "SEND_TIMEOUT", "DURATION",
         "a router whose socket does not take a whole snapshot within this is disconnected (default 10s)",
         [](ControlPlaneOptions& o, const std::string& v) { return set_duration(o.send_timeout, v); }},
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

const OptionSpec* find_spec(std::string_view flag) {
    for (const auto& spec : option_specs()) {
        if (flag == spec.flag) {
            return &spec;
        }
    }
    return nullptr;
}

}  // namespace

std::string control_plane_usage() {
    std::string usage =
        "Usage: cell-control-plane [options]\n\n"
        "Watches a routing config file and pushes every valid version to the routers connected\n"
        "to GET /connect (WebSocket). GET /status shows the fleet, GET /health liveness.\n"
        "Every option may also be given as --name=value. Flags win over environment variables.\n\nOptions:\n";
    for (const auto& spec : option_specs()) {
        const std::string left = fmt::format("{} {}", spec.flag, spec.value_name);
        usage += fmt::format("  {:<28} {}", left, spec.help);
        if (spec.env != nullptr) {
            usage += fmt::format(" [env {}]", spec.env);
        }
        usage += '\n';
    }
    usage += fmt::format("  {:<28} {}\n", "--help", "show this help and exit");
    return usage;
}

ParsedControlPlaneOptions parse_control_plane_options(
    const std::vector<std::string>& args, const std::function<std::optional<std::string>(const char*)>& environment) {
    ControlPlaneOptions options;
    for (const auto& spec : option_specs()) {
        if (spec.env == nullptr) {
            continue;
        }
        if (const auto value = environment(spec.env)) {
            if (auto error = spec.set(options, *value)) {
                return ControlPlaneOptionsError{
                    fmt::format("environment variable {}={}: {}", spec.env, *value, *error)};
            }
        }
    }
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--help" || arg == "-h") {
            return ControlPlaneHelpRequested{};
        }
        const auto equals = arg.find('=');
        const std::string flag = arg.substr(0, equals);
        const OptionSpec* spec = find_spec(flag);
        if (spec == nullptr) {
            return ControlPlaneOptionsError{fmt::format("unknown option '{}' (see --help)", arg)};
        }
        std::string value;
        if (equals != std::string::npos) {
            value = arg.substr(equals + 1);
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            return ControlPlaneOptionsError{fmt::format("option {} needs a value ({})", flag, spec->value_name)};
        }
        if (auto error = spec->set(options, value)) {
            return ControlPlaneOptionsError{fmt::format("option {} {}: {}", flag, value, *error)};
        }
    }
    return options;
}

}  // namespace cell::controlplane
