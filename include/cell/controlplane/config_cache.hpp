#pragma once
// The router's on-disk copy of the last snapshot it applied from the control plane, so a
// router restarted while the control plane is down comes up with the last pushed config
// instead of its stale bootstrap file.

#include <cstdint>
#include <string>
#include <variant>

#include "cell/config/types.hpp"
#include "cell/reload/table_loader.hpp"

namespace cell::controlplane {

// Writes `text` to `path` atomically: a temporary file in the same directory, fsync, rename,
// fsync of the directory. Returns an error message, or "" on success.
std::string write_cache_atomically(const std::string& path, const std::string& text);

// The store revision of the snapshot cached at `path` (0 when there is none or it has none): a
// router that starts from its cache must not then apply an older snapshot than the one cached.
std::uint64_t cached_snapshot_revision(const std::string& path);

struct StartupChoice {
    reload::LoadedTable loaded;
    std::string notice;  // why this source was chosen (logged)
};

// Picks the table a control-plane-managed router starts with: the cache when it is valid and
// newer (modification time) than the bootstrap file, or when the bootstrap is unusable;
// otherwise the bootstrap file. A corrupt or unreadable cache is ignored, with the reason in
// `notice`. Fails only when neither is usable.
std::variant<StartupChoice, reload::LoadFailure> choose_startup_table(
    const std::string& bootstrap_path, const std::string& cache_path,
    const config::ProxySettingsOverrides& flag_overrides);

}  // namespace cell::controlplane
