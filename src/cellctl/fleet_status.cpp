#include "cell/cellctl/fleet_status.hpp"

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

#include "cell/cellctl/options.hpp"
#include "cell/cellctl/render.hpp"

namespace cell::cellctl {
namespace {

using json = nlohmann::json;

json field_or_null(const json& object, const char* name) {
    return object.is_object() && object.contains(name) ? object.at(name) : json(nullptr);
}

std::optional<std::uint64_t> revision_of(const json& value) {
    return value.is_number_unsigned() ? std::optional<std::uint64_t>(value.get<std::uint64_t>()) : std::nullopt;
}

std::string cell_text(const json& value) {
    if (value.is_null()) {
        return "-";
    }
    return value.is_string() ? value.get<std::string>() : value.dump();
}

std::string lag_text(const json& router) {
    if (router.value("current", false)) {
        return "-";
    }
    if (router.value("acked_current", false)) {
        return "replica behind";  // current for its replica, which serves an older revision
    }
    const json behind = field_or_null(router, "versions_behind");
    std::string text = behind.is_number() ? fmt::format("{} behind", behind.dump()) : std::string("behind");
    if (const json seconds = field_or_null(router, "behind_seconds"); seconds.is_number() && seconds.get<double>() > 0) {
        text += fmt::format(", {:.0f}s", seconds.get<double>());
    }
    return text;
}

std::string nack_text(const json& nack) {
    if (!nack.is_object()) {
        return "-";
    }
    return fmt::format("{}: {} ({})", cell_text(field_or_null(nack, "version")), cell_text(field_or_null(nack, "error")),
                       cell_text(field_or_null(nack, "at")));
}

}  // namespace

json merge_fleet_status(const std::vector<ReplicaAnswer>& answers) {
    std::optional<std::uint64_t> newest;
    for (const auto& answer : answers) {
        if (answer.status) {
            if (const auto revision = revision_of(field_or_null(*answer.status, "current_revision"))) {
                newest = std::max(newest.value_or(0), *revision);
            }
        }
    }
    json replicas = json::array();
    json routers = json::array();
    std::size_t reachable = 0;
    std::size_t current_routers = 0;
    json newest_version = nullptr;
    json rollouts = json::array();  // each replica's last rollout, the running ones first
    for (const auto& answer : answers) {
        if (!answer.status) {
            replicas.push_back({{"url", answer.url}, {"reachable", false}, {"error", answer.error}});
            continue;
        }
        ++reachable;
        const json& status = *answer.status;
        const json revision = field_or_null(status, "current_revision");
        // Without revisions (file mode) replicas cannot be ordered: each is current for itself.
        const bool replica_current = !newest || revision_of(revision) == newest;
        const json replica_name = status.contains("replica") ? status["replica"] : json(answer.url);
        if (replica_current && newest_version.is_null()) {
            newest_version = field_or_null(status, "current_version");
        }
        const json listed = field_or_null(status, "routers");
        const json rollout = field_or_null(status, "rollout");
        const bool seen = rollout.is_object() && std::any_of(rollouts.begin(), rollouts.end(), [&](const json& known) {
                              return known.value("id", "") == rollout.value("id", "");
                          });
        if (rollout.is_object() && !seen) {  // replicas sharing a store show the same rollout
            json entry = rollout;
            entry["replica"] = replica_name;
            const bool running = entry.value("phase", "") != "promoted" && entry.value("phase", "") != "halted";
            rollouts.insert(running ? rollouts.begin() : rollouts.end(), std::move(entry));
        }
        replicas.push_back({{"url", answer.url},
                            {"reachable", true},
                            {"replica", replica_name},
                            {"current_version", field_or_null(status, "current_version")},
                            {"current_revision", revision},
                            {"current", replica_current},
                            {"routers_connected", listed.is_array() ? listed.size() : 0}});
        if (!listed.is_array()) {
            continue;
        }
        for (const auto& router : listed) {
            const bool current = replica_current && router.value("acked_current", false);
            current_routers += current ? 1 : 0;
            routers.push_back({{"id", field_or_null(router, "id")},
                               {"replica", replica_name},
                               {"address", field_or_null(router, "address")},
                               {"last_version_acked", field_or_null(router, "last_version_acked")},
                               {"last_revision_acked", field_or_null(router, "last_revision_acked")},
                               {"acked_current", router.value("acked_current", false)},
                               {"current", current},
                               {"versions_behind", field_or_null(router, "versions_behind")},
                               {"behind_seconds", field_or_null(router, "behind_seconds")},
                               {"last_nack", field_or_null(router, "last_nack")},
                               {"canary", router.value("canary", false)},
                               {"target_version", field_or_null(router, "target_version")}});
        }
    }
    return json{{"current_version", newest_version},
                {"current_revision", newest ? json(*newest) : json(nullptr)},
                {"replicas_total", answers.size()},
                {"replicas_reachable", reachable},
                {"routers_total", routers.size()},
                {"routers_current", current_routers},
                {"replicas", std::move(replicas)},
                {"routers", std::move(routers)},
                {"rollouts", std::move(rollouts)}};
}

std::string render_fleet_status(const json& merged) {
    std::vector<std::vector<std::string>> replicas{{"CONTROL PLANE", "REACHABLE", "VERSION", "REVISION", "ROUTERS", "CURRENT"}};
    for (const auto& replica : merged.at("replicas")) {
        if (!replica.value("reachable", false)) {
            replicas.push_back({replica.value("url", ""), "no: " + replica.value("error", ""), "", "", "", ""});
            continue;
        }
        replicas.push_back({cell_text(replica["replica"]), "yes", cell_text(replica["current_version"]),
                            cell_text(replica["current_revision"]), replica["routers_connected"].dump(),
                            replica.value("current", false) ? "yes" : "no"});
    }
    std::string text = format_table(replicas);
    text += "\n";
    if (merged.at("routers").empty()) {
        text += "no routers connected\n";
    } else {
        std::vector<std::vector<std::string>> routers{
            {"ROUTER", "CONNECTED TO", "ACKED VERSION", "ACKED REVISION", "CURRENT", "LAG", "LAST NACK"}};
        for (const auto& router : merged.at("routers")) {
            const std::string id = cell_text(router["id"]) + (router.value("canary", false) ? " (canary)" : "");
            routers.push_back({id, cell_text(router["replica"]), cell_text(router["last_version_acked"]),
                               cell_text(router["last_revision_acked"]), router.value("current", false) ? "yes" : "no",
                               lag_text(router), nack_text(router["last_nack"])});
        }
        text += format_table(routers);
    }
    for (const auto& rollout : merged.value("rollouts", json::array())) {
        std::string canaries;
        for (const auto& canary : rollout.value("canaries", json::array())) {
            canaries += (canaries.empty() ? "" : ", ") + cell_text(canary);
        }
        text += fmt::format("\nrollout {} on {}: {} ({} -> {}), canaries {}\n", rollout.value("id", ""),
                            cell_text(rollout["replica"]), rollout.value("phase", ""), rollout.value("stable_version", ""),
                            rollout.value("candidate_version", ""), canaries);
        for (const auto& step : rollout.value("steps", json::array())) {
            text += fmt::format("  {}  {}\n", step.value("at", ""), step.value("what", ""));
        }
    }
    text += fmt::format("\n{} of {} routers current; {} of {} control planes reachable\n",
                        merged.value("routers_current", 0), merged.value("routers_total", 0),
                        merged.value("replicas_reachable", 0), merged.value("replicas_total", 0));
    return text;
}

int fleet_exit_code(const json& merged) {
    if (merged.value("replicas_reachable", 0) == 0) {
        return exit_error;
    }
    const bool all = merged.value("replicas_reachable", 0) == merged.value("replicas_total", 0) &&
                     merged.value("routers_current", 0) == merged.value("routers_total", 0);
    return all ? exit_ok : exit_refused;
}

}  // namespace cell::cellctl
