#include "cell/cellctl/operation_edit.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "cell/config/duration.hpp"
#include "cell/config/timestamp.hpp"
#include "cell/routing/operations.hpp"
#include "cell/util/time_format.hpp"

namespace cell::cellctl {
namespace {

using json = nlohmann::ordered_json;

std::string duration_text(config::Duration duration) { return std::to_string(duration.count()) + "ms"; }

// "20261203T180000.123Z": appended to the version, so every change made here has its own (two
// within a second included).
std::string compact_time(config::WallTime now) {
    std::string text = util::format_rfc3339(now);  // 2026-12-03T18:00:00.123Z
    text.erase(std::remove(text.begin(), text.end(), '-'), text.end());
    text.erase(std::remove(text.begin(), text.end(), ':'), text.end());
    return text;
}

bool has_placement(const json& document, const std::string& name) {
    for (const char* field : {"placements", "cellEndpoints"}) {
        if (const auto it = document.find(field); it != document.end() && it->is_object() && it->contains(name)) {
            return true;
        }
    }
    return false;
}

std::optional<config::WallTime> time_of(const json& rule, const char* field) {
    const auto it = rule.find(field);
    return it != rule.end() && it->is_string() ? config::parse_rfc3339(it->get<std::string>()) : std::nullopt;
}

// The share a drain rule in the document has moved at `now` (0 when it cannot be read).
double share_now(const json& drain, config::WallTime now) {
    routing::DrainRule rule;
    rule.start = time_of(drain, "start").value_or(now);
    if (const auto ramp = drain.find("ramp"); ramp != drain.end() && ramp->is_string()) {
        rule.ramp = config::parse_duration(ramp->get<std::string>()).value_or(config::Duration{0});
    }
    rule.from_share = drain.value("from_share", 0.0);
    rule.to_share = drain.value("to_share", 1.0);
    return rule.share_at(now);
}

// Removes pins and pauses past their time and undrains that have finished; says which.
std::vector<std::string> clean_expired(json& operations, config::WallTime now) {
    std::vector<std::string> cleaned;
    for (const auto& [section, field] : {std::pair{"pins", "expires"}, std::pair{"pauses", "until"}}) {
        if (const auto it = operations.find(section); it != operations.end() && it->is_object()) {
            std::vector<std::string> expired;
            for (const auto& [key, rule] : it->items()) {
                if (const auto time = time_of(rule, field); time && *time <= now) {
                    expired.push_back(key);
                }
            }
            for (const auto& key : expired) {
                it->erase(key);
                cleaned.push_back(fmt::format("{} {} (expired)", std::string_view(section).substr(0, std::string_view(section).size() - 1), key));
            }
        }
    }
    if (const auto drains = operations.find("drains"); drains != operations.end() && drains->is_object()) {
        std::vector<std::string> finished;
        for (const auto& [placement, rule] : drains->items()) {
            if (rule.value("to_share", 1.0) == 0.0 && share_now(rule, now) == 0.0 && time_of(rule, "start").value_or(now) < now) {
                finished.push_back(placement);
            }
        }
        for (const auto& placement : finished) {
            drains->erase(placement);
            cleaned.push_back(fmt::format("drain {} (undrained)", placement));
        }
    }
    return cleaned;
}

}  // namespace

std::variant<EditedConfig, std::string> edit_operations(json document, const OperationRequest& request,
                                                        config::WallTime now) {
    if (!document.is_object()) {
        return std::string("the stored config is not a JSON object");
    }
    json& operations = document["operations"];
    if (operations.is_null()) {
        operations = json::object();
    }
    if (!operations.is_object()) {
        return std::string("the stored config's \"operations\" is not an object");
    }
    EditedConfig edited;
    const std::string& subject = request.subject;
    const std::string reason_suffix = request.reason.empty() ? "" : ": " + request.reason;
    switch (request.kind) {
        case OperationKind::drain: {
            if (!has_placement(document, subject)) {
                return fmt::format("no placement named \"{}\"", subject);
            }
            if (!request.to.empty() && !has_placement(document, request.to)) {
                return fmt::format("no placement named \"{}\" to drain to", request.to);
            }
            // Drained again part way through an undrain: start from where it is, not from none.
            double from = 0;
            if (const auto drains = operations.find("drains"); drains != operations.end() && drains->contains(subject)) {
                from = share_now((*drains)[subject], now);
            }
            json rule = json::object();
            if (!request.to.empty()) {
                rule["to"] = request.to;
            }
            rule["start"] = util::format_rfc3339(now);
            rule["ramp"] = duration_text(request.ramp);
            rule["from_share"] = from;
            rule["to_share"] = 1.0;
            rule["reason"] = request.reason;
            operations["drains"][subject] = std::move(rule);
            edited.summary = fmt::format("drain {} to {} over {}{}", subject, request.to.empty() ? "its fallback" : request.to,
                                         config::format_duration(request.ramp), reason_suffix);
            break;
        }
        case OperationKind::undrain: {
            const auto drains = operations.find("drains");
            if (drains == operations.end() || !drains->is_object() || !drains->contains(subject)) {
                return fmt::format("placement \"{}\" is not drained", subject);
            }
            json& rule = (*drains)[subject];
            const double from = share_now(rule, now);
            rule["start"] = util::format_rfc3339(now);
            rule["ramp"] = duration_text(request.ramp);
            rule["from_share"] = from;
            rule["to_share"] = 0.0;
            if (!request.reason.empty()) {
                rule["reason"] = request.reason;
            }
            edited.summary = fmt::format("undrain {} from {:.0f} % over {}{}", subject, from * 100,
                                         config::format_duration(request.ramp), reason_suffix);
            break;
        }
        case OperationKind::pin:
            if (!has_placement(document, request.placement)) {
                return fmt::format("no placement named \"{}\"", request.placement);
            }
            operations["pins"][subject] = json{{"placement", request.placement},
                                               {"expires", util::format_rfc3339(now + request.ttl)},
                                               {"reason", request.reason}};
            edited.summary = fmt::format("pin {} to {} until {}{}", subject, request.placement,
                                         util::format_rfc3339(now + request.ttl), reason_suffix);
            break;
        case OperationKind::unpin: {
            const auto pins = operations.find("pins");
            if (pins == operations.end() || !pins->is_object() || !pins->contains(subject)) {
                return fmt::format("routing key \"{}\" is not pinned", subject);
            }
            pins->erase(subject);
            edited.summary = fmt::format("unpin {}{}", subject, reason_suffix);
            break;
        }
        case OperationKind::pause:
            operations["pauses"][subject] = json{{"until", util::format_rfc3339(now + request.max_pause)},
                                                 {"retry_after", duration_text(request.retry_after)},
                                                 {"reason", request.reason}};
            edited.summary = fmt::format("pause {} until {} (Retry-After {}){}", subject,
                                         util::format_rfc3339(now + request.max_pause),
                                         config::format_duration(request.retry_after), reason_suffix);
            break;
        case OperationKind::move: {
            if (!has_placement(document, request.placement)) {
                return fmt::format("no placement named \"{}\"", request.placement);
            }
            json& table = document["routingTable"];
            if (!table.is_object()) {
                return std::string("the stored config has no routingTable object");
            }
            table[subject] = request.placement;
            bool lifted = false;
            if (const auto pauses = operations.find("pauses"); pauses != operations.end() && pauses->is_object()) {
                lifted = pauses->erase(subject) > 0;
            }
            edited.summary = fmt::format("move {} to {}{}{}", subject, request.placement,
                                         lifted ? " and lift its pause" : "", reason_suffix);
            break;
        }
    }
    edited.cleaned = clean_expired(operations, now);
    for (const char* section : {"drains", "pins", "pauses"}) {
        if (const auto it = operations.find(section); it != operations.end() && it->is_object() && it->empty()) {
            operations.erase(section);
        }
    }
    if (operations.empty()) {
        document.erase("operations");
    }
    const std::string version = document.value("version", std::string("0"));
    document["version"] = version.substr(0, version.find('+')) + "+" + compact_time(now);
    edited.document = std::move(document);
    return edited;
}

}  // namespace cell::cellctl
