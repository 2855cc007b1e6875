#include "cell/cellctl/render.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cell/controlplane/config_diff.hpp"

namespace cell::cellctl {
namespace {

using json = nlohmann::json;

std::string text_of(const json& value, const char* absent = "-") {
    if (value.is_string()) {
        return value.get<std::string>();
    }
    if (value.is_null()) {
        return absent;
    }
    return value.dump();
}

std::string member(const json& object, const char* name, const char* absent = "-") {
    if (!object.is_object() || !object.contains(name)) {
        return absent;
    }
    return text_of(object.at(name), absent);
}

std::string render_diff(const json& diff) {
    const auto parsed = controlplane::config_diff_from_json(diff);
    if (!parsed) {
        return "(the control plane sent a diff in an unknown format)\n" + diff.dump(2) + "\n";
    }
    return controlplane::describe(*parsed);
}

std::string indent(const std::string& text) {
    std::string out;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = std::min(text.find('\n', start), text.size());
        out += "  " + text.substr(start, end - start) + "\n";
        start = end + 1;
    }
    return out;
}

}  // namespace

std::string render_guard(const json& guard) {
    const auto verdict = controlplane::guard_verdict_from_json(guard);
    if (!verdict) {
        return "guard: (unknown format) " + guard.dump() + "\n";
    }
    if (verdict->allowed) {
        return fmt::format("guard: allowed (moved-keys limit {})\n", verdict->max_moved_keys);
    }
    std::string text = fmt::format("guard: refused (moved-keys limit {})\n", verdict->max_moved_keys);
    for (const auto& violation : verdict->violations) {
        text += fmt::format("  - {}: {}\n", violation.rule, violation.detail);
    }
    return text;
}

std::string render_diff_answer(const json& answer, const std::string& file, bool forced) {
    std::string text = fmt::format("diff of {} against revision {} (version {}):\n", file,
                                   member(answer, "base_revision"), member(answer, "base_version"));
    text += indent(render_diff(answer.value("diff", json())));
    text += render_guard(answer.value("guard", json()));
    const bool allowed = answer.contains("guard") && answer["guard"].value("allowed", false);
    if (allowed) {
        text += "would apply\n";
    } else if (forced) {
        text += "the guard refuses this change; --force overrides it\n";
    } else {
        text += "would be refused: change the file, raise --max-moved-keys, or apply with --force --reason TEXT\n";
    }
    return text;
}

std::string render_applied(const json& answer, bool with_diff) {
    std::string text;
    if (with_diff && answer.contains("diff")) {
        text += "changes:\n" + indent(render_diff(answer["diff"]));
        text += render_guard(answer.value("guard", json()));
    }
    text += fmt::format("applied: revision {} (version {})", member(answer, "revision"),
                                   member(answer, "version"));
    if (answer.value("forced", false)) {
        text += ", forced past the blast-radius guard";
    }
    return text + "\n";
}

std::string render_refusal(int status, const json& body, const std::string& command) {
    const std::string detail = member(body, "detail", "(no detail)");
    switch (status) {
        case 400:
            return fmt::format("refused: the config is invalid: {}\n", detail);
        case 403:
            return fmt::format("refused: {}\n", detail);
        case 404:
            return fmt::format("refused: {}\n", detail);
        case 409: {
            std::string text = fmt::format("conflict: {}\nthe stored config is now revision {}; what the change "
                                           "would do against it:\n",
                                           detail, member(body, "current_revision"));
            text += indent(render_diff(body.value("diff", json())));
            text += render_guard(body.value("guard", json()));
            text += fmt::format("review it, then run again: {}\n", command);
            return text;
        }
        case 422: {
            std::string text = fmt::format("refused by the blast-radius guard: {}\n", detail);
            text += render_guard(body.value("guard", json()));
            text += fmt::format("to apply anyway: {} --force --reason \"why\"\n", command);
            return text;
        }
        case 503:
            return fmt::format("the control plane's config store is unavailable: {}\n", detail);
        default:
            return fmt::format("HTTP {}: {}\n", status, body.is_discarded() ? std::string("(not JSON)") : body.dump());
    }
}

std::string render_history(const json& answer) {
    const json entries = answer.value("entries", json::array());
    if (entries.empty()) {
        return fmt::format("no history ({} store)\n", member(answer, "store"));
    }
    std::vector<std::vector<std::string>> rows{
        {"REVISION", "VERSION", "APPLIED AT", "APPLIED BY", "KEYS", "FORCED", "REASON"}};
    for (const auto& entry : entries) {
        std::string reason = member(entry, "reason", "");
        if (entry.contains("rollback_of") && !entry["rollback_of"].is_null()) {
            reason = fmt::format("rollback of {}{}{}", text_of(entry["rollback_of"]), reason.empty() ? "" : ": ", reason);
        }
        rows.push_back({member(entry, "revision"), member(entry, "version"), member(entry, "applied_at"),
                        member(entry, "applied_by"), member(entry, "routing_keys"),
                        entry.value("forced", false) ? "yes" : "no", reason.empty() ? "-" : reason});
    }
    return format_table(rows);
}

std::string format_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> widths;
    for (const auto& row : rows) {
        widths.resize(std::max(widths.size(), row.size()), 0);
        for (std::size_t i = 0; i < row.size(); ++i) {
            widths[i] = std::max(widths[i], row[i].size());
        }
    }
    std::string text;
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) {
                line.append(widths[i] - row[i].size() + 2, ' ');
            }
        }
        while (line.ends_with(' ')) {
            line.pop_back();
        }
        text += line + "\n";
    }
    return text;
}

}  // namespace cell::cellctl
