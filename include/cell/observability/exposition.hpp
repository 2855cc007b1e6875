#pragma once
// The Prometheus text exposition format, version 0.0.4: what GET /metrics answers on the
// router's admin port and on the control plane. Written by hand, small, because Debian 12 has
// no client library for C++. Beast-free.
//
// Families must be written whole, one after the other: family() starts one (its # HELP and
// # TYPE lines), then every sample of it follows before the next family().

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "cell/observability/histogram.hpp"

namespace cell::observability {

inline constexpr std::string_view exposition_content_type = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { counter, gauge, histogram };

// One label: name and (unescaped) value.
using Label = std::pair<std::string_view, std::string_view>;
using Labels = std::initializer_list<Label>;

// A label value as the format wants it: backslash, double quote and line feed escaped.
std::string escape_label_value(std::string_view value);

// A sample value: integers exactly, other numbers in their shortest round-trip form, and
// +Inf, -Inf and NaN by name.
std::string format_value(double value);

class Exposition {
public:
    void family(std::string_view name, MetricType type, std::string_view help);
    void sample(std::string_view name, Labels labels, std::uint64_t value);
    void sample(std::string_view name, Labels labels, double value);
    // name_bucket{...,le="..."} cumulative per bound and +Inf, then name_sum and name_count.
    void histogram(std::string_view name, Labels labels, const HistogramCounts& counts);

    const std::string& text() const { return text_; }
    std::string take() { return std::move(text_); }

private:
    void series(std::string_view name, std::string_view suffix, Labels labels, std::string_view extra_name,
                std::string_view extra_value);

    std::string text_;
};

}  // namespace cell::observability
