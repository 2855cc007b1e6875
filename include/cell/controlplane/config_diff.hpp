#pragma once
// What a config change does to the routing: keys added, removed and moved between placements,
// placements added and removed, endpoint and policy changes; and the blast-radius guard that
// decides whether such a change may be applied without --force. Pure functions, no I/O: the
// control plane's PUT /config and `cellctl diff` share them. Formats: docs/cellctl.md.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "cell/config/types.hpp"

namespace cell::controlplane {

// Keys counted per (old placement, new placement). `from` is unset for added keys, `to` for
// removed ones.
struct PlacementMove {
    std::optional<std::string> from;
    std::optional<std::string> to;
    std::uint64_t keys = 0;
};

struct KeyMove {
    std::string key;
    std::string from;
    std::optional<std::string> to;  // unset: the key was removed from the table
};

struct EndpointChange {
    std::string placement;
    std::string from;
    std::string to;
};

struct PolicyChange {
    std::string placement;
    std::vector<std::string> fields;  // the placement object's member names, e.g. "rate_limit"
};

struct ValueChange {
    std::string from;
    std::string to;
};

inline constexpr std::size_t max_moved_key_samples = 20;

struct ConfigDiff {
    std::uint64_t keys_total_before = 0;
    std::uint64_t keys_total_after = 0;
    std::uint64_t keys_added = 0;
    std::uint64_t keys_removed = 0;
    std::uint64_t keys_moved = 0;  // in both tables, mapped to a different placement name
    std::vector<PlacementMove> moves;  // most keys first
    std::vector<KeyMove> moved_key_samples;  // moved keys only, in the new table's order
    std::vector<KeyMove> dedicated_moved;  // moved or removed keys whose old placement is dedicated
    std::vector<std::string> placements_added;
    std::vector<std::string> placements_removed;
    std::vector<EndpointChange> endpoint_changes;
    std::vector<PolicyChange> policy_changes;
    std::optional<ValueChange> default_changed;
    // Fields of the file's `proxy` section (limits and timeouts) whose value changes.
    std::vector<std::string> proxy_changes;
    // Operations added, changed or removed, one line each: "drain tier1 -> tier3 added",
    // "pin acme removed" (docs/operations.md).
    std::vector<std::string> operation_changes;
    ValueChange version;

    // True when no router would behave differently (the version string aside): no routing
    // change, no `proxy` change and no operation change.
    bool routing_unchanged() const;
};

// Keys are compared by name; keys outside both tables fall through to the default placement and
// are not counted (a default change is reported in default_changed).
ConfigDiff diff_configs(const config::Config& from, const config::Config& to);

nlohmann::json to_json(const ConfigDiff& diff);
// The inverse of to_json, for clients reading a control plane's answer; nullopt when `diff` is
// not in that format.
std::optional<ConfigDiff> config_diff_from_json(const nlohmann::json& diff);

// The human summary `cellctl diff` prints, one change per line.
std::string describe(const ConfigDiff& diff);

// ---- The blast-radius guard ----

// "10%" (of the keys before the change) or "5000" (keys).
struct MovedKeysLimit {
    bool percent = true;
    double value = 10;
    std::string text = "10%";  // as written, for messages and the guard's JSON

    // The largest number of keys allowed to move or disappear out of `keys_before`.
    double allowed_keys(std::uint64_t keys_before) const;
};

// A limit, or why the text is not one.
std::variant<MovedKeysLimit, std::string> parse_moved_keys_limit(std::string_view text);

struct GuardLimits {
    MovedKeysLimit max_moved_keys;
    // More placements than this changing endpoints in one change is refused.
    std::size_t max_endpoint_changes = 1;
};

struct GuardViolation {
    std::string rule;  // "moved_keys", "dedicated_moved" or "endpoints_changed"
    std::string detail;
};

struct GuardVerdict {
    bool allowed = true;
    std::string max_moved_keys;
    std::vector<GuardViolation> violations;
};

GuardVerdict check_blast_radius(const ConfigDiff& diff, const GuardLimits& limits);

nlohmann::json to_json(const GuardVerdict& verdict);
std::optional<GuardVerdict> guard_verdict_from_json(const nlohmann::json& verdict);

}  // namespace cell::controlplane
