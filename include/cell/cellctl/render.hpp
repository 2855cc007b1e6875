#pragma once
// The text cellctl prints for the control plane's answers (formats: docs/cellctl.md). Pure
// functions of the answers' JSON, so each rendering is unit-tested.

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace cell::cellctl {

// The blast-radius verdict: allowed, or refused with each violation.
std::string render_guard(const nlohmann::json& guard);

// POST /config/diff's 200 answer, for the file `file`; `forced` when --force will override a
// refusal.
std::string render_diff_answer(const nlohmann::json& answer, const std::string& file, bool forced = false);

// A 200 answer of PUT /config or POST /rollback; `with_diff` adds the changes it made (apply
// has shown them already).
std::string render_applied(const nlohmann::json& answer, bool with_diff);

// The refusals of PUT /config and POST /rollback: 400, 403, 404, 409, 422, 503. `command` is the
// command line to repeat with --force for a guard refusal ("cellctl apply routing.json").
std::string render_refusal(int status, const nlohmann::json& body, const std::string& command);

// GET /history's answer as a table, newest first.
std::string render_history(const nlohmann::json& answer);

// Rows of cells, each column as wide as its widest cell, two spaces apart.
std::string format_table(const std::vector<std::vector<std::string>>& rows);

}  // namespace cell::cellctl
