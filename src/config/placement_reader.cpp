#include "placement_reader.hpp"

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

#include "cell/config/duration.hpp"
#include "json_text.hpp"
#include "object_reader.hpp"

namespace cell::config::detail {
namespace {

using json = nlohmann::ordered_json;

HealthCheck read_health_check(ObjectReader& reader) {
    HealthCheck check;
    check.path = reader.string("path").value_or(check.path);
    check.interval = reader.duration("interval").value_or(check.interval);
    check.timeout = reader.duration("timeout").value_or(check.timeout);
    check.healthy_threshold = reader.integer("healthy_threshold").value_or(check.healthy_threshold);
    check.unhealthy_threshold = reader.integer("unhealthy_threshold").value_or(check.unhealthy_threshold);
    return check;
}

CircuitBreaker read_circuit_breaker(ObjectReader& reader) {
    CircuitBreaker breaker;
    breaker.failure_threshold = reader.integer("failure_threshold").value_or(breaker.failure_threshold);
    breaker.timeout = reader.duration("timeout").value_or(breaker.timeout);
    return breaker;
}

RateLimit read_rate_limit(ObjectReader& reader) {
    RateLimit limit;
    if (const auto rate = reader.number("requests_per_second")) {
        limit.requests_per_second = *rate;
    } else if (reader.member("requests_per_second") == nullptr) {
        reader.error("requests_per_second", "required field is missing");
    }
    limit.burst = reader.integer("burst");
    return limit;
}

std::optional<PlacementKind> read_kind(ObjectReader& reader) {
    const std::optional<std::string> type = reader.string("type");
    if (!type) {
        return std::nullopt;
    }
    if (*type == "shared") {
        return PlacementKind::shared_tier;
    }
    if (*type == "dedicated") {
        return PlacementKind::dedicated;
    }
    reader.error("type", "must be \"shared\" or \"dedicated\", got " + detail::quoted(*type));
    return std::nullopt;
}

Placement read_placement(std::string name, ObjectReader& reader) {
    Placement placement;
    placement.name = std::move(name);
    if (auto url = reader.string("url")) {
        placement.endpoint.url = std::move(*url);
    } else if (reader.member("url") == nullptr) {
        reader.error("url", "required field is missing");
    }
    placement.declared_kind = read_kind(reader);
    placement.fallback = reader.string("fallback").value_or("");
    placement.health_check = reader.object<HealthCheck>("health_check", read_health_check);
    placement.circuit_breaker = reader.object<CircuitBreaker>("circuit_breaker", read_circuit_breaker);
    placement.concurrency_limit = reader.integer("concurrency_limit");
    placement.max_request_body_bytes = reader.integer("max_request_body_bytes");
    placement.rate_limit = reader.object<RateLimit>("rate_limit", read_rate_limit);
    placement.connect_timeout = reader.duration("connect_timeout");
    placement.response_timeout = reader.duration("response_timeout");
    return placement;
}

}  // namespace

void read_placements(const json& placements, const std::string& pointer, std::vector<Placement>& out,
                     ConfigErrors& errors, ConfigErrors& warnings) {
    for (const auto& [name, value] : placements.items()) {
        const std::string placement_pointer = child_pointer(pointer, name);
        if (!value.is_object()) {
            errors.push_back({placement_pointer, std::string("expected an object, got ") + value.type_name()});
            continue;
        }
        ObjectReader reader(value, placement_pointer, errors, warnings);
        out.push_back(read_placement(name, reader));
        reader.warn_unknown();
    }
}

}  // namespace cell::config::detail
