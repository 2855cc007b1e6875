#pragma once
// Builds one JSON object on one line without a DOM: log lines are written on worker threads,
// so this appends straight into a growing buffer and escapes as it goes.

#include <cstdint>
#include <string>
#include <string_view>

namespace cell::observability {

class JsonLine {
public:
    JsonLine() { text_.reserve(256); text_.push_back('{'); }

    JsonLine& add(std::string_view key, std::string_view value);
    JsonLine& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
    JsonLine& add(std::string_view key, const std::string& value) { return add(key, std::string_view(value)); }
    JsonLine& add(std::string_view key, std::int64_t value);
    JsonLine& add(std::string_view key, std::uint64_t value);
    JsonLine& add(std::string_view key, int value) { return add(key, static_cast<std::int64_t>(value)); }
    JsonLine& add(std::string_view key, unsigned value) { return add(key, static_cast<std::uint64_t>(value)); }
    JsonLine& add(std::string_view key, double value);
    JsonLine& add(std::string_view key, bool value);
    // Inserts already-serialized JSON (an object or array) as the value.
    JsonLine& add_raw(std::string_view key, std::string_view json);

    // Closes the object; the builder must not be used afterwards.
    std::string finish() &&;

private:
    void key(std::string_view key);
    std::string text_;
};

// Appends `value` to `out` as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view value);

}  // namespace cell::observability
