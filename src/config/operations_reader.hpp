#pragma once
// Reads the "operations" object (drains, pins, pauses; docs/operations.md), collected into a
// small DOM by the SAX parser like "placements". Type errors and unreadable times or durations
// are reported here; cross-references and ranges belong to validate_config.

#include <string>

#include <nlohmann/json.hpp>

#include "cell/config/errors.hpp"
#include "cell/config/types.hpp"

namespace cell::config::detail {

void read_operations(const nlohmann::ordered_json& operations, const std::string& pointer, Operations& out,
                     ConfigErrors& errors, ConfigErrors& warnings);

}  // namespace cell::config::detail
