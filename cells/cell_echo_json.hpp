#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cell::demo {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// What the cell learned about one request, independent of the HTTP library.
struct RequestSummary {
  std::string method;
  std::string target;
  unsigned version = 11;  // 10 or 11
  HeaderList headers;     // in arrival order, names as written by the client
  std::uint64_t body_bytes = 0;
  std::string body_sha256;
};

// Case-insensitive lookup; repeated fields are joined with ", " as HTTP allows.
std::optional<std::string> header_value(const HeaderList& headers, std::string_view name);

std::string echo_body(const RequestSummary& request, std::string_view cell_name,
                      std::string_view timestamp);
std::string health_body(std::string_view cell_name, bool healthy);
std::string error_body(std::string_view cell_name, std::string_view message);

std::string http_version_text(unsigned version);

}  // namespace cell::demo
