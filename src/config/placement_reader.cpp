#include "placement_reader.hpp"

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

#include "cell/config/duration.hpp"
#include "json_text.hpp"

namespace cell::config::detail {
namespace {

using json = nlohmann::ordered_json;

// Reads the members of one JSON object, reporting each problem at its own pointer.
class ObjectReader {
public:
    ObjectReader(const json& object, std::string pointer, ConfigErrors& errors, ConfigErrors& warnings)
        : object_(object), pointer_(std::move(pointer)), errors_(errors), warnings_(warnings) {}

    const json* member(std::string_view key) {
        known_.push_back(key);
        const auto it = object_.find(key);
        return it == object_.end() ? nullptr : &*it;
    }

    std::string pointer_of(std::string_view key) const { return child_pointer(pointer_, key); }

    void error(std::string_view key, std::string message) { errors_.push_back({pointer_of(key), std::move(message)}); }

    void type_error(std::string_view key, const char* expected, const json& value) {
        error(key, std::string("expected ") + expected + ", got " + value.type_name());
    }

    std::optional<std::string> string(std::string_view key) {
        const json* value = member(key);
        if (value == nullptr) {
            return std::nullopt;
        }
        if (!value->is_string()) {
            type_error(key, "a string", *value);
            return std::nullopt;
        }
        return value->get<std::string>();
    }

    std::optional<std::int64_t> integer(std::string_view key) {
        const json* value = member(key);
        if (value == nullptr) {
            return std::nullopt;
        }
        if (value->is_number_unsigned()) {
            const auto unsigned_value = value->get<std::uint64_t>();
            if (unsigned_value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                error(key, "out of range: " + std::to_string(unsigned_value));
                return std::nullopt;
            }
            return static_cast<std::int64_t>(unsigned_value);
        }
        if (value->is_number_integer()) {
            return value->get<std::int64_t>();
        }
        type_error(key, "an integer", *value);
        return std::nullopt;
    }

    std::optional<double> number(std::string_view key) {
        const json* value = member(key);
        if (value == nullptr) {
            return std::nullopt;
        }
        if (!value->is_number()) {
            type_error(key, "a number", *value);
            return std::nullopt;
        }
        return value->get<double>();
    }

    std::optional<Duration> duration(std::string_view key) {
        const json* value = member(key);
        if (value == nullptr) {
            return std::nullopt;
        }
        if (!value->is_string()) {
            type_error(key, "a duration string", *value);
            return std::nullopt;
        }
        const auto& text = value->get_ref<const std::string&>();
        const std::optional<Duration> parsed = parse_duration(text);
        if (!parsed) {
            error(key, "not a duration (e.g. \"500ms\", \"10s\", \"1m\", \"1h\"): " + detail::quoted(text));
        }
        return parsed;
    }

    // An object member read by `read`, which gets a reader for it; nullopt when absent or not
    // an object.
    template <typename T, typename Read>
    std::optional<T> object(std::string_view key, Read read) {
        const json* value = member(key);
        if (value == nullptr) {
            return std::nullopt;
        }
        if (!value->is_object()) {
            type_error(key, "an object", *value);
            return std::nullopt;
        }
        ObjectReader nested(*value, pointer_of(key), errors_, warnings_);
        T result = read(nested);
        nested.warn_unknown();
        return result;
    }

    // Called after every expected member was asked for: anything else is probably a typo.
    void warn_unknown() {
        for (const auto& [key, value] : object_.items()) {
            bool known = false;
            for (std::string_view expected : known_) {
                known = known || expected == key;
            }
            if (!known) {
                warnings_.push_back({pointer_of(key), "unknown field, ignored"});
            }
        }
    }

private:
    const json& object_;
    std::string pointer_;
    ConfigErrors& errors_;
    ConfigErrors& warnings_;
    std::vector<std::string_view> known_;
};

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
