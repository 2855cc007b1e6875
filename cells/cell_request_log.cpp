#include "cell_request_log.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>

#include <poll.h>
#include <unistd.h>

namespace cell::demo {
namespace {

using Json = nlohmann::ordered_json;

// Keeps a log line below PIPE_BUF so concurrent writers (--threads) never interleave.
constexpr std::size_t kMaxLoggedPath = 1024;

std::string dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json optional_string(const std::optional<std::string>& value) {
  if (!value) {
    return nullptr;
  }
  return value->size() > kMaxLoggedPath ? value->substr(0, kMaxLoggedPath) : *value;
}

void write_all(const std::string& text) {
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;  // stdout is gone; logging is best effort
    }
    written += static_cast<std::size_t>(n);
  }
}

}  // namespace

std::string listening_line(std::string_view cell, std::string_view address, std::uint16_t port) {
  return dump(Json{{"event", "listening"}, {"cell", cell}, {"address", address}, {"port", port}});
}

std::string request_log_line(const RequestLogEntry& entry) {
  const double rounded_ms = std::round(entry.duration_ms * 1000.0) / 1000.0;
  return dump(Json{
      {"event", "request"},
      {"cell", entry.cell},
      {"method", entry.method},
      {"path", entry.path.substr(0, kMaxLoggedPath)},
      {"status", entry.status},
      {"body_bytes", entry.body_bytes},
      {"request_id", optional_string(entry.request_id)},
      {"routing_key", optional_string(entry.routing_key)},
      {"duration_ms", rounded_ms},
  });
}

std::string protocol_error_log_line(std::string_view cell, unsigned status, std::string_view error) {
  return dump(Json{{"event", "bad_request"}, {"cell", cell}, {"status", status}, {"error", error}});
}

void write_stdout_line(std::string line) {
  line.push_back('\n');
  write_all(line);
}

void emit_log_line(std::string line) {
  line.push_back('\n');
  pollfd target{STDOUT_FILENO, POLLOUT, 0};
  // POLLOUT on a pipe means at least PIPE_BUF bytes are free, so a short line cannot block.
  if (::poll(&target, 1, 0) != 1 || (target.revents & POLLOUT) == 0) {
    return;
  }
  write_all(line);
}

}  // namespace cell::demo
