#pragma once
// JSON-lines logging on top of spdlog. Two loggers write to stdout through one buffered sink:
// "events" (startup, reloads, errors), through spdlog's background thread, each line written at
// once; and "access" (one line per request, can be switched off), whose lines the access log's
// writer thread formats off the workers and writes in batches (proxy/access_log.hpp).
//
// Thread safety: init_logging() runs once in main before any thread starts; everything else
// may be called from any thread.

#include <chrono>
#include <optional>
#include <string_view>

#include <spdlog/common.h>

#include "cell/observability/json_line.hpp"

namespace cell::observability {

using Level = spdlog::level::level_enum;

std::optional<Level> parse_log_level(std::string_view name);

void init_logging(Level level, bool access_log_enabled);
void flush_logging();
void shutdown_logging();

bool event_enabled(Level level);
bool access_log_enabled();

// A line that already carries "timestamp", "level" and "event".
JsonLine event_line(Level level, std::string_view event);
// The same for something that happened at `at`, written later (the access log).
JsonLine event_line_at(Level level, std::string_view event, std::chrono::system_clock::time_point at);
void emit_event(Level level, JsonLine&& line);
// Access lines are buffered until flush_access_log() (or 64 KiB of them): the access log's
// writer calls it once per batch, so a batch of lines costs one write, not one per line. Both
// run on the calling thread and may wait for stdout: never call them from a worker.
void emit_access(JsonLine&& line);
void flush_access_log();

// Shorthand for events with only a message.
void log_event(Level level, std::string_view event, std::string_view message);

}  // namespace cell::observability
