#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cell::demo {

struct RequestLogEntry {
  std::string_view cell;
  std::string_view method;
  std::string_view path;
  unsigned status = 0;
  std::uint64_t body_bytes = 0;
  std::optional<std::string> request_id;
  std::optional<std::string> routing_key;
  double duration_ms = 0.0;
};

std::string listening_line(std::string_view cell, std::string_view address, std::uint16_t port);
std::string request_log_line(const RequestLogEntry& entry);
std::string protocol_error_log_line(std::string_view cell, unsigned status, std::string_view error);

// Appends '\n' and writes with one write(2), retrying until done: the listening line must arrive.
void write_stdout_line(std::string line);

// Same, but drops the line when stdout would block: a parent that stopped reading our pipe
// must never stall request handling.
void emit_log_line(std::string line);

}  // namespace cell::demo
