#include "cell/controlplane/config_diff.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_map>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "routing_row_changes.hpp"

namespace cell::controlplane {
namespace {

using json = nlohmann::json;

// Placement names as small integers, so that counting a million moves per (from, to) pair hashes
// two integers instead of two strings. Names of both configs share one numbering.
class PlacementNames {
public:
    std::uint32_t id(std::string_view name) {
        const auto [it, inserted] = ids_.try_emplace(name, static_cast<std::uint32_t>(names_.size()));
        if (inserted) {
            names_.push_back(name);
        }
        return it->second;
    }
    std::string_view name(std::uint32_t id) const { return names_[id]; }

private:
    std::unordered_map<std::string_view, std::uint32_t> ids_;
    std::vector<std::string_view> names_;
};

constexpr std::uint32_t no_placement = 0xffffffffu;

class MoveCounter {
public:
    void add(std::uint32_t from, std::uint32_t to) { ++counts_[(std::uint64_t{from} << 32) | to]; }

    std::vector<PlacementMove> sorted(const PlacementNames& names) const {
        std::vector<PlacementMove> moves;
        moves.reserve(counts_.size());
        for (const auto& [pair, keys] : counts_) {
            const auto from = static_cast<std::uint32_t>(pair >> 32);
            const auto to = static_cast<std::uint32_t>(pair & 0xffffffffu);
            PlacementMove move;
            if (from != no_placement) {
                move.from = std::string(names.name(from));
            }
            if (to != no_placement) {
                move.to = std::string(names.name(to));
            }
            move.keys = keys;
            moves.push_back(std::move(move));
        }
        // Most keys first; ties by name so that the output is the same on every run.
        std::sort(moves.begin(), moves.end(), [](const PlacementMove& a, const PlacementMove& b) {
            if (a.keys != b.keys) {
                return a.keys > b.keys;
            }
            return std::tie(a.from, a.to) < std::tie(b.from, b.to);
        });
        return moves;
    }

private:
    std::unordered_map<std::uint64_t, std::uint64_t> counts_;
};

bool same_health_check(const std::optional<config::HealthCheck>& a, const std::optional<config::HealthCheck>& b) {
    if (a.has_value() != b.has_value()) {
        return false;
    }
    return !a || (a->path == b->path && a->interval == b->interval && a->timeout == b->timeout &&
                  a->healthy_threshold == b->healthy_threshold && a->unhealthy_threshold == b->unhealthy_threshold);
}

bool same_breaker(const std::optional<config::CircuitBreaker>& a, const std::optional<config::CircuitBreaker>& b) {
    if (a.has_value() != b.has_value()) {
        return false;
    }
    return !a || (a->failure_threshold == b->failure_threshold && a->timeout == b->timeout);
}

bool same_rate_limit(const std::optional<config::RateLimit>& a, const std::optional<config::RateLimit>& b) {
    if (a.has_value() != b.has_value()) {
        return false;
    }
    return !a || (a->requests_per_second == b->requests_per_second && a->burst == b->burst);
}

// The members of the placement object whose effective value differs, named as in the file.
std::vector<std::string> changed_policy_fields(const config::Placement& a, const config::Placement& b) {
    std::vector<std::string> fields;
    const auto note = [&](bool same, const char* field) {
        if (!same) {
            fields.emplace_back(field);
        }
    };
    note(a.kind == b.kind, "type");
    note(a.fallback == b.fallback, "fallback");
    note(same_health_check(a.health_check, b.health_check), "health_check");
    note(same_breaker(a.circuit_breaker, b.circuit_breaker), "circuit_breaker");
    note(a.concurrency_limit == b.concurrency_limit, "concurrency_limit");
    note(a.max_request_body_bytes == b.max_request_body_bytes, "max_request_body_bytes");
    note(same_rate_limit(a.rate_limit, b.rate_limit), "rate_limit");
    note(a.connect_timeout == b.connect_timeout, "connect_timeout");
    note(a.response_timeout == b.response_timeout, "response_timeout");
    return fields;
}

void diff_placements(const config::Config& from, const config::Config& to, ConfigDiff& diff) {
    std::unordered_map<std::string_view, const config::Placement*> before;
    before.reserve(from.placements.size());
    for (const auto& placement : from.placements) {
        before.emplace(placement.name, &placement);
    }
    std::unordered_map<std::string_view, const config::Placement*> after;
    after.reserve(to.placements.size());
    for (const auto& placement : to.placements) {
        after.emplace(placement.name, &placement);
        const auto old = before.find(placement.name);
        if (old == before.end()) {
            diff.placements_added.push_back(placement.name);
            continue;
        }
        if (old->second->endpoint.url != placement.endpoint.url) {
            diff.endpoint_changes.push_back({placement.name, old->second->endpoint.url, placement.endpoint.url});
        }
        if (auto fields = changed_policy_fields(*old->second, placement); !fields.empty()) {
            diff.policy_changes.push_back({placement.name, std::move(fields)});
        }
    }
    for (const auto& placement : from.placements) {
        if (!after.contains(placement.name)) {
            diff.placements_removed.push_back(placement.name);
        }
    }
}

// Compares the routing tables, counting what moved per (from, to) placement.
class TableDiff {
public:
    TableDiff(const config::Config& from, const config::Config& to, ConfigDiff& diff)
        : from_(from.routing_table), to_(to.routing_table), diff_(diff) {
        for (const auto& placement : from.placements) {
            if (placement.kind == config::PlacementKind::dedicated) {
                dedicated_.push_back(names_.id(placement.name));
            }
        }
        std::sort(dedicated_.begin(), dedicated_.end());
    }

    void run() {
        diff_.keys_total_before = from_.size();
        diff_.keys_total_after = to_.size();
        detail::for_each_row_change(from_, to_, *this);
        diff_.moves = counter_.sorted(names_);
    }

    // The calls of for_each_row_change.
    bool moved(std::size_t from_index, std::size_t to_index) {
        const auto& [key, from] = from_[from_index];
        const auto& to = to_[to_index].second;
        ++diff_.keys_moved;
        const std::uint32_t from_id = names_.id(from);
        counter_.add(from_id, names_.id(to));
        if (diff_.moved_key_samples.size() < max_moved_key_samples) {
            diff_.moved_key_samples.push_back({key, from, to});
        }
        if (is_dedicated(from_id)) {
            diff_.dedicated_moved.push_back({key, from, to});
        }
        return true;
    }

    bool added(std::size_t to_index) {
        ++diff_.keys_added;
        counter_.add(no_placement, names_.id(to_[to_index].second));
        return true;
    }

    bool removed(std::size_t from_index) {
        const auto& [key, from] = from_[from_index];
        ++diff_.keys_removed;
        const std::uint32_t from_id = names_.id(from);
        counter_.add(from_id, no_placement);
        if (is_dedicated(from_id)) {
            diff_.dedicated_moved.push_back({key, from, std::nullopt});
        }
        return true;
    }

private:
    bool is_dedicated(std::uint32_t id) const { return std::binary_search(dedicated_.begin(), dedicated_.end(), id); }

    const detail::RoutingRows& from_;
    const detail::RoutingRows& to_;
    ConfigDiff& diff_;
    PlacementNames names_;
    MoveCounter counter_;
    std::vector<std::uint32_t> dedicated_;
};

json optional_name(const std::optional<std::string>& name) { return name ? json(*name) : json(nullptr); }

json key_moves_json(const std::vector<KeyMove>& moves) {
    json list = json::array();
    for (const auto& move : moves) {
        list.push_back({{"key", move.key}, {"from", move.from}, {"to", optional_name(move.to)}});
    }
    return list;
}

std::string placement_label(const std::optional<std::string>& name, const char* absent) {
    return name ? *name : absent;
}

std::string count_of(std::uint64_t n, const char* one, const char* many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::string join(const std::vector<std::string>& items) {
    std::string text;
    for (const auto& item : items) {
        if (!text.empty()) {
            text += ", ";
        }
        text += item;
    }
    return text;
}

// A percentage as written in limits and messages: "10", "0.5", "33.3".
std::string format_percent(double value) {
    std::string text = fmt::format("{:.2f}", value);
    while (text.back() == '0') {
        text.pop_back();
    }
    if (text.back() == '.') {
        text.pop_back();
    }
    return text;
}

constexpr std::size_t dedicated_listed_in_detail = 5;

// The `proxy` fields whose value differs, named as in the file.
std::vector<std::string> proxy_changes(const config::ProxySettingsOverrides& from,
                                       const config::ProxySettingsOverrides& to) {
    std::vector<std::string> fields;
    const auto compare = [&](const char* name, const auto& a, const auto& b) {
        if (a != b) {
            fields.emplace_back(name);
        }
    };
    compare("max_header_bytes", from.max_header_bytes, to.max_header_bytes);
    compare("header_timeout", from.header_timeout, to.header_timeout);
    compare("idle_timeout", from.idle_timeout, to.idle_timeout);
    compare("connect_timeout", from.connect_timeout, to.connect_timeout);
    compare("request_timeout", from.request_timeout, to.request_timeout);
    compare("drain_timeout", from.drain_timeout, to.drain_timeout);
    compare("max_connections", from.max_connections, to.max_connections);
    return fields;
}

// One line per operation that appears, disappears or changes between the two configs.
std::vector<std::string> operation_changes(const config::Operations& from, const config::Operations& to) {
    std::vector<std::string> changes;
    const auto compare = [&changes](const auto& before, const auto& after, const char* kind, auto name_of,
                                    auto describe_rule, auto same) {
        for (const auto& rule : after) {
            const auto old = std::find_if(before.begin(), before.end(), [&](const auto& b) { return name_of(b) == name_of(rule); });
            if (old == before.end()) {
                changes.push_back(fmt::format("{} {} added", kind, describe_rule(rule)));
            } else if (!same(*old, rule)) {
                changes.push_back(fmt::format("{} {} changed", kind, describe_rule(rule)));
            }
        }
        for (const auto& rule : before) {
            if (std::none_of(after.begin(), after.end(), [&](const auto& a) { return name_of(a) == name_of(rule); })) {
                changes.push_back(fmt::format("{} {} removed", kind, name_of(rule)));
            }
        }
    };
    compare(
        from.drains, to.drains, "drain", [](const config::Drain& d) { return d.placement; },
        [](const config::Drain& d) {
            return fmt::format("{} -> {} ({:.0f} % -> {:.0f} %)", d.placement, d.to.empty() ? "its fallback" : d.to,
                               d.from_share * 100, d.to_share * 100);
        },
        [](const config::Drain& a, const config::Drain& b) {
            return a.to == b.to && a.start == b.start && a.ramp == b.ramp && a.from_share == b.from_share &&
                   a.to_share == b.to_share && a.reason == b.reason;
        });
    compare(
        from.pins, to.pins, "pin", [](const config::Pin& p) { return p.key; },
        [](const config::Pin& p) { return fmt::format("{} -> {}", p.key, p.placement); },
        [](const config::Pin& a, const config::Pin& b) {
            return a.placement == b.placement && a.expires == b.expires && a.reason == b.reason;
        });
    compare(
        from.pauses, to.pauses, "pause", [](const config::Pause& p) { return p.key; },
        [](const config::Pause& p) { return p.key; },
        [](const config::Pause& a, const config::Pause& b) {
            return a.until == b.until && a.retry_after == b.retry_after && a.reason == b.reason;
        });
    return changes;
}

}  // namespace

bool ConfigDiff::routing_unchanged() const {
    return keys_added == 0 && keys_removed == 0 && keys_moved == 0 && placements_added.empty() &&
           placements_removed.empty() && endpoint_changes.empty() && policy_changes.empty() && !default_changed &&
           proxy_changes.empty() && operation_changes.empty();
}

ConfigDiff diff_configs(const config::Config& from, const config::Config& to) {
    ConfigDiff diff;
    diff.version = {from.version, to.version};
    if (from.default_placement != to.default_placement) {
        diff.default_changed = ValueChange{from.default_placement, to.default_placement};
    }
    diff.proxy_changes = proxy_changes(from.proxy, to.proxy);
    diff.operation_changes = operation_changes(from.operations, to.operations);
    diff_placements(from, to, diff);
    TableDiff(from, to, diff).run();
    return diff;
}

json to_json(const ConfigDiff& diff) {
    json moves = json::array();
    for (const auto& move : diff.moves) {
        moves.push_back({{"from", optional_name(move.from)}, {"to", optional_name(move.to)}, {"keys", move.keys}});
    }
    json endpoints = json::array();
    for (const auto& change : diff.endpoint_changes) {
        endpoints.push_back({{"placement", change.placement}, {"from", change.from}, {"to", change.to}});
    }
    json policies = json::array();
    for (const auto& change : diff.policy_changes) {
        policies.push_back({{"placement", change.placement}, {"fields", change.fields}});
    }
    return json{{"keys_total_before", diff.keys_total_before},
                {"keys_total_after", diff.keys_total_after},
                {"keys_added", diff.keys_added},
                {"keys_removed", diff.keys_removed},
                {"keys_moved", diff.keys_moved},
                {"moves", std::move(moves)},
                {"moved_key_samples", key_moves_json(diff.moved_key_samples)},
                {"dedicated_moved", key_moves_json(diff.dedicated_moved)},
                {"placements_added", diff.placements_added},
                {"placements_removed", diff.placements_removed},
                {"endpoint_changes", std::move(endpoints)},
                {"policy_changes", std::move(policies)},
                {"default_changed", diff.default_changed ? json{{"from", diff.default_changed->from},
                                                                {"to", diff.default_changed->to}}
                                                         : json(nullptr)},
                {"proxy_changes", diff.proxy_changes},
                {"operation_changes", diff.operation_changes},
                {"version", {{"from", diff.version.from}, {"to", diff.version.to}}}};
}

std::string describe(const ConfigDiff& diff) {
    std::string text;
    if (diff.version.from != diff.version.to) {
        text += fmt::format("version: {} -> {}\n", diff.version.from, diff.version.to);
    } else {
        text += fmt::format("version: {} (unchanged)\n", diff.version.from);
    }
    if (diff.routing_unchanged()) {
        text += fmt::format("no routing changes ({})\n", count_of(diff.keys_total_after, "routing key", "routing keys"));
        return text;
    }
    text += fmt::format("routing keys: {} -> {} ({} added, {} removed, {} moved)\n", diff.keys_total_before,
                        diff.keys_total_after, diff.keys_added, diff.keys_removed, diff.keys_moved);
    if (!diff.moves.empty()) {
        text += "moves:\n";
        for (const auto& move : diff.moves) {
            text += fmt::format("  {:>10}  {} -> {}\n", count_of(move.keys, "key", "keys"),
                                placement_label(move.from, "(new)"), placement_label(move.to, "(removed)"));
        }
    }
    if (!diff.moved_key_samples.empty()) {
        text += diff.keys_moved > diff.moved_key_samples.size()
                    ? fmt::format("moved keys (first {} of {}):\n", diff.moved_key_samples.size(), diff.keys_moved)
                    : std::string("moved keys:\n");
        for (const auto& move : diff.moved_key_samples) {
            text += fmt::format("  {}: {} -> {}\n", move.key, move.from, placement_label(move.to, "(removed)"));
        }
    }
    if (!diff.dedicated_moved.empty()) {
        text += "dedicated tenants moved or removed:\n";
        for (const auto& move : diff.dedicated_moved) {
            text += fmt::format("  {}: {} -> {}\n", move.key, move.from, placement_label(move.to, "(removed)"));
        }
    }
    if (!diff.placements_added.empty()) {
        text += fmt::format("placements added: {}\n", join(diff.placements_added));
    }
    if (!diff.placements_removed.empty()) {
        text += fmt::format("placements removed: {}\n", join(diff.placements_removed));
    }
    if (!diff.endpoint_changes.empty()) {
        text += "endpoint changes:\n";
        for (const auto& change : diff.endpoint_changes) {
            text += fmt::format("  {}: {} -> {}\n", change.placement, change.from, change.to);
        }
    }
    if (!diff.policy_changes.empty()) {
        text += "policy changes:\n";
        for (const auto& change : diff.policy_changes) {
            text += fmt::format("  {}: {}\n", change.placement, join(change.fields));
        }
    }
    if (diff.default_changed) {
        text += fmt::format("default placement: {} -> {}\n", diff.default_changed->from, diff.default_changed->to);
    }
    if (!diff.proxy_changes.empty()) {
        text += fmt::format("proxy settings: {}\n", join(diff.proxy_changes));
    }
    for (const auto& change : diff.operation_changes) {
        text += fmt::format("operation: {}\n", change);
    }
    return text;
}

std::optional<ConfigDiff> config_diff_from_json(const json& j) {
    const auto name = [](const json& value) {
        return value.is_null() ? std::nullopt : std::optional<std::string>(value.get<std::string>());
    };
    const auto key_moves = [&](const json& list) {
        std::vector<KeyMove> moves;
        for (const auto& move : list) {
            moves.push_back({move.at("key").get<std::string>(), move.at("from").get<std::string>(), name(move.at("to"))});
        }
        return moves;
    };
    try {
        ConfigDiff diff;
        diff.keys_total_before = j.at("keys_total_before").get<std::uint64_t>();
        diff.keys_total_after = j.at("keys_total_after").get<std::uint64_t>();
        diff.keys_added = j.at("keys_added").get<std::uint64_t>();
        diff.keys_removed = j.at("keys_removed").get<std::uint64_t>();
        diff.keys_moved = j.at("keys_moved").get<std::uint64_t>();
        for (const auto& move : j.at("moves")) {
            diff.moves.push_back({name(move.at("from")), name(move.at("to")), move.at("keys").get<std::uint64_t>()});
        }
        diff.moved_key_samples = key_moves(j.at("moved_key_samples"));
        diff.dedicated_moved = key_moves(j.at("dedicated_moved"));
        diff.placements_added = j.at("placements_added").get<std::vector<std::string>>();
        diff.placements_removed = j.at("placements_removed").get<std::vector<std::string>>();
        for (const auto& change : j.at("endpoint_changes")) {
            diff.endpoint_changes.push_back({change.at("placement").get<std::string>(),
                                             change.at("from").get<std::string>(), change.at("to").get<std::string>()});
        }
        for (const auto& change : j.at("policy_changes")) {
            diff.policy_changes.push_back(
                {change.at("placement").get<std::string>(), change.at("fields").get<std::vector<std::string>>()});
        }
        if (const auto& change = j.at("default_changed"); !change.is_null()) {
            diff.default_changed = ValueChange{change.at("from").get<std::string>(), change.at("to").get<std::string>()};
        }
        if (const auto proxy = j.find("proxy_changes"); proxy != j.end()) {  // absent from older servers
            diff.proxy_changes = proxy->get<std::vector<std::string>>();
        }
        if (const auto operations = j.find("operation_changes"); operations != j.end()) {
            diff.operation_changes = operations->get<std::vector<std::string>>();
        }
        diff.version = {j.at("version").at("from").get<std::string>(), j.at("version").at("to").get<std::string>()};
        return diff;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

double MovedKeysLimit::allowed_keys(std::uint64_t keys_before) const {
    return percent ? value / 100.0 * static_cast<double>(keys_before) : value;
}

std::variant<MovedKeysLimit, std::string> parse_moved_keys_limit(std::string_view text) {
    const auto invalid = [&](std::string_view why) {
        return fmt::format("invalid moved-keys limit \"{}\": {} (write a percentage such as \"10%\" or a "
                           "number of keys such as \"5000\")",
                           text, why);
    };
    if (text.empty()) {
        return invalid("empty");
    }
    MovedKeysLimit limit;
    limit.text = std::string(text);
    limit.percent = text.back() == '%';
    const std::string_view number = limit.percent ? text.substr(0, text.size() - 1) : text;
    if (number.empty() || !std::all_of(number.begin(), number.end(), [](char c) {
            return (c >= '0' && c <= '9') || c == '.';
        })) {
        return invalid("not a non-negative number");
    }
    if (limit.percent) {
        double value = 0;
        const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
        if (error != std::errc() || end != number.data() + number.size() || !std::isfinite(value)) {
            return invalid("not a number");
        }
        if (value > 100) {
            return invalid("a percentage must be at most 100%");
        }
        limit.value = value;
        return limit;
    }
    std::uint64_t keys = 0;
    const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), keys);
    if (error == std::errc::result_out_of_range) {
        return invalid("too large");
    }
    if (error != std::errc() || end != number.data() + number.size()) {
        return invalid("a number of keys must be a whole number");
    }
    limit.value = static_cast<double>(keys);
    return limit;
}

GuardVerdict check_blast_radius(const ConfigDiff& diff, const GuardLimits& limits) {
    GuardVerdict verdict;
    verdict.max_moved_keys = limits.max_moved_keys.text;
    const std::uint64_t displaced = diff.keys_moved + diff.keys_removed;
    const double allowed = limits.max_moved_keys.allowed_keys(diff.keys_total_before);
    if (static_cast<double>(displaced) > allowed) {
        const double share = diff.keys_total_before == 0
                                 ? 100.0
                                 : 100.0 * static_cast<double>(displaced) / static_cast<double>(diff.keys_total_before);
        verdict.violations.push_back(
            {"moved_keys",
             fmt::format("{} would move or be removed ({} moved, {} removed: {}% of {}), over the limit of {}{}",
                         count_of(displaced, "key", "keys"), diff.keys_moved, diff.keys_removed,
                         format_percent(share), count_of(diff.keys_total_before, "key", "keys"),
                         limits.max_moved_keys.text,
                         limits.max_moved_keys.percent
                             ? fmt::format(" ({} keys)", static_cast<std::uint64_t>(std::floor(allowed)))
                             : std::string())});
    }
    if (!diff.dedicated_moved.empty()) {
        std::vector<std::string> listed;
        for (std::size_t i = 0; i < diff.dedicated_moved.size() && i < dedicated_listed_in_detail; ++i) {
            const auto& move = diff.dedicated_moved[i];
            listed.push_back(fmt::format("{} ({} -> {})", move.key, move.from, placement_label(move.to, "removed")));
        }
        std::string more;
        if (diff.dedicated_moved.size() > listed.size()) {
            more = fmt::format(" and {} more", diff.dedicated_moved.size() - listed.size());
        }
        verdict.violations.push_back(
            {"dedicated_moved",
             fmt::format("{} of dedicated placements would move or be removed: {}{}",
                         count_of(diff.dedicated_moved.size(), "key", "keys"), join(listed), more)});
    }
    if (diff.endpoint_changes.size() > limits.max_endpoint_changes) {
        std::vector<std::string> placements;
        for (const auto& change : diff.endpoint_changes) {
            placements.push_back(change.placement);
        }
        verdict.violations.push_back(
            {"endpoints_changed",
             fmt::format("endpoints would change on {} placements ({}); at most {} per change", placements.size(),
                         join(placements), limits.max_endpoint_changes)});
    }
    verdict.allowed = verdict.violations.empty();
    return verdict;
}

json to_json(const GuardVerdict& verdict) {
    json violations = json::array();
    for (const auto& violation : verdict.violations) {
        violations.push_back({{"rule", violation.rule}, {"detail", violation.detail}});
    }
    return json{{"allowed", verdict.allowed},
                {"max_moved_keys", verdict.max_moved_keys},
                {"violations", std::move(violations)}};
}

std::optional<GuardVerdict> guard_verdict_from_json(const json& j) {
    try {
        GuardVerdict verdict;
        verdict.allowed = j.at("allowed").get<bool>();
        verdict.max_moved_keys = j.at("max_moved_keys").get<std::string>();
        for (const auto& violation : j.at("violations")) {
            verdict.violations.push_back({violation.at("rule").get<std::string>(), violation.at("detail").get<std::string>()});
        }
        return verdict;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

}  // namespace cell::controlplane
