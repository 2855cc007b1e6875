#include "cell/observability/exposition.hpp"

#include <charconv>
#include <cmath>

namespace cell::observability {
namespace {

// HELP text escapes backslash and line feed only (a quote is fine there).
void append_help(std::string& out, std::string_view help) {
    for (const char c : help) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
}

std::string_view type_name(MetricType type) {
    switch (type) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
    }
    return "untyped";
}

}  // namespace

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (const char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string format_value(double value) {
    if (std::isnan(value)) {
        return "NaN";
    }
    if (std::isinf(value)) {
        return value > 0 ? "+Inf" : "-Inf";
    }
    // Plain decimals ("0.0005", not "5e-04") where they stay short, so that a bucket's `le`
    // reads the way people write it in queries; the shortest form that reads back exactly.
    const double magnitude = std::fabs(value);
    const bool plain = magnitude == 0 || (magnitude >= 1e-9 && magnitude < 1e15);
    char text[64];
    const auto [end, ec] = plain ? std::to_chars(text, text + sizeof text, value, std::chars_format::fixed)
                                 : std::to_chars(text, text + sizeof text, value);
    return std::string(text, end);
}

void Exposition::family(std::string_view name, MetricType type, std::string_view help) {
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    append_help(text_, help);
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += ' ';
    text_ += type_name(type);
    text_ += '\n';
}

void Exposition::series(std::string_view name, std::string_view suffix, Labels labels, std::string_view extra_name,
                        std::string_view extra_value) {
    text_ += name;
    text_ += suffix;
    if (labels.size() > 0 || !extra_name.empty()) {
        text_ += '{';
        bool first = true;
        auto add = [&](std::string_view label, std::string_view value) {
            if (!first) {
                text_ += ',';
            }
            first = false;
            text_ += label;
            text_ += "=\"";
            text_ += escape_label_value(value);
            text_ += '"';
        };
        for (const auto& [label, value] : labels) {
            add(label, value);
        }
        if (!extra_name.empty()) {
            add(extra_name, extra_value);
        }
        text_ += '}';
    }
    text_ += ' ';
}

void Exposition::sample(std::string_view name, Labels labels, std::uint64_t value) {
    series(name, "", labels, {}, {});
    text_ += std::to_string(value);
    text_ += '\n';
}

void Exposition::sample(std::string_view name, Labels labels, double value) {
    series(name, "", labels, {}, {});
    text_ += format_value(value);
    text_ += '\n';
}

void Exposition::histogram(std::string_view name, Labels labels, const HistogramCounts& counts) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < counts.buckets.size(); ++i) {
        cumulative += counts.buckets[i];
        const std::string bound =
            i < counts.bounds.size() ? format_value(counts.bounds[i]) : std::string("+Inf");
        series(name, "_bucket", labels, "le", bound);
        text_ += std::to_string(cumulative);
        text_ += '\n';
    }
    series(name, "_sum", labels, {}, {});
    text_ += format_value(counts.sum);
    text_ += '\n';
    series(name, "_count", labels, {}, {});
    text_ += std::to_string(cumulative);
    text_ += '\n';
}

}  // namespace cell::observability
