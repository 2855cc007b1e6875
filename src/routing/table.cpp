#include "cell/routing/table.hpp"

#include <stdexcept>

namespace cell::routing {

std::string_view to_string(RouteReason reason) {
    switch (reason) {
    case RouteReason::dedicated: return "dedicated";
    case RouteReason::tier: return "tier";
    case RouteReason::default_placement: return "default";
    }
    return "default";
}

std::shared_ptr<const Table> Table::build(const config::Config& config,
                                          config::ProxySettings settings, TableOrigin origin) {
    std::shared_ptr<Table> table(new Table());
    table->version_ = config.version;
    table->settings_ = settings;
    table->origin_ = std::move(origin);

    std::unordered_map<std::string_view, std::uint32_t> index_of;
    table->placements_.reserve(config.placements.size());
    for (const auto& placement : config.placements) {
        index_of.emplace(placement.name, static_cast<std::uint32_t>(table->placements_.size()));
        PlacementTarget target{placement.name, placement.endpoint, placement.kind, {}};
        target.pool_key = placement.endpoint.scheme + "://" + placement.endpoint.host + ":" +
                          std::to_string(placement.endpoint.port);
        table->placements_.push_back(std::move(target));
    }
    // Validation guarantees both lookups succeed; a failure here is a bug in the caller.
    const auto default_it = index_of.find(config.default_placement);
    if (default_it == index_of.end()) {
        throw std::invalid_argument("routing table built from an unvalidated config: unknown default placement");
    }
    table->default_index_ = default_it->second;

    table->keys_.reserve(config.routing_table.size());
    for (const auto& [key, placement_name] : config.routing_table) {
        const auto it = index_of.find(placement_name);
        if (it == index_of.end()) {
            throw std::invalid_argument("routing table built from an unvalidated config: unknown placement");
        }
        table->keys_.emplace(key, it->second);
    }
    return table;
}

RouteDecision Table::route(std::string_view routing_key) const {
    const auto it = keys_.find(routing_key);
    if (it == keys_.end()) {
        return {&placements_[default_index_], RouteReason::default_placement};
    }
    const PlacementTarget& target = placements_[it->second];
    const auto reason = target.kind == config::PlacementKind::dedicated ? RouteReason::dedicated
                                                                        : RouteReason::tier;
    return {&target, reason};
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
