#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cell::demo {

// Test knobs carried in the query string of a request.
struct RequestControls {
  std::uint64_t delay_ms = 0;            // wait before the final response headers
  bool early_hints = false;              // interim=103
  std::optional<unsigned> status;        // final status, 200..599
  std::optional<std::uint64_t> response_bytes;  // generated body instead of JSON
  bool chunked = false;
  bool close_delimited = false;
  std::uint64_t pause_ms = 0;            // between 64 KiB pieces of the body
  std::optional<std::uint64_t> abort_after;  // body bytes to send before dropping the connection
};

// /health and /admin/* use `status` for their own meaning, so only the timing knobs apply there.
enum class ControlScope { timing_only, full };

struct ControlsResult {
  RequestControls controls;
  std::string error;  // empty when the query was valid
  bool ok() const { return error.empty(); }
};

inline constexpr std::uint64_t kMaxDelayMs = 3'600'000;

ControlsResult parse_controls(std::string_view query, ControlScope scope);

}  // namespace cell::demo
