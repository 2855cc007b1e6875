#pragma once
// Reads the M4 "placements" object (already collected into a small DOM by the SAX parser) into
// Placement records. Type errors and unreadable durations are reported here; range and
// cross-reference rules (fallback exists, no cycles, thresholds) belong to validate_config.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cell/config/errors.hpp"
#include "cell/config/types.hpp"

namespace cell::config::detail {

void read_placements(const nlohmann::ordered_json& placements, const std::string& pointer,
                     std::vector<Placement>& out, ConfigErrors& errors, ConfigErrors& warnings);

}  // namespace cell::config::detail
