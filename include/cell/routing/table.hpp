#pragma once
// The immutable routing table: routing key -> placement -> endpoint, built once from a valid
// Config and never modified afterwards, so any number of threads may read it without locks.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cell/config/proxy_settings.hpp"
#include "cell/config/types.hpp"
#include "cell/resilience/placement_state.hpp"
#include "cell/routing/key_index.hpp"
#include "cell/routing/operations.hpp"
#include "cell/routing/version_counters.hpp"

namespace cell::routing {

enum class RouteReason { dedicated, tier, default_placement, override_pin, paused };

// The X-Route-Reason value: "dedicated", "tier", "default", "override" (a pin) or "paused".
std::string_view to_string(RouteReason reason);

// A placement's resilience policy with defaults resolved; unset means "not limited".
struct PlacementPolicy {
    std::optional<config::HealthCheck> health_check;
    std::optional<resilience::BreakerSettings> circuit_breaker;
    std::optional<std::uint32_t> concurrency_limit;
    std::optional<std::uint64_t> max_request_body_bytes;
    std::optional<resilience::RateLimitSettings> rate_limit;
    config::Duration connect_timeout{};
    config::Duration response_timeout{};
};

inline constexpr std::uint32_t no_fallback = UINT32_MAX;

struct PlacementTarget {
    std::string name;
    config::Endpoint endpoint;
    config::PlacementKind kind = config::PlacementKind::shared_tier;
    // Identifies the upstream in the per-worker connection pools: "http://host:port".
    std::string pool_key;
    std::uint32_t fallback = no_fallback;  // index into Table::placements()
    PlacementPolicy policy;
    resilience::PlacementStatePtr state;  // never null
};

struct RouteDecision {
    const PlacementTarget* placement = nullptr;  // null only if the table is inconsistent
    RouteReason reason = RouteReason::default_placement;
    // Set by the operations in force (route(key, now) only):
    const PinRule* pin = nullptr;                 // the pin that chose `placement`
    const PlacementTarget* drained_to = nullptr;  // a drain of `placement` moves this request here
    const DrainRule* drain = nullptr;             // ... that drain
    const PauseRule* pause = nullptr;             // the key is paused: no cell serves it
};

// Where the table came from; shown by /debug/config.
struct TableOrigin {
    std::string source;        // "file", later "control_plane" or "cache"
    std::string path;          // file path, when source is a file
    std::string content_hash;  // hex SHA-256 of the bytes the table was parsed from
    std::chrono::system_clock::time_point loaded_at;
};

class Table {
public:
    // `settings` are the resolved limits (file layered under flags) that requests served by this
    // table use, so a reload can change them atomically with the routes.
    // `states` hands each placement's live state (health, breaker, limits) over from the
    // previous table; without one (tests, the control plane's validation) every placement
    // starts fresh.
    static std::shared_ptr<const Table> build(const config::Config& config,
                                              config::ProxySettings settings, TableOrigin origin,
                                              resilience::PlacementStateRegistry* states = nullptr);

    // Known key: its placement, reason dedicated or tier. Anything else: the default placement.
    RouteDecision route(std::string_view routing_key) const;
    // The same with the operations in force at `now`: a pause, then a pin, then a drain of the
    // placement chosen. Without operations, route(key).
    RouteDecision route(std::string_view routing_key, config::WallTime now) const;
    bool has_operations() const { return !operations_.empty(); }
    // The drain of `placement` (one of placements()), its target resolved; nullptr when none.
    const DrainRule* drain_of(const PlacementTarget& placement) const {
        const auto index = static_cast<std::size_t>(&placement - placements_.data());
        return index < drains_.size() && drains_[index] ? &*drains_[index] : nullptr;
    }
    // As written in the config, for /debug/config.
    const config::Operations& operations() const { return operations_; }

    const PlacementTarget* find_placement(std::string_view name) const;
    // The placement the table maps `routing_key` to; nullptr when the key is not in the table
    // (route() then answers the default placement).
    const PlacementTarget* find_key(std::string_view routing_key) const {
        const auto index = keys_.find(routing_key);
        return index ? &placements_[*index] : nullptr;
    }
    const PlacementTarget* fallback_of(const PlacementTarget& placement) const {
        return placement.fallback == no_fallback ? nullptr : &placements_[placement.fallback];
    }
    const PlacementTarget& default_placement() const { return placements_[default_index_]; }
    const std::vector<PlacementTarget>& placements() const { return placements_; }
    std::size_t routing_key_count() const { return keys_.size(); }
    // Calls `visit(key, placement)` for every routing key, in the config's order.
    template <typename Visitor>
    void for_each_key(Visitor&& visit) const {
        keys_.for_each([&](std::string_view key, std::uint32_t index) { visit(key, placements_[index]); });
    }

    const std::string& version() const { return version_; }
    const TableOrigin& origin() const { return origin_; }
    // The requests served under this table (the table is immutable; its counters are not). Shared,
    // so the control-plane client can keep reporting a replaced table's final counts.
    VersionCounters& counters() const { return *counters_; }
    const std::shared_ptr<VersionCounters>& shared_counters() const { return counters_; }
    const config::ProxySettings& settings() const { return settings_; }

private:
    Table() = default;

    std::string version_;
    KeyIndex keys_;  // routing key -> index into placements_
    std::vector<PlacementTarget> placements_;
    std::uint32_t default_index_ = 0;
    config::ProxySettings settings_;
    TableOrigin origin_;
    std::shared_ptr<VersionCounters> counters_ = std::make_shared<VersionCounters>();

    // Heterogeneous lookup: a request's key is a string_view into its header.
    struct KeyHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
    };
    config::Operations operations_;
    std::vector<std::optional<DrainRule>> drains_;  // by placement index; empty without drains
    std::unordered_map<std::string, PinRule, KeyHash, std::equal_to<>> pins_;
    std::unordered_map<std::string, PauseRule, KeyHash, std::equal_to<>> pauses_;
};

using TableConstPtr = std::shared_ptr<const Table>;

}  // namespace cell::routing
