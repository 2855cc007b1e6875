#pragma once

#include "cell_echo_json.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cell::demo {

struct CellState;

enum class BodyKind { json, pattern };
enum class Framing { content_length, chunked, close_delimited };

// Everything needed to answer one request, decided before any byte is written.
struct ResponsePlan {
  unsigned status = 200;
  std::string content_type = "application/json";
  HeaderList headers;  // beyond Content-Type and X-Cell-Name
  BodyKind body_kind = BodyKind::json;
  std::string json;
  std::uint64_t pattern_bytes = 0;
  Framing framing = Framing::content_length;
  // When set: announce announced_length (or chunked), send this many bytes, then drop the socket.
  std::optional<std::uint64_t> abort_after;
  std::uint64_t announced_length = 0;
  bool close_after = false;           // the connection cannot be reused afterwards
  bool needs_pattern_digest = false;  // X-Body-Sha256 must be added before sending
  std::uint64_t delay_ms = 0;
  std::uint64_t pause_ms = 0;
  bool early_hints = false;
};

bool status_allows_body(unsigned status);

// Full length of the body the plan describes (before any abort truncation).
std::uint64_t full_body_length(const ResponsePlan& plan);

// Body bytes the writer actually sends for a non-HEAD request.
std::uint64_t bytes_to_send(const ResponsePlan& plan);

// `random_draw` in [0, 1) decides --fail-rate injection; passing it in keeps this testable.
// May flip state.healthy (POST /admin/health).
ResponsePlan plan_response(const RequestSummary& request, CellState& state, double random_draw,
                           std::string_view timestamp);

// Answer for a request that could not be parsed; the connection is closed after it.
ResponsePlan plan_error(std::string_view cell_name, unsigned status, std::string_view message);

}  // namespace cell::demo
