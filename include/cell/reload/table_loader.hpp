#pragma once
// Reads a config file and turns it into a routing table, or explains why not. Shared by
// startup and the file poller so both apply exactly the same rules.

#include <cstdint>
#include <string>
#include <variant>

#include "cell/config/types.hpp"
#include "cell/routing/table.hpp"

namespace cell::reload {

struct LoadedTable {
    routing::TableConstPtr table;
    std::string content_hash;
};

struct LoadFailure {
    std::string reason;        // every error found, one line
    std::string content_hash;  // empty when the file could not be read
};

// The largest config file read_file accepts: a million routing keys take about 28 MiB.
inline constexpr std::uint64_t max_config_file_bytes = 64ull * 1024 * 1024;

// Reads the whole file; fails, with a reason naming the path, when it cannot be opened or read,
// is not a regular file, or is larger than max_config_file_bytes. Never blocks on a FIFO.
std::variant<std::string, LoadFailure> read_file(const std::string& path);

// Parses, validates and builds; `flag_overrides` are layered over the file's proxy settings.
// `source` labels the table's origin ("file", "control_plane", "cache") for /debug/config.
// `states`, when given, carries each placement's live state over from the previous table.
std::variant<LoadedTable, LoadFailure> build_table(const std::string& text, const std::string& content_hash,
                                                   const std::string& path,
                                                   const config::ProxySettingsOverrides& flag_overrides,
                                                   const std::string& source = "file",
                                                   resilience::PlacementStateRegistry* states = nullptr);

std::variant<LoadedTable, LoadFailure> load_table_file(const std::string& path,
                                                       const config::ProxySettingsOverrides& flag_overrides,
                                                       const std::string& source = "file",
                                                       resilience::PlacementStateRegistry* states = nullptr);

}  // namespace cell::reload
