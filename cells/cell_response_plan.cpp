#include "cell_response_plan.hpp"

#include "cell_controls.hpp"
#include "cell_query.hpp"
#include "cell_state.hpp"

#include <algorithm>
#include <charconv>

#include <nlohmann/json.hpp>

namespace cell::demo {
namespace {

constexpr std::string_view kHealthPath = "/health";
constexpr std::string_view kAdminPrefix = "/admin/";
constexpr std::string_view kAdminHealthPath = "/admin/health";
constexpr std::string_view kAdminFailRatePath = "/admin/fail-rate";

ResponsePlan json_plan(unsigned status, std::string body) {
  ResponsePlan plan;
  plan.status = status;
  plan.json = std::move(body);
  return plan;
}

std::string fail_rate_body(std::string_view cell_name, double rate) {
  return nlohmann::json{{"fail_rate", rate}, {"cell", cell_name}}.dump();
}

// GET shows the share of requests answered 500; POST ?rate=F (0..1) sets it.
ResponsePlan plan_fail_rate(const RequestSummary& request, std::string_view query, CellState& state) {
  if (request.method == "GET" || request.method == "HEAD") {
    return json_plan(200, fail_rate_body(state.name, state.fail_rate.load()));
  }
  if (request.method != "POST" && request.method != "PUT") {
    ResponsePlan plan = json_plan(405, error_body(state.name, "use POST /admin/fail-rate?rate=0..1"));
    plan.headers.emplace_back("Allow", "GET, HEAD, POST, PUT");
    return plan;
  }
  const std::string text = find_query_param(query, "rate").value_or("");
  double rate = -1.0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), rate);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !(rate >= 0.0 && rate <= 1.0)) {
    return json_plan(400, error_body(state.name, "rate must be a number from 0 to 1"));
  }
  state.fail_rate.store(rate);
  return json_plan(200, fail_rate_body(state.name, rate));
}

ResponsePlan plan_admin(const RequestSummary& request, std::string_view path, std::string_view query,
                        CellState& state) {
  if (path == kAdminFailRatePath) {
    return plan_fail_rate(request, query, state);
  }
  if (path != kAdminHealthPath) {
    return json_plan(404, error_body(state.name, "unknown admin endpoint"));
  }
  if (request.method == "GET" || request.method == "HEAD") {
    return json_plan(200, health_body(state.name, state.healthy.load()));
  }
  if (request.method != "POST" && request.method != "PUT") {
    ResponsePlan plan = json_plan(405, error_body(state.name, "use POST /admin/health?status=fail|ok"));
    plan.headers.emplace_back("Allow", "GET, HEAD, POST, PUT");
    return plan;
  }
  const auto wanted = find_query_param(query, "status");
  if (wanted == "fail") {
    state.healthy.store(false);
  } else if (wanted == "ok") {
    state.healthy.store(true);
  } else {
    return json_plan(400, error_body(state.name, "status must be 'fail' or 'ok'"));
  }
  return json_plan(200, health_body(state.name, state.healthy.load()));
}

void apply_body_controls(const RequestControls& controls, const RequestSummary& request,
                         ResponsePlan& plan) {
  plan.status = controls.status.value_or(200);
  plan.pause_ms = controls.pause_ms;
  // HTTP/1.0 has no chunked coding; Content-Length keeps such a client's response framed.
  const bool chunked = controls.chunked && request.version >= 11;
  if (controls.abort_after) {
    plan.abort_after = controls.abort_after;
    plan.close_after = true;
    if (*controls.abort_after > 0) {
      plan.body_kind = BodyKind::pattern;
      plan.pattern_bytes = *controls.abort_after;
      plan.content_type = "application/octet-stream";
    }
    // Announcing twice what is sent guarantees the drop lands mid-body.
    const std::uint64_t sent = *controls.abort_after;
    plan.announced_length = sent > 0 ? 2 * sent : 2 * plan.json.size();
    plan.framing = chunked ? Framing::chunked : Framing::content_length;
    return;
  }
  if (controls.response_bytes) {
    plan.body_kind = BodyKind::pattern;
    plan.pattern_bytes = *controls.response_bytes;
    plan.content_type = "application/octet-stream";
    plan.needs_pattern_digest = status_allows_body(plan.status);
  }
  if (controls.close_delimited) {
    plan.framing = Framing::close_delimited;
    plan.close_after = true;
  } else if (chunked) {
    plan.framing = Framing::chunked;
  }
}

}  // namespace

bool status_allows_body(unsigned status) {
  return status >= 200 && status != 204 && status != 304;
}

std::uint64_t full_body_length(const ResponsePlan& plan) {
  return plan.body_kind == BodyKind::json ? plan.json.size() : plan.pattern_bytes;
}

std::uint64_t bytes_to_send(const ResponsePlan& plan) {
  if (!status_allows_body(plan.status)) {
    return 0;
  }
  const std::uint64_t full = full_body_length(plan);
  return plan.abort_after ? std::min(*plan.abort_after, full) : full;
}

ResponsePlan plan_response(const RequestSummary& request, CellState& state, double random_draw,
                           std::string_view timestamp) {
  const TargetParts parts = split_target(request.target);
  const bool is_health = parts.path == kHealthPath;
  const bool is_admin = parts.path.starts_with(kAdminPrefix);
  const ControlsResult parsed = parse_controls(
      parts.query, is_health || is_admin ? ControlScope::timing_only : ControlScope::full);
  if (!parsed.ok()) {
    return json_plan(400, error_body(state.name, parsed.error));
  }

  ResponsePlan plan;
  if (is_health) {
    const bool healthy = state.healthy.load();
    plan = json_plan(healthy ? 200 : 503, health_body(state.name, healthy));
  } else if (is_admin) {
    plan = plan_admin(request, parts.path, parts.query, state);
  } else if (const double fail_rate = state.fail_rate.load(); fail_rate > 0.0 && random_draw < fail_rate) {
    plan = json_plan(500, error_body(state.name, "injected failure"));
  } else {
    plan = json_plan(200, echo_body(request, state.name, timestamp));
    apply_body_controls(parsed.controls, request, plan);
  }
  plan.delay_ms = parsed.controls.delay_ms;
  // 1.0 clients cannot parse interim responses.
  plan.early_hints = parsed.controls.early_hints && request.version >= 11;
  return plan;
}

ResponsePlan plan_error(std::string_view cell_name, unsigned status, std::string_view message) {
  ResponsePlan plan = json_plan(status, error_body(cell_name, message));
  plan.close_after = true;
  return plan;
}

}  // namespace cell::demo
