#pragma once
// cellctl's command line: a subcommand, its arguments and flags, and the global flags, which may
// appear anywhere (`cellctl --json status` and `cellctl status --json` are the same).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cell/util/command_line.hpp"

namespace cell::cellctl {

enum class Command { validate, diff, apply, history, rollback, status, abort_rollout, drain, undrain, pin, unpin, pause, move };

// The commands that change the config's operations (docs/operations.md).
constexpr bool is_operation(Command command) { return command >= Command::drain; }

// Exit codes, shared by every command (docs/cellctl.md).
inline constexpr int exit_ok = 0;           // done; `diff`: no differences
inline constexpr int exit_refused = 1;      // invalid config, refused change, `diff`: differences, fleet behind
inline constexpr int exit_error = 2;        // usage error, control plane unreachable or answering unexpectedly
inline constexpr int exit_guard_refuses = 3;  // `diff`: differences the blast-radius guard would refuse

struct GlobalOptions {
    // Tried in order; the first that accepts a connection serves the command (`status` asks all).
    std::vector<std::string> control_planes{"http://127.0.0.1:8081"};
    bool json = false;
    std::chrono::milliseconds timeout = std::chrono::seconds(30);
};

struct Invocation {
    Command command = Command::status;
    GlobalOptions global;
    std::string file;                           // validate, diff, apply
    std::optional<std::string> max_moved_keys;  // diff, apply, rollback; checked when parsed
    std::string reason;                         // apply, rollback
    bool force = false;                         // apply, rollback
    std::optional<std::uint64_t> expected_revision;  // apply
    // apply --staged: canaries first (docs/operations.md); the control plane's defaults when unset.
    bool staged = false;
    std::optional<std::string> canary;        // "10%" or a node-id pattern
    std::optional<std::string> soak;          // a duration
    std::optional<std::string> error_margin;  // 0..1
    bool wait = true;                         // follow the rollout until it is promoted or halted
    std::string applied_by;                     // apply, rollback; `$USER@hostname` unless given
    std::optional<unsigned> limit;              // history
    std::uint64_t revision = 0;                 // rollback
    // drain, undrain, pin, unpin, pause, move:
    std::string subject;    // the placement (drain, undrain) or the routing key
    std::string placement;  // pin, move
    std::string to;         // drain --to
    std::optional<std::chrono::milliseconds> ramp;   // drain (5m), undrain (1m)
    std::optional<std::chrono::milliseconds> ttl;    // pin: required
    std::chrono::milliseconds retry_after = std::chrono::seconds(30);  // pause
    std::chrono::milliseconds max_pause = std::chrono::minutes(5);     // pause --max
};

struct HelpRequested {
    std::string text;
};
struct UsageError {
    std::string message;
};
using ParsedInvocation = std::variant<Invocation, HelpRequested, UsageError>;

// `environment` supplies CELLCTL_CONTROL_PLANE; `default_applied_by` is used when --applied-by
// is not given.
ParsedInvocation parse_invocation(const std::vector<std::string>& args, const util::Environment& environment,
                                  const std::string& default_applied_by);

// "user@host" from $USER (or "unknown") and the host name.
std::string applied_by_of(const util::Environment& environment, const std::string& hostname);

std::string usage();
std::string command_usage(Command command);
// The word on the command line: "apply", "drain", ...
const char* command_name(Command command);

}  // namespace cell::cellctl
