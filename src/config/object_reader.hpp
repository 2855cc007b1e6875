#pragma once
// Reads the members of one JSON object of a config's small DOM parts ("placements",
// "operations"), reporting each problem at its own JSON pointer. Internal to src/config.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cell/config/duration.hpp"
#include "cell/config/errors.hpp"
#include "cell/config/types.hpp"
#include "json_text.hpp"

namespace cell::config::detail {

// Reads the members of one JSON object, reporting each problem at its own pointer.
class ObjectReader {
public:
    using json = nlohmann::ordered_json;

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

}  // namespace cell::config::detail
