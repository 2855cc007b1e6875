#pragma once
// The standard process_* metrics every Prometheus client exports, read from /proc/self. The
// parsers take the files' text, so they are tested on samples. Beast-free.

#include <cstdint>
#include <optional>
#include <string_view>

#include "cell/observability/exposition.hpp"

namespace cell::observability {

// The fields of /proc/self/stat the metrics use, in the kernel's units.
struct ProcStat {
    std::uint64_t user_ticks = 0;
    std::uint64_t system_ticks = 0;
    std::uint64_t start_ticks = 0;  // after boot
    std::uint64_t virtual_bytes = 0;
    std::uint64_t resident_pages = 0;
};

// Parses /proc/[pid]/stat. The command name (field 2) may hold spaces and parentheses, so the
// fields are counted from its last ')'. nullopt when the text is cut short.
std::optional<ProcStat> parse_proc_stat(std::string_view text);

// The "btime" line of /proc/stat: boot time in seconds since the epoch.
std::optional<std::uint64_t> parse_boot_time(std::string_view proc_stat_text);

// The soft "Max open files" of /proc/[pid]/limits; nullopt when unlimited or absent.
std::optional<std::uint64_t> parse_max_open_files(std::string_view limits_text);

struct ProcessMetrics {
    double cpu_seconds = 0;
    std::uint64_t resident_memory_bytes = 0;
    std::uint64_t virtual_memory_bytes = 0;
    std::uint64_t open_fds = 0;
    std::optional<std::uint64_t> max_fds;
    double start_time_seconds = 0;
};

// Combines the parsed files into the metrics (ticks per second and page size from sysconf).
ProcessMetrics process_metrics_from(const ProcStat& stat, std::uint64_t boot_time, std::uint64_t open_fds,
                                    std::optional<std::uint64_t> max_fds, long ticks_per_second, long page_size);

// Reads /proc/self now; nullopt when /proc is not mounted.
std::optional<ProcessMetrics> read_process_metrics();

// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds (when limited), process_start_time_seconds.
void write_process_metrics(Exposition& out, const ProcessMetrics& metrics);

}  // namespace cell::observability
