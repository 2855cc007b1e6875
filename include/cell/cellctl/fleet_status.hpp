#pragma once
// `cellctl status`: the GET /status answers of every control plane replica, merged into one view
// of the fleet. A router counts as current when it acked its replica's current config and that
// replica serves the newest revision any replica reported.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cell::cellctl {

// What one replica answered: its /status body, or why there is none.
struct ReplicaAnswer {
    std::string url;
    std::optional<nlohmann::json> status;
    std::string error;  // set when status is not
};

// {"replicas":[...],"routers":[...],"routers_total":N,"routers_current":N,"replicas_reachable":N,
//  "current_revision":R|null,"current_version":".."|null} (docs/cellctl.md).
nlohmann::json merge_fleet_status(const std::vector<ReplicaAnswer>& answers);

std::string render_fleet_status(const nlohmann::json& merged);

// exit_ok when every replica answered and every router is current, exit_refused when some
// did not, exit_error when no replica answered.
int fleet_exit_code(const nlohmann::json& merged);

}  // namespace cell::cellctl
