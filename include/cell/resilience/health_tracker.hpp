#pragma once
// Result bookkeeping of a placement's active health checks, with hysteresis: the status turns
// healthy after `healthy_threshold` consecutive successful probes and unhealthy after
// `unhealthy_threshold` consecutive failed ones. Before that, it is unknown, which routes (fail
// open: a router that just started must not refuse every cell until the first probes return).
//
// Thread safety: routable() and status() may be called from any thread and are lock-free (the
// request path). record_probe() is called by the prober; snapshot() by the debug endpoint. Both
// take a small mutex, which the request path never does.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace cell::resilience {

enum class HealthStatus : std::uint8_t { unknown, healthy, unhealthy };

// "unknown", "healthy", "unhealthy".
std::string_view to_string(HealthStatus status);

// Passed to every probe rather than stored, because a config reload may change them while the
// counts carry on. 0 behaves as 1.
struct HealthThresholds {
    std::uint32_t healthy_threshold = 2;
    std::uint32_t unhealthy_threshold = 3;
};

class HealthTracker {
public:
    HealthStatus status() const { return status_.load(std::memory_order_relaxed); }

    // Unknown counts as routable: fail open before the first probes.
    bool routable() const { return status() != HealthStatus::unhealthy; }

    // `detail` says what the probe saw ("200", "connect refused"), for the debug endpoint.
    // Returns true when the status changed, so that the prober logs transitions.
    bool record_probe(bool success, std::string detail, std::chrono::system_clock::time_point at,
                      const HealthThresholds& thresholds);

    // Back to unknown with no history: a health check added to a placement again must not
    // inherit the verdict of one that was removed.
    void reset();

    struct Snapshot {
        HealthStatus status;
        std::uint32_t consecutive_successes;
        std::uint32_t consecutive_failures;
        std::uint64_t probes;
        std::uint64_t failed_probes;
        std::optional<bool> last_success;  // unset before the first probe
        std::string last_detail;
        std::optional<std::chrono::system_clock::time_point> last_probe_at;
        std::optional<std::chrono::system_clock::time_point> last_change_at;  // unset while never changed
    };
    Snapshot snapshot() const;

private:
    // Relaxed: the status is read on its own; the details the request path never reads sit
    // behind the mutex.
    std::atomic<HealthStatus> status_{HealthStatus::unknown};

    mutable std::mutex mutex_;  // guards everything below, and orders status_ changes
    std::uint32_t consecutive_successes_ = 0;
    std::uint32_t consecutive_failures_ = 0;
    std::uint64_t probes_ = 0;
    std::uint64_t failed_probes_ = 0;
    std::optional<bool> last_success_;
    std::string last_detail_;
    std::optional<std::chrono::system_clock::time_point> last_probe_at_;
    std::optional<std::chrono::system_clock::time_point> last_change_at_;
};

}  // namespace cell::resilience
