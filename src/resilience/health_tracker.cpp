#include "cell/resilience/health_tracker.hpp"

#include <algorithm>
#include <limits>
#include <utility>

namespace cell::resilience {
namespace {

// A cell probed for years must not wrap its run back to 0 and flap.
void count_in_run(std::uint32_t& run) {
    if (run < std::numeric_limits<std::uint32_t>::max()) {
        ++run;
    }
}

}  // namespace

std::string_view to_string(HealthStatus status) {
    switch (status) {
    case HealthStatus::unknown:
        return "unknown";
    case HealthStatus::healthy:
        return "healthy";
    case HealthStatus::unhealthy:
        return "unhealthy";
    }
    return "unknown";
}

bool HealthTracker::record_probe(bool success, std::string detail, std::chrono::system_clock::time_point at,
                                 const HealthThresholds& thresholds) {
    const std::lock_guard lock(mutex_);
    ++probes_;
    last_success_ = success;
    last_detail_ = std::move(detail);
    last_probe_at_ = at;

    const HealthStatus current = status_.load(std::memory_order_relaxed);
    HealthStatus next = current;
    if (success) {
        consecutive_failures_ = 0;
        count_in_run(consecutive_successes_);
        if (consecutive_successes_ >= std::max<std::uint32_t>(thresholds.healthy_threshold, 1)) {
            next = HealthStatus::healthy;
        }
    } else {
        ++failed_probes_;
        consecutive_successes_ = 0;
        count_in_run(consecutive_failures_);
        if (consecutive_failures_ >= std::max<std::uint32_t>(thresholds.unhealthy_threshold, 1)) {
            next = HealthStatus::unhealthy;
        }
    }
    if (next == current) {
        return false;
    }
    status_.store(next, std::memory_order_relaxed);
    last_change_at_ = at;
    return true;
}

void HealthTracker::reset() {
    std::lock_guard lock(mutex_);
    consecutive_successes_ = 0;
    consecutive_failures_ = 0;
    probes_ = 0;
    failed_probes_ = 0;
    last_success_.reset();
    last_detail_.clear();
    last_probe_at_.reset();
    last_change_at_.reset();
    status_.store(HealthStatus::unknown, std::memory_order_relaxed);
}

HealthTracker::Snapshot HealthTracker::snapshot() const {
    const std::lock_guard lock(mutex_);
    return Snapshot{
        .status = status_.load(std::memory_order_relaxed),
        .consecutive_successes = consecutive_successes_,
        .consecutive_failures = consecutive_failures_,
        .probes = probes_,
        .failed_probes = failed_probes_,
        .last_success = last_success_,
        .last_detail = last_detail_,
        .last_probe_at = last_probe_at_,
        .last_change_at = last_change_at_,
    };
}

}  // namespace cell::resilience
