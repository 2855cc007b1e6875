#include "operations_reader.hpp"

#include <optional>
#include <string>
#include <string_view>

#include "cell/config/timestamp.hpp"
#include "object_reader.hpp"

namespace cell::config::detail {
namespace {

using json = nlohmann::ordered_json;

std::optional<WallTime> read_time(ObjectReader& reader, std::string_view key, bool required) {
    const auto text = reader.string(key);
    if (!text) {
        if (required && reader.member(key) == nullptr) {
            reader.error(key, "required field is missing");
        }
        return std::nullopt;
    }
    const auto time = parse_rfc3339(*text);
    if (!time) {
        reader.error(key, "not an RFC 3339 time from 1970 to " + std::to_string(latest_config_year) +
                              " (e.g. \"2026-12-03T18:00:00Z\"): " + detail::quoted(*text));
    }
    return time;
}

}  // namespace

void read_operations(const json& operations, const std::string& pointer, Operations& out, ConfigErrors& errors,
                     ConfigErrors& warnings) {
    ObjectReader reader(operations, pointer, errors, warnings);
    const auto each = [&](std::string_view section, auto read_one) {
        const json* members = reader.member(section);
        if (members == nullptr) {
            return;
        }
        if (!members->is_object()) {
            reader.type_error(section, "an object", *members);
            return;
        }
        ObjectReader entries(*members, reader.pointer_of(section), errors, warnings);
        for (const auto& item : members->items()) {
            // A reference into the DOM: the reader keeps a view of each member name it is asked for.
            const std::string& name = item.key();
            entries.object<bool>(name, [&](ObjectReader& entry) {
                read_one(name, entry);
                return true;
            });
        }
    };
    each("drains", [&](const std::string& placement, ObjectReader& entry) {
        Drain drain;
        drain.placement = placement;
        drain.to = entry.string("to").value_or("");
        const auto start = read_time(entry, "start", true);
        drain.ramp = entry.duration("ramp").value_or(drain.ramp);
        drain.from_share = entry.number("from_share").value_or(drain.from_share);
        drain.to_share = entry.number("to_share").value_or(drain.to_share);
        drain.reason = entry.string("reason").value_or("");
        if (start) {
            drain.start = *start;
            out.drains.push_back(std::move(drain));
        }
    });
    each("pins", [&](const std::string& key, ObjectReader& entry) {
        Pin pin;
        pin.key = key;
        const auto placement = entry.string("placement");
        if (!placement && entry.member("placement") == nullptr) {
            entry.error("placement", "required field is missing");
        }
        const auto expires = read_time(entry, "expires", true);
        pin.reason = entry.string("reason").value_or("");
        if (placement && expires) {
            pin.placement = *placement;
            pin.expires = *expires;
            out.pins.push_back(std::move(pin));
        }
    });
    each("pauses", [&](const std::string& key, ObjectReader& entry) {
        Pause pause;
        pause.key = key;
        const auto until = read_time(entry, "until", true);
        pause.retry_after = entry.duration("retry_after").value_or(pause.retry_after);
        pause.reason = entry.string("reason").value_or("");
        if (until) {
            pause.until = *until;
            out.pauses.push_back(std::move(pause));
        }
    });
    reader.warn_unknown();
}

}  // namespace cell::config::detail
