#include "cell_echo_json.hpp"

#include "cell_query.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>

namespace cell::demo {
namespace {

using Json = nlohmann::ordered_json;

// The headers a router is expected to forward or add, in the spelling the tests use as keys.
constexpr std::array<std::string_view, 7> kEchoedHeaders = {
    "X-Request-Id", "X-Routing-Key", "X-Forwarded-For", "X-Forwarded-Proto",
    "Host",         "User-Agent",    "Content-Type"};

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

// Clients may send bytes that are not UTF-8 (obs-text); replacing them beats throwing mid-request.
std::string dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::optional<std::string> header_value(const HeaderList& headers, std::string_view name) {
  std::optional<std::string> joined;
  for (const auto& [field, value] : headers) {
    if (!iequals(field, name)) {
      continue;
    }
    if (joined) {
      joined->append(", ").append(value);
    } else {
      joined = value;
    }
  }
  return joined;
}

std::string http_version_text(unsigned version) {
  return std::to_string(version / 10) + "." + std::to_string(version % 10);
}

std::string echo_body(const RequestSummary& request, std::string_view cell_name,
                      std::string_view timestamp) {
  const TargetParts parts = split_target(request.target);
  Json forwarded = Json::object();
  for (const std::string_view name : kEchoedHeaders) {
    if (auto value = header_value(request.headers, name)) {
      forwarded[std::string(name)] = std::move(*value);
    }
  }
  Json all = Json::array();
  for (const auto& [field, value] : request.headers) {
    all.push_back(Json::array({field, value}));
  }
  Json body = {
      {"cell", cell_name},
      {"message", "Hello from cell " + std::string(cell_name)},
      {"timestamp", timestamp},
      {"method", request.method},
      {"path", parts.path},
      {"query", parts.query},
      {"target", request.target},
      {"http_version", http_version_text(request.version)},
      {"headers", std::move(forwarded)},
      {"all_headers", std::move(all)},
      {"body_bytes", request.body_bytes},
      {"body_sha256", request.body_sha256},
  };
  return dump(body);
}

std::string health_body(std::string_view cell_name, bool healthy) {
  return dump(Json{{"status", healthy ? "healthy" : "unhealthy"}, {"cell", cell_name}});
}

std::string error_body(std::string_view cell_name, std::string_view message) {
  return dump(Json{{"error", message}, {"cell", cell_name}});
}

}  // namespace cell::demo
