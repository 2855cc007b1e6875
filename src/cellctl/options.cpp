#include "cell/cellctl/options.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "cell/cellctl/http_client.hpp"
#include "cell/config/duration.hpp"
#include "cell/config/types.hpp"
#include "cell/controlplane/config_diff.hpp"
#include "cell/controlplane/control_plane_options.hpp"
#include "cell/controlplane/rollout.hpp"

namespace cell::cellctl {
namespace {

struct CommandInfo {
    Command command;
    const char* name;
    const char* synopsis;
    const char* summary;
    const char* flags;  // the command's own flags, for its --help
};

constexpr const char* limit_flag =
    "  --max-moved-keys LIMIT        refuse when more keys move or disappear than LIMIT: a share of\n"
    "                                the keys (\"10%\", the control plane's default) or a count (\"5000\")\n";
constexpr const char* change_flags =
    "  --reason TEXT                 why; recorded in the history\n"
    "  --force                       apply even when the blast-radius guard refuses (needs --reason)\n"
    "  --applied-by WHO              recorded in the history (default: $USER@hostname)\n";

const std::vector<CommandInfo>& commands() {
    static const std::vector<CommandInfo> list{
        {Command::validate, "validate", "validate FILE",
         "check FILE offline with the router's own validation; exit 0 valid, 1 invalid", ""},
        {Command::diff, "diff", "diff FILE [--max-moved-keys LIMIT]",
         "show what applying FILE would change, and whether the guard would allow it;\n"
         "exit 0 no differences, 1 differences, 3 differences the guard would refuse",
         limit_flag},
        {Command::apply, "apply",
         "apply FILE [--reason TEXT] [--force] [--max-moved-keys LIMIT] [--expected-revision N]\n"
         "             [--staged [--canary 10%|PATTERN] [--soak 60s] [--error-margin 0.05] [--no-wait]]",
         "show the diff, then store FILE as a new revision unless the config changed meanwhile;\n"
         "exit 0 applied (staged: promoted), 1 refused (invalid, conflict, guard, read-only store;\n"
         "staged: halted)",
         "  --expected-revision N         apply only if the stored config is still revision N\n"
         "                                (default: the revision the diff was computed against)\n"
         "  --staged                      to canary routers first; stored and sent to every router only\n"
         "                                after their acks and a soak without an error spike\n"
         "  --canary SET                  the canaries: a share of the connected routers (10%, at least\n"
         "                                one) or a node-id pattern (edge-a-*) (default: the control plane's)\n"
         "  --soak DURATION               how long the canaries are watched after their acks\n"
         "  --error-margin RATE           halt when the canaries' error rate exceeds the others' by more\n"
         "                                (0.05 = 5 points)\n"
         "  --no-wait                     return once the rollout started; `cellctl status` follows it\n"},
        {Command::history, "history", "history [--limit N]", "list the stored revisions, newest first",
         "  --limit N                     show at most N entries\n"},
        {Command::rollback, "rollback", "rollback REVISION [--reason TEXT] [--force] [--max-moved-keys LIMIT]",
         "apply the config of history entry REVISION again, as a new revision; exit codes as apply", ""},
        {Command::drain, "drain", "drain PLACEMENT --reason TEXT [--to PLACEMENT] [--ramp 5m]",
         "move PLACEMENT's requests to --to (default: its fallback), the share growing over the ramp;\n"
         "a key moves once and stays moved (docs/operations.md); exit codes as apply",
         "  --to PLACEMENT                where the requests go (default: the placement's fallback)\n"
         "  --ramp DURATION               how long until all of them have moved (default 5m; 0s: at once)\n"},
        {Command::undrain, "undrain", "undrain PLACEMENT [--ramp 1m] [--reason TEXT]",
         "bring a drained placement's requests back over the ramp, from wherever the drain is now",
         "  --ramp DURATION               how long until all of them are back (default 1m)\n"},
        {Command::pin, "pin", "pin KEY PLACEMENT --ttl DURATION --reason TEXT",
         "route KEY to PLACEMENT until the ttl runs out (X-Route-Reason: override)",
         "  --ttl DURATION                how long the pin lasts; it expires on every router at once\n"},
        {Command::unpin, "unpin", "unpin KEY [--reason TEXT]", "remove KEY's pin", ""},
        {Command::pause, "pause", "pause KEY --reason TEXT [--retry-after 30s] [--max 5m]",
         "answer KEY's requests 503 with Retry-After, without any cell, until --max has passed",
         "  --retry-after DURATION        the Retry-After clients get (1s to 1h, default 30s)\n"
         "  --max DURATION                when the pause ends by itself (default 5m)\n"},
        {Command::move, "move", "move KEY PLACEMENT [--reason TEXT]",
         "map KEY to PLACEMENT in the routing table and lift its pause, in one version", ""},
        {Command::abort_rollout, "abort-rollout", "abort-rollout [--applied-by WHO]",
         "halt the running staged rollout: its canaries get the stable version back; exit 1 when none runs",
         ""},
        {Command::status, "status", "status",
         "ask every control plane for its routers and show the fleet: exit 0 every router current and\n"
         "every control plane reachable, 1 otherwise, 2 none reachable",
         ""},
    };
    return list;
}

const CommandInfo& info_of(Command command) {
    for (const auto& info : commands()) {
        if (info.command == command) {
            return info;
        }
    }
    return commands().front();
}

constexpr const char* global_flags =
    "Global flags (anywhere on the line):\n"
    "  --control-plane URL[,URL...]  control planes, tried in order; http only\n"
    "                                [env CELLCTL_CONTROL_PLANE, default http://127.0.0.1:8081]\n"
    "  --json                        print machine-readable JSON instead of text\n"
    "  --timeout DURATION            for each request (default 30s)\n"
    "  --help                        show help (cellctl COMMAND --help for one command)\n";

std::optional<std::string> set_control_planes(GlobalOptions& global, const std::string& value) {
    std::vector<std::string> urls;
    std::size_t start = 0;
    while (start <= value.size()) {
        const std::size_t comma = std::min(value.find(',', start), value.size());
        std::string url = value.substr(start, comma - start);
        if (url.empty()) {
            return fmt::format("an empty URL in \"{}\"", value);
        }
        auto parsed = parse_base_url(url);
        if (const auto* error = std::get_if<std::string>(&parsed)) {
            return *error;
        }
        urls.push_back(std::move(url));
        start = comma + 1;
    }
    global.control_planes = std::move(urls);
    return std::nullopt;
}

std::optional<std::uint64_t> parse_revision(const std::string& text) {
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

// Which flags take a value, and which commands accept them.
struct FlagRule {
    const char* name;
    bool takes_value;
    std::vector<Command> commands;  // empty: global
};

const std::vector<FlagRule>& flag_rules() {
    static const std::vector<FlagRule> rules{
        {"--control-plane", true, {}},
        {"--json", false, {}},
        {"--timeout", true, {}},
        {"--max-moved-keys", true, {Command::diff, Command::apply, Command::rollback, Command::drain, Command::undrain,
                                    Command::pin, Command::unpin, Command::pause, Command::move}},
        {"--reason", true, {Command::apply, Command::rollback, Command::drain, Command::undrain, Command::pin,
                            Command::unpin, Command::pause, Command::move}},
        {"--force", false, {Command::apply, Command::rollback, Command::drain, Command::undrain, Command::pin,
                            Command::unpin, Command::pause, Command::move}},
        {"--applied-by", true, {Command::apply, Command::rollback, Command::drain, Command::undrain, Command::pin,
                                Command::unpin, Command::pause, Command::move, Command::abort_rollout}},
        {"--staged", false, {Command::apply}},
        {"--canary", true, {Command::apply}},
        {"--soak", true, {Command::apply}},
        {"--error-margin", true, {Command::apply}},
        {"--no-wait", false, {Command::apply}},
        {"--to", true, {Command::drain}},
        {"--ramp", true, {Command::drain, Command::undrain}},
        {"--ttl", true, {Command::pin}},
        {"--retry-after", true, {Command::pause}},
        {"--max", true, {Command::pause}},
        {"--expected-revision", true, {Command::apply}},
        {"--limit", true, {Command::history}},
    };
    return rules;
}

std::optional<std::string> apply_flag(Invocation& invocation, const std::string& flag, const std::string& value) {
    if (flag == "--control-plane") {
        return set_control_planes(invocation.global, value);
    }
    if (flag == "--timeout") {
        return util::set_positive_duration(invocation.global.timeout, value);
    }
    if (flag == "--max-moved-keys") {
        auto parsed = controlplane::parse_moved_keys_limit(value);
        if (const auto* error = std::get_if<std::string>(&parsed)) {
            return *error;
        }
        invocation.max_moved_keys = value;
        return std::nullopt;
    }
    if (flag == "--reason") {
        return util::set_non_empty(invocation.reason, value);
    }
    if (flag == "--applied-by") {
        return util::set_non_empty(invocation.applied_by, value);
    }
    if (flag == "--expected-revision") {
        invocation.expected_revision = parse_revision(value);
        return invocation.expected_revision ? std::nullopt
                                            : std::optional<std::string>("must be a revision number (0 or more)");
    }
    if (flag == "--canary") {
        auto parsed = controlplane::parse_canary_spec(value);
        if (const auto* error = std::get_if<std::string>(&parsed)) {
            return *error;
        }
        invocation.canary = value;
        return std::nullopt;
    }
    if (flag == "--soak") {
        std::chrono::milliseconds soak{};
        if (auto error = controlplane::set_rollout_duration(soak, value, true)) {
            return error;
        }
        invocation.soak = value;
        return std::nullopt;
    }
    if (flag == "--error-margin") {
        double margin = 0;
        if (auto error = controlplane::set_error_margin(margin, value)) {
            return error;
        }
        invocation.error_margin = value;
        return std::nullopt;
    }
    if (flag == "--to") {
        return util::set_non_empty(invocation.to, value);
    }
    constexpr std::chrono::milliseconds longest_operation = std::chrono::hours(366 * 24);
    const auto duration = [&](std::chrono::milliseconds minimum) -> std::variant<std::chrono::milliseconds, std::string> {
        const auto parsed = config::parse_duration(value);
        if (!parsed || *parsed < minimum) {
            return minimum.count() == 0 ? std::string("must be a duration (e.g. 30s, 5m), 0s or more")
                                        : "must be a duration of at least " + config::format_duration(minimum);
        }
        return *parsed;
    };
    if (flag == "--ramp" || flag == "--ttl" || flag == "--retry-after" || flag == "--max") {
        const bool may_be_zero = flag == "--ramp";
        auto parsed = duration(may_be_zero ? std::chrono::milliseconds(0) : std::chrono::milliseconds(1000));
        if (const auto* error = std::get_if<std::string>(&parsed)) {
            return *error;
        }
        const auto value_ms = std::get<std::chrono::milliseconds>(parsed);
        // Bounded so that now + value is a time every router can read (config/timestamp.hpp).
        const auto longest = flag == "--ramp" ? config::longest_drain_ramp : longest_operation;
        if (value_ms > longest) {
            return "must be at most " + config::format_duration(longest);
        }
        if (flag == "--ramp") {
            invocation.ramp = value_ms;
        } else if (flag == "--ttl") {
            invocation.ttl = value_ms;
        } else if (flag == "--retry-after") {
            if (value_ms > std::chrono::hours(1)) {
                return std::string("must be at most 1h");
            }
            invocation.retry_after = value_ms;
        } else {
            invocation.max_pause = value_ms;
        }
        return std::nullopt;
    }
    if (flag == "--limit") {
        invocation.limit = util::parse_unsigned(value, 1, 1'000'000);
        return invocation.limit ? std::nullopt : std::optional<std::string>("must be a number from 1 to 1000000");
    }
    return "unknown option";
}

std::optional<Command> command_named(const std::string& name) {
    for (const auto& info : commands()) {
        if (name == info.name) {
            return info.command;
        }
    }
    return std::nullopt;
}

std::string usage_error(const std::optional<Command>& command, const std::string& message) {
    const std::string hint = command ? fmt::format("cellctl {} --help", info_of(*command).name) : "cellctl --help";
    return fmt::format("{} (see {})", message, hint);
}

}  // namespace

std::string applied_by_of(const util::Environment& environment, const std::string& hostname) {
    const auto user = environment("USER");
    return fmt::format("{}@{}", user && !user->empty() ? *user : "unknown", hostname.empty() ? "unknown" : hostname);
}

ParsedInvocation parse_invocation(const std::vector<std::string>& args, const util::Environment& environment,
                                  const std::string& default_applied_by) {
    Invocation invocation;
    invocation.applied_by = default_applied_by;
    if (const auto urls = environment("CELLCTL_CONTROL_PLANE"); urls && !urls->empty()) {
        if (auto error = set_control_planes(invocation.global, *urls)) {
            return UsageError{fmt::format("environment variable CELLCTL_CONTROL_PLANE={}: {}", *urls, *error)};
        }
    }
    std::optional<Command> command;
    std::vector<std::string> positional;
    bool help = false;
    // The command may follow global flags, so flags are checked against it once it is known.
    std::vector<std::pair<const FlagRule*, std::string>> flags;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--help" || arg == "-h") {
            help = true;
            continue;
        }
        if (!arg.starts_with("--")) {
            if (!command) {
                command = command_named(arg);
                if (!command) {
                    return UsageError{usage_error(std::nullopt, fmt::format("unknown command '{}'", arg))};
                }
            } else {
                positional.push_back(arg);
            }
            continue;
        }
        const auto equals = arg.find('=');
        const std::string name = arg.substr(0, equals);
        const FlagRule* rule = nullptr;
        for (const auto& candidate : flag_rules()) {
            if (name == candidate.name) {
                rule = &candidate;
            }
        }
        if (rule == nullptr) {
            return UsageError{usage_error(command, fmt::format("unknown option '{}'", arg))};
        }
        std::string value;
        if (!rule->takes_value) {
            if (equals != std::string::npos) {
                return UsageError{usage_error(command, fmt::format("option {} takes no value", name))};
            }
        } else if (equals != std::string::npos) {
            value = arg.substr(equals + 1);
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            return UsageError{usage_error(command, fmt::format("option {} needs a value", name))};
        }
        flags.emplace_back(rule, std::move(value));
    }
    if (help) {
        return HelpRequested{command ? command_usage(*command) : usage()};
    }
    if (!command) {
        return UsageError{usage_error(std::nullopt, "no command given")};
    }
    invocation.command = *command;
    const char* command_name = info_of(*command).name;
    for (const auto& [rule, value] : flags) {
        if (!rule->commands.empty() &&
            std::find(rule->commands.begin(), rule->commands.end(), *command) == rule->commands.end()) {
            return UsageError{usage_error(command, fmt::format("{} does not take {}", command_name, rule->name))};
        }
        if (std::string_view(rule->name) == "--json") {
            invocation.global.json = true;
            continue;
        }
        if (std::string_view(rule->name) == "--force") {
            invocation.force = true;
            continue;
        }
        if (std::string_view(rule->name) == "--staged") {
            invocation.staged = true;
            continue;
        }
        if (std::string_view(rule->name) == "--no-wait") {
            invocation.wait = false;
            continue;
        }
        if (auto error = apply_flag(invocation, rule->name, value)) {
            return UsageError{usage_error(command, fmt::format("option {} {}: {}", rule->name, value, *error))};
        }
    }
    const auto expect_arguments = [&](std::size_t count, const char* what) -> std::optional<UsageError> {
        if (positional.size() < count) {
            return UsageError{usage_error(command, fmt::format("{} needs {}", command_name, what))};
        }
        if (positional.size() > count) {
            return UsageError{usage_error(command, fmt::format("unexpected argument '{}'", positional[count]))};
        }
        return std::nullopt;
    };
    switch (*command) {
        case Command::validate:
        case Command::diff:
        case Command::apply:
            if (auto error = expect_arguments(1, "a config FILE")) {
                return *error;
            }
            invocation.file = positional[0];
            break;
        case Command::rollback: {
            if (auto error = expect_arguments(1, "the REVISION to roll back to")) {
                return *error;
            }
            const auto revision = parse_revision(positional[0]);
            if (!revision || *revision == 0) {
                return UsageError{usage_error(command, fmt::format("REVISION must be a positive number, got '{}'",
                                                                   positional[0]))};
            }
            invocation.revision = *revision;
            break;
        }
        case Command::history:
        case Command::status:
        case Command::abort_rollout:
            if (auto error = expect_arguments(0, "")) {
                return *error;
            }
            break;
        case Command::drain:
        case Command::undrain:
            if (auto error = expect_arguments(1, "a PLACEMENT")) {
                return *error;
            }
            invocation.subject = positional[0];
            break;
        case Command::unpin:
        case Command::pause:
            if (auto error = expect_arguments(1, "a routing KEY")) {
                return *error;
            }
            invocation.subject = positional[0];
            break;
        case Command::pin:
        case Command::move:
            if (auto error = expect_arguments(2, "a routing KEY and a PLACEMENT")) {
                return *error;
            }
            invocation.subject = positional[0];
            invocation.placement = positional[1];
            break;
    }
    // An operation that changes traffic says why: the reason is on every router's /debug pages.
    if ((*command == Command::drain || *command == Command::pin || *command == Command::pause) &&
        invocation.reason.empty()) {
        return UsageError{usage_error(command, fmt::format("{} needs --reason TEXT", command_name))};
    }
    if (*command == Command::pin && !invocation.ttl) {
        return UsageError{usage_error(command, "pin needs --ttl DURATION: a pin always expires (use move to stay)")};
    }
    if (!invocation.staged && (invocation.canary || invocation.soak || invocation.error_margin || !invocation.wait)) {
        return UsageError{usage_error(command, "--canary, --soak, --error-margin and --no-wait go with --staged")};
    }
    if (invocation.force && invocation.reason.empty()) {
        return UsageError{fmt::format("--force needs --reason TEXT: overriding the blast-radius guard is recorded "
                                      "in the history with its reason (cellctl {} --help)",
                                      command_name)};
    }
    return invocation;
}

const char* command_name(Command command) { return info_of(command).name; }

std::string usage() {
    std::string text =
        "Usage: cellctl [global flags] COMMAND [arguments] [flags]\n"
        "Reads and changes the routing config held by cell-control-plane, and shows the fleet.\n\n"
        "Commands:\n";
    for (const auto& info : commands()) {
        text += fmt::format("  {:<10} {}\n", info.name, info.synopsis);
    }
    text += "\n";
    text += global_flags;
    text +=
        "\nExit codes:\n"
        "  0  done; diff: no differences; status: every router current\n"
        "  1  validate: invalid config; diff: differences; apply/rollback: refused (invalid config,\n"
        "     conflict, blast-radius guard, read-only store, unknown revision); status: fleet not current\n"
        "  2  usage error, control plane unreachable, store unavailable or an unexpected answer\n"
        "  3  diff: differences the blast-radius guard would refuse\n";
    return text;
}

std::string command_usage(Command command) {
    const CommandInfo& info = info_of(command);
    std::string text = fmt::format("Usage: cellctl {}\n{}\n", info.synopsis, info.summary);
    std::string flags = info.flags;
    if (command == Command::apply || command == Command::rollback) {
        flags = change_flags + (command == Command::apply ? std::string(limit_flag) + info.flags : std::string(limit_flag));
    } else if (is_operation(command)) {
        flags = info.flags + std::string(change_flags) + limit_flag;
    }
    if (!flags.empty()) {
        text += "\nFlags:\n" + flags;
    }
    text += "\n";
    text += global_flags;
    return text;
}

}  // namespace cell::cellctl
