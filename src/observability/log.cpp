#include "cell/observability/log.hpp"

#include <chrono>
#include <memory>

#include <unistd.h>

#include <spdlog/async.h>
#include <spdlog/spdlog.h>

#include "cell/observability/stdout_line_sink.hpp"
#include "cell/util/time_format.hpp"

namespace cell::observability {
namespace {

// spdlog constructs every slot up front (about 400 bytes each), so the queue is resident memory
// from the start: 32,768 slots were 13 MB of a router at rest. Only events go through it, and
// the workers log only rare ones.
constexpr std::size_t queue_slots = 1024;

std::shared_ptr<spdlog::logger> events_logger() {
    auto logger = spdlog::get("events");
    return logger ? logger : spdlog::default_logger();
}

std::shared_ptr<spdlog::logger> access_logger() {
    auto logger = spdlog::get("access");
    return logger ? logger : spdlog::default_logger();
}

std::string_view level_name(Level level) {
    const auto name = spdlog::level::to_string_view(level);
    return {name.data(), name.size()};
}

}  // namespace

std::optional<Level> parse_log_level(std::string_view name) {
    for (int i = 0; i < spdlog::level::n_levels; ++i) {
        const auto level = static_cast<Level>(i);
        if (level_name(level) == name) {
            return level;
        }
    }
    // spdlog names these "warning" and "error"; the short forms are what --help lists.
    if (name == "warn" || name == "warning") {
        return Level::warn;
    }
    if (name == "error") {
        return Level::err;
    }
    return std::nullopt;
}

void init_logging(Level level, bool access_log_on) {
    spdlog::init_thread_pool(queue_slots, 1);
    auto sink = std::make_shared<StdoutLineSink>(STDOUT_FILENO);
    sink->set_pattern("%v");
    // Events go through spdlog's thread, so that no caller waits for stdout; blocking when its
    // queue is full keeps every line. Each event line is written at once.
    auto events = std::make_shared<spdlog::async_logger>("events", sink, spdlog::thread_pool(),
                                                         spdlog::async_overflow_policy::block);
    events->set_level(level);
    events->flush_on(Level::trace);
    spdlog::register_logger(events);
    // Access lines are already off the workers: the access log's writer thread appends them to
    // the sink itself and flushes once per batch (flush_access_log). Through spdlog's thread,
    // each line was one more copy and, with the stdout sink's flush per line, one write(2) per
    // request.
    auto access = std::make_shared<spdlog::logger>("access", sink);
    access->set_level(access_log_on ? Level::info : Level::off);
    access->flush_on(Level::off);
    spdlog::register_logger(access);
    spdlog::set_default_logger(events);
}

void flush_logging() {
    events_logger()->flush();
    access_logger()->flush();
}

void shutdown_logging() {
    flush_logging();
    // Queued lines hold the loggers too. Holding them here until spdlog::shutdown() has joined its
    // thread makes this thread, not the logging thread, the one that destroys them, after a join
    // that orders everything the logging thread did before it.
    const auto events = events_logger();
    const auto access = access_logger();
    spdlog::shutdown();
}

bool event_enabled(Level level) { return events_logger()->should_log(level); }

bool access_log_enabled() { return access_logger()->should_log(Level::info); }

JsonLine event_line(Level level, std::string_view event) {
    return event_line_at(level, event, std::chrono::system_clock::now());
}

JsonLine event_line_at(Level level, std::string_view event, std::chrono::system_clock::time_point at) {
    JsonLine line;
    line.add("timestamp", util::format_rfc3339(at));
    line.add("level", level_name(level));
    line.add("event", event);
    return line;
}

void emit_event(Level level, JsonLine&& line) {
    events_logger()->log(level, std::move(line).finish());
}

void emit_access(JsonLine&& line) { access_logger()->info(std::move(line).finish()); }

void flush_access_log() { access_logger()->flush(); }

void log_event(Level level, std::string_view event, std::string_view message) {
    if (!event_enabled(level)) {
        return;
    }
    emit_event(level, std::move(event_line(level, event).add("message", message)));
}

}  // namespace cell::observability
