#include "cell_controls.hpp"

#include "cell_query.hpp"

#include <charconv>

namespace cell::demo {
namespace {

std::optional<std::uint64_t> parse_u64(const std::string& text) {
  std::uint64_t value = 0;
  const char* first = text.data();
  const char* last = first + text.size();
  const auto [end, ec] = std::from_chars(first, last, value);
  if (text.empty() || ec != std::errc{} || end != last) {
    return std::nullopt;
  }
  return value;
}

// Each reader returns an error message, empty on success or when the parameter is absent.
std::string read_count(std::string_view query, std::string_view name, std::uint64_t max,
                       std::optional<std::uint64_t>& out) {
  const auto raw = find_query_param(query, name);
  if (!raw) {
    return {};
  }
  const auto value = parse_u64(*raw);
  if (!value || *value > max) {
    return std::string(name) + " must be an integer in 0.." + std::to_string(max) + ", got '" +
           *raw + "'";
  }
  out = value;
  return {};
}

std::string read_flag(std::string_view query, std::string_view name, bool& out) {
  const auto raw = find_query_param(query, name);
  if (!raw) {
    return {};
  }
  if (*raw == "1" || *raw == "true" || raw->empty()) {
    out = true;
    return {};
  }
  if (*raw == "0" || *raw == "false") {
    out = false;
    return {};
  }
  return std::string(name) + " must be 1 or 0, got '" + *raw + "'";
}

std::string read_timing(std::string_view query, RequestControls& controls) {
  std::optional<std::uint64_t> delay;
  if (auto error = read_count(query, "delay_ms", kMaxDelayMs, delay); !error.empty()) {
    return error;
  }
  controls.delay_ms = delay.value_or(0);
  if (const auto interim = find_query_param(query, "interim")) {
    if (*interim != "103") {
      return "interim supports only 103, got '" + *interim + "'";
    }
    controls.early_hints = true;
  }
  return {};
}

std::string read_body_controls(std::string_view query, RequestControls& controls) {
  constexpr std::uint64_t kUnbounded = UINT64_MAX / 4;  // abort_after doubles it
  std::optional<std::uint64_t> status;
  if (auto error = read_count(query, "status", 599, status); !error.empty()) {
    return error;
  }
  if (status) {
    if (*status < 200) {
      return "status must be a final status code in 200..599, got " + std::to_string(*status);
    }
    controls.status = static_cast<unsigned>(*status);
  }
  if (auto error = read_count(query, "response_bytes", kUnbounded, controls.response_bytes);
      !error.empty()) {
    return error;
  }
  if (auto error = read_count(query, "abort_after", kUnbounded, controls.abort_after);
      !error.empty()) {
    return error;
  }
  std::optional<std::uint64_t> pause;
  if (auto error = read_count(query, "pause_ms", kMaxDelayMs, pause); !error.empty()) {
    return error;
  }
  controls.pause_ms = pause.value_or(0);
  if (auto error = read_flag(query, "chunked", controls.chunked); !error.empty()) {
    return error;
  }
  if (auto error = read_flag(query, "close_delimited", controls.close_delimited); !error.empty()) {
    return error;
  }
  if (controls.chunked && controls.close_delimited) {
    return "chunked and close_delimited are mutually exclusive";
  }
  if (controls.abort_after && controls.close_delimited) {
    return "abort_after cannot be combined with close_delimited (closing completes that body)";
  }
  if (controls.abort_after && controls.status && (*controls.status == 204 || *controls.status == 304)) {
    return "abort_after needs a status that allows a body";
  }
  return {};
}

}  // namespace

ControlsResult parse_controls(std::string_view query, ControlScope scope) {
  ControlsResult result;
  result.error = read_timing(query, result.controls);
  if (result.ok() && scope == ControlScope::full) {
    result.error = read_body_controls(query, result.controls);
  }
  return result;
}

}  // namespace cell::demo
