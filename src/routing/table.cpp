#include "cell/routing/table.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <unordered_map>

namespace cell::routing {

std::string_view to_string(RouteReason reason) {
    switch (reason) {
    case RouteReason::dedicated: return "dedicated";
    case RouteReason::tier: return "tier";
    case RouteReason::default_placement: return "default";
    case RouteReason::override_pin: return "override";
    case RouteReason::paused: return "paused";
    }
    return "default";
}

namespace {

PlacementPolicy resolve_policy(const config::Placement& placement, const config::ProxySettings& settings) {
    // Validation guarantees every number is positive and in range, so the casts are exact.
    PlacementPolicy policy;
    policy.health_check = placement.health_check;
    if (placement.circuit_breaker) {
        policy.circuit_breaker = resilience::BreakerSettings{
            static_cast<std::uint32_t>(std::min<std::int64_t>(placement.circuit_breaker->failure_threshold, UINT32_MAX)),
            placement.circuit_breaker->timeout};
    }
    if (placement.concurrency_limit) {
        policy.concurrency_limit =
            static_cast<std::uint32_t>(std::min<std::int64_t>(*placement.concurrency_limit, UINT32_MAX));
    }
    if (placement.max_request_body_bytes) {
        policy.max_request_body_bytes = static_cast<std::uint64_t>(*placement.max_request_body_bytes);
    }
    if (placement.rate_limit) {
        const double rate = placement.rate_limit->requests_per_second;
        // Without an explicit burst, one second's worth of requests may arrive at once.
        const std::int64_t burst = placement.rate_limit->burst.value_or(
            std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(rate))));
        policy.rate_limit = resilience::RateLimitSettings{
            rate, static_cast<std::uint32_t>(std::min<std::int64_t>(burst, UINT32_MAX))};
    }
    policy.connect_timeout = placement.connect_timeout.value_or(settings.connect_timeout);
    policy.response_timeout = placement.response_timeout.value_or(settings.request_timeout);
    return policy;
}

}  // namespace

std::shared_ptr<const Table> Table::build(const config::Config& config,
                                          config::ProxySettings settings, TableOrigin origin,
                                          resilience::PlacementStateRegistry* states) {
    std::shared_ptr<Table> table(new Table());
    table->version_ = config.version;
    table->settings_ = settings;
    table->origin_ = std::move(origin);

    std::unordered_map<std::string_view, std::uint32_t> index_of;
    table->placements_.reserve(config.placements.size());
    for (const auto& placement : config.placements) {
        index_of.emplace(placement.name, static_cast<std::uint32_t>(table->placements_.size()));
        PlacementTarget target;
        target.name = placement.name;
        target.endpoint = placement.endpoint;
        target.kind = placement.kind;
        target.pool_key = placement.endpoint.scheme + "://" + placement.endpoint.host + ":" +
                          std::to_string(placement.endpoint.port);
        target.policy = resolve_policy(placement, settings);
        target.state = states != nullptr ? states->state_for(placement.name, placement.endpoint.url,
                                                             placement.health_check.has_value())
                                         : std::make_shared<resilience::PlacementState>(placement.endpoint.url);
        table->placements_.push_back(std::move(target));
    }
    for (std::size_t i = 0; i < config.placements.size(); ++i) {
        const std::string& fallback = config.placements[i].fallback;
        if (fallback.empty()) {
            continue;
        }
        const auto it = index_of.find(fallback);
        if (it == index_of.end()) {
            throw std::invalid_argument("routing table built from an unvalidated config: unknown fallback");
        }
        table->placements_[i].fallback = it->second;
    }
    if (states != nullptr) {
        std::vector<std::string_view> names;
        for (const auto& placement : table->placements_) {
            names.push_back(placement.name);
        }
        states->retain_only(names);
    }
    // Validation guarantees both lookups succeed; a failure here is a bug in the caller.
    const auto default_it = index_of.find(config.default_placement);
    if (default_it == index_of.end()) {
        throw std::invalid_argument("routing table built from an unvalidated config: unknown default placement");
    }
    table->default_index_ = default_it->second;

    table->operations_ = config.operations;
    for (const config::Drain& drain : config.operations.drains) {
        const auto drained = index_of.find(drain.placement);
        if (drained == index_of.end()) {
            throw std::invalid_argument("routing table built from an unvalidated config: unknown drained placement");
        }
        std::uint32_t target = table->placements_[drained->second].fallback;
        if (!drain.to.empty()) {
            const auto to = index_of.find(drain.to);
            target = to == index_of.end() ? no_fallback : to->second;
        }
        if (target == no_fallback) {
            throw std::invalid_argument("routing table built from an unvalidated config: a drain without a target");
        }
        table->drains_.resize(table->placements_.size());
        table->drains_[drained->second] =
            DrainRule{target, drain.start, drain.ramp, drain.from_share, drain.to_share, drain.reason};
    }
    for (const config::Pin& pin : config.operations.pins) {
        const auto placement = index_of.find(pin.placement);
        if (placement == index_of.end()) {
            throw std::invalid_argument("routing table built from an unvalidated config: unknown pinned placement");
        }
        table->pins_.insert_or_assign(pin.key, PinRule{placement->second, pin.expires, pin.reason});
    }
    for (const config::Pause& pause : config.operations.pauses) {
        table->pauses_.insert_or_assign(pause.key, PauseRule{pause.until, pause.retry_after, pause.reason});
    }

    std::size_t key_bytes = 0;
    for (const auto& row : config.routing_table) {
        key_bytes += row.first.size();
    }
    const auto& rows = config.routing_table;
    table->keys_ = KeyIndex(rows.size(), key_bytes);
    // Each key is prepared (hashed, its slot loaded) this many rows before it is inserted.
    constexpr std::size_t ahead = 8;
    std::array<std::uint64_t, ahead> hashes{};
    for (std::size_t i = 0; i < std::min(ahead, rows.size()); ++i) {
        hashes[i] = table->keys_.prepare(rows[i].first);
    }
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const std::uint64_t hash = hashes[i % ahead];
        if (i + ahead < rows.size()) {
            hashes[i % ahead] = table->keys_.prepare(rows[i + ahead].first);
        }
        const auto& [key, placement_name] = rows[i];
        const auto it = index_of.find(placement_name);
        if (it == index_of.end()) {
            throw std::invalid_argument("routing table built from an unvalidated config: unknown placement");
        }
        // Validation rejects repeated keys; were one to slip through, the first row wins.
        table->keys_.insert_prepared(key, hash, it->second);
    }
    return table;
}

RouteDecision Table::route(std::string_view routing_key) const {
    const auto placement = keys_.find(routing_key);
    if (!placement) {
        return {&placements_[default_index_], RouteReason::default_placement};
    }
    const PlacementTarget& target = placements_[*placement];
    const auto reason = target.kind == config::PlacementKind::dedicated ? RouteReason::dedicated
                                                                        : RouteReason::tier;
    return {&target, reason};
}

RouteDecision Table::route(std::string_view routing_key, config::WallTime now) const {
    RouteDecision decision = route(routing_key);
    if (operations_.empty()) {
        return decision;
    }
    if (const auto pause = pauses_.find(routing_key); pause != pauses_.end() && now < pause->second.until) {
        decision.pause = &pause->second;
        decision.reason = RouteReason::paused;
        return decision;
    }
    if (const auto pin = pins_.find(routing_key); pin != pins_.end() && now < pin->second.expires) {
        decision.placement = &placements_[pin->second.placement];
        decision.reason = RouteReason::override_pin;
        decision.pin = &pin->second;
    }
    if (const DrainRule* drain = drain_of(*decision.placement);
        drain != nullptr && drain_position(decision.placement->name, routing_key) < drain->share_at(now)) {
        decision.drained_to = &placements_[drain->target];
        decision.drain = drain;
    }
    return decision;
}

const PlacementTarget* Table::find_placement(std::string_view name) const {
    for (const auto& placement : placements_) {
        if (placement.name == name) {
            return &placement;
        }
    }
    return nullptr;
}

}  // namespace cell::routing
