#include "cell/resilience/placement_state.hpp"

#include <algorithm>

#include "cell/observability/log.hpp"

namespace cell::resilience {

void PlacementState::note_fail_open(std::string_view serving, std::string_view routed, SteadyClock::time_point now) {
    using observability::Level;
    const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    std::int64_t last = last_fail_open_log_ns_.load(std::memory_order_relaxed);
    if (last != std::numeric_limits<std::int64_t>::min() && now_ns - last < 1'000'000'000) {
        return;
    }
    if (!last_fail_open_log_ns_.compare_exchange_strong(last, now_ns, std::memory_order_relaxed)) {
        return;  // another thread logs this second
    }
    observability::emit_event(Level::warn, std::move(observability::event_line(Level::warn, "fail_open")
                                                         .add("placement", serving)
                                                         .add("routed_placement", routed)
                                                         .add("reason", "no healthy placement left; serving despite failing health checks")));
}

PlacementStatePtr PlacementStateRegistry::state_for(std::string_view name, std::string_view url,
                                                    bool health_checked) {
    std::lock_guard lock(mutex_);
    auto it = states_.find(std::string(name));
    if (it != states_.end() && it->second.state->url == url) {
        Entry& entry = it->second;
        if (health_checked && !entry.health_checked) {
            entry.state->health.reset();
        }
        entry.health_checked = health_checked;
        return entry.state;
    }
    auto state = std::make_shared<PlacementState>(std::string(url));
    states_.insert_or_assign(std::string(name), Entry{state, health_checked});
    return state;
}

void PlacementStateRegistry::adopt(std::string_view name, PlacementStatePtr state, bool health_checked) {
    std::lock_guard lock(mutex_);
    states_.insert_or_assign(std::string(name), Entry{std::move(state), health_checked});
}

void PlacementStateRegistry::retain_only(const std::vector<std::string_view>& names) {
    std::lock_guard lock(mutex_);
    std::erase_if(states_, [&](const auto& entry) {
        return std::find(names.begin(), names.end(), entry.first) == names.end();
    });
}

}  // namespace cell::resilience
