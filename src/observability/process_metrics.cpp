#include "cell/observability/process_metrics.hpp"

#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace cell::observability {
namespace {

std::optional<std::uint64_t> parse_unsigned(std::string_view text) {
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

std::vector<std::string_view> split_spaces(std::string_view text) {
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) {
            ++i;
        }
        const std::size_t start = i;
        while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n') {
            ++i;
        }
        if (i > start) {
            words.push_back(text.substr(start, i - start));
        }
    }
    return words;
}

std::optional<std::string> slurp(const char* path) {
    std::ifstream in(path);
    if (!in) {
        return std::nullopt;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
    const auto close = text.rfind(')');
    if (close == std::string_view::npos) {
        return std::nullopt;
    }
    // Field 3 (the state) is the first word after the command name.
    const auto fields = split_spaces(text.substr(close + 1));
    auto field = [&](std::size_t number) -> std::optional<std::uint64_t> {
        const std::size_t index = number - 3;
        return index < fields.size() ? parse_unsigned(fields[index]) : std::nullopt;
    };
    const auto utime = field(14), stime = field(15), start = field(22), vsize = field(23), rss = field(24);
    if (!utime || !stime || !start || !vsize || !rss) {
        return std::nullopt;
    }
    return ProcStat{*utime, *stime, *start, *vsize, *rss};
}

std::optional<std::uint64_t> parse_boot_time(std::string_view proc_stat_text) {
    std::size_t line_start = 0;
    while (line_start < proc_stat_text.size()) {
        auto line_end = proc_stat_text.find('\n', line_start);
        if (line_end == std::string_view::npos) {
            line_end = proc_stat_text.size();
        }
        const auto words = split_spaces(proc_stat_text.substr(line_start, line_end - line_start));
        if (words.size() == 2 && words[0] == "btime") {
            return parse_unsigned(words[1]);
        }
        line_start = line_end + 1;
    }
    return std::nullopt;
}

std::optional<std::uint64_t> parse_max_open_files(std::string_view limits_text) {
    constexpr std::string_view name = "Max open files";
    const auto at = limits_text.find(name);
    if (at == std::string_view::npos) {
        return std::nullopt;
    }
    auto line_end = limits_text.find('\n', at);
    if (line_end == std::string_view::npos) {
        line_end = limits_text.size();
    }
    const auto words = split_spaces(limits_text.substr(at + name.size(), line_end - at - name.size()));
    // Soft limit, hard limit, unit.
    if (words.empty()) {
        return std::nullopt;
    }
    return parse_unsigned(words[0]);
}

ProcessMetrics process_metrics_from(const ProcStat& stat, std::uint64_t boot_time, std::uint64_t open_fds,
                                    std::optional<std::uint64_t> max_fds, long ticks_per_second, long page_size) {
    const double ticks = ticks_per_second > 0 ? static_cast<double>(ticks_per_second) : 100.0;
    ProcessMetrics metrics;
    metrics.cpu_seconds = static_cast<double>(stat.user_ticks + stat.system_ticks) / ticks;
    metrics.resident_memory_bytes = stat.resident_pages * static_cast<std::uint64_t>(page_size > 0 ? page_size : 4096);
    metrics.virtual_memory_bytes = stat.virtual_bytes;
    metrics.open_fds = open_fds;
    metrics.max_fds = max_fds;
    metrics.start_time_seconds = static_cast<double>(boot_time) + static_cast<double>(stat.start_ticks) / ticks;
    return metrics;
}

std::optional<ProcessMetrics> read_process_metrics() {
    const auto stat_text = slurp("/proc/self/stat");
    const auto system_text = slurp("/proc/stat");
    if (!stat_text || !system_text) {
        return std::nullopt;
    }
    const auto stat = parse_proc_stat(*stat_text);
    const auto boot_time = parse_boot_time(*system_text);
    if (!stat || !boot_time) {
        return std::nullopt;
    }
    std::uint64_t open_fds = 0;
    std::error_code ec;
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) {
        ++open_fds;
    }
    // The directory's own descriptor, open while we count, is not one of the process's.
    if (open_fds > 0) {
        --open_fds;
    }
    const auto limits_text = slurp("/proc/self/limits");
    const auto max_fds = limits_text ? parse_max_open_files(*limits_text) : std::nullopt;
    return process_metrics_from(*stat, *boot_time, open_fds, max_fds, ::sysconf(_SC_CLK_TCK), ::sysconf(_SC_PAGESIZE));
}

void write_process_metrics(Exposition& out, const ProcessMetrics& metrics) {
    out.family("process_cpu_seconds_total", MetricType::counter, "Total user and system CPU time spent in seconds.");
    out.sample("process_cpu_seconds_total", {}, metrics.cpu_seconds);
    out.family("process_resident_memory_bytes", MetricType::gauge, "Resident memory size in bytes.");
    out.sample("process_resident_memory_bytes", {}, metrics.resident_memory_bytes);
    out.family("process_virtual_memory_bytes", MetricType::gauge, "Virtual memory size in bytes.");
    out.sample("process_virtual_memory_bytes", {}, metrics.virtual_memory_bytes);
    out.family("process_open_fds", MetricType::gauge, "Number of open file descriptors.");
    out.sample("process_open_fds", {}, metrics.open_fds);
    if (metrics.max_fds) {
        out.family("process_max_fds", MetricType::gauge, "Maximum number of open file descriptors.");
        out.sample("process_max_fds", {}, *metrics.max_fds);
    }
    out.family("process_start_time_seconds", MetricType::gauge,
               "Start time of the process since unix epoch in seconds.");
    out.sample("process_start_time_seconds", {}, metrics.start_time_seconds);
}

}  // namespace cell::observability
