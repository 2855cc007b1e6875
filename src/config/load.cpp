#include "cell/config/load.hpp"

#include <exception>
#include <utility>

#include "cell/config/parse.hpp"
#include "cell/config/validate.hpp"

namespace cell::config {
namespace {

// The seed's rule, for placements without a "type": shared tiers are named "tier1", "tier2", ...; any other name is a cell
// dedicated to one tenant.
PlacementKind kind_of(std::string_view placement_name) {
    return placement_name.starts_with("tier") ? PlacementKind::shared_tier
                                              : PlacementKind::dedicated;
}

}  // namespace

LoadResult load_config(std::string_view json_text) {
    ParseResult parsed = parse_config(json_text);
    if (!parsed.config) {
        LoadResult result;
        result.warnings = std::move(parsed.warnings);
        result.errors = std::move(parsed.errors);
        return result;
    }
    LoadResult result = load_config(std::move(*parsed.config));
    result.warnings = std::move(parsed.warnings);
    return result;
}

LoadResult load_config(Config config) {
    LoadResult result;
    try {
        result.errors = validate_config(config);
        if (!result.errors.empty()) {
            return result;
        }
        for (Placement& placement : config.placements) {
            // validate_config accepted every URL, so parse_endpoint cannot fail here.
            if (std::optional<Endpoint> endpoint = parse_endpoint(placement.endpoint.url)) {
                placement.endpoint = std::move(*endpoint);
            }
            placement.kind = placement.declared_kind.value_or(kind_of(placement.name));
        }
        result.config = std::move(config);
    } catch (const std::exception& ex) {
        result.config.reset();
        result.errors.push_back({"", std::string("cannot load: ") + ex.what()});
    }
    return result;
}

}  // namespace cell::config
