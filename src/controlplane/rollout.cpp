#include "cell/controlplane/rollout.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "cell/config/duration.hpp"

namespace cell::controlplane {
namespace {

std::string percent(double rate) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f%%", rate * 100.0);
    return text;
}

std::uint64_t fnv1a(std::string_view salt, std::string_view text) {
    std::uint64_t hash = 14695981039346656037ull;
    const auto mix = [&](std::string_view part) {
        for (const char c : part) {
            hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
        }
    };
    mix(salt);
    hash *= 1099511628211ull;  // a separator, so ("ab", "c") and ("a", "bc") differ
    mix(text);
    return hash;
}

}  // namespace

std::variant<CanarySpec, std::string> parse_canary_spec(std::string_view text) {
    if (text.empty() || text.size() > 256) {
        return std::string("a canary set is a share such as 10% or a node-id pattern such as edge-a-*, 1 to 256 characters");
    }
    CanarySpec spec;
    spec.text = std::string(text);
    if (text.back() == '%') {
        const std::string_view digits = text.substr(0, text.size() - 1);
        double value = 0;
        std::size_t seen = 0;
        bool point = false;
        double scale = 1;
        for (const char c : digits) {
            if (c == '.' && !point) {
                point = true;
            } else if (c >= '0' && c <= '9') {
                ++seen;
                if (point) {
                    scale /= 10;
                    value += (c - '0') * scale;
                } else {
                    value = value * 10 + (c - '0');
                }
            } else {
                seen = 0;
                break;
            }
            if (value > 100) {
                break;
            }
        }
        if (seen == 0 || !(value > 0 && value <= 100)) {
            return "canary share must be more than 0% and at most 100%: \"" + std::string(text) + "\"";
        }
        spec.share = value / 100.0;
        return spec;
    }
    for (const char c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            return std::string("a canary pattern must not hold control characters");
        }
    }
    spec.pattern = std::string(text);
    return spec;
}

// Glob with `*` and `?`, iterative with one backtrack point: linear in practice, never
// exponential whatever the pattern.
bool matches_node_pattern(std::string_view pattern, std::string_view node_id) {
    std::size_t p = 0;
    std::size_t n = 0;
    std::size_t star = std::string_view::npos;
    std::size_t resume = 0;
    while (n < node_id.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == node_id[n])) {
            ++p;
            ++n;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = n;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            n = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') {
        ++p;
    }
    return p == pattern.size();
}

std::vector<std::string> choose_canaries(const CanarySpec& spec, const std::vector<std::string>& connected,
                                         std::string_view salt) {
    std::vector<std::string> ids = connected;
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    if (!spec.pattern.empty()) {
        std::erase_if(ids, [&](const std::string& id) { return !matches_node_pattern(spec.pattern, id); });
        return ids;
    }
    if (ids.empty()) {
        return ids;
    }
    const auto wanted = std::clamp<std::size_t>(
        static_cast<std::size_t>(std::ceil(spec.share * static_cast<double>(ids.size()) - 1e-9)), 1, ids.size());
    std::stable_sort(ids.begin(), ids.end(), [&](const std::string& a, const std::string& b) {
        return fnv1a(salt, a) < fnv1a(salt, b);
    });
    ids.resize(wanted);
    std::sort(ids.begin(), ids.end());
    return ids;
}

std::string_view to_string(RolloutPhase phase) {
    switch (phase) {
        case RolloutPhase::canary:
            return "canary";
        case RolloutPhase::soaking:
            return "soaking";
        case RolloutPhase::promoting:
            return "promoting";
        case RolloutPhase::promoted:
            return "promoted";
        case RolloutPhase::halted:
            return "halted";
    }
    return "unknown";
}

Rollout::Rollout(RolloutPlan plan, RolloutTime now) : plan_(std::move(plan)) {
    state_.started_at = now;
    std::string names;
    for (const auto& id : plan_.canaries) {
        names += (names.empty() ? "" : ", ") + id;
    }
    step(now, "pushed " + plan_.candidate_version + " to " + std::to_string(plan_.canaries.size()) + " canar" +
                  (plan_.canaries.size() == 1 ? "y" : "ies") + " (" + names + "); the rest stay on " +
                  plan_.stable_version);
}

bool Rollout::is_canary(std::string_view node_id) const {
    return std::binary_search(plan_.canaries.begin(), plan_.canaries.end(), node_id);
}

void Rollout::on_ack(std::string_view node_id, RolloutTime now) {
    if (state_.phase != RolloutPhase::canary || !is_canary(node_id) || !state_.acked.emplace(node_id).second) {
        return;
    }
    if (state_.acked.size() == plan_.canaries.size()) {
        state_.phase = RolloutPhase::soaking;
        state_.soak_ends_at = now + plan_.soak;
        step(now, "every canary acked; soaking for " + config::format_duration(plan_.soak));
    }
}

void Rollout::on_nack(std::string_view node_id, std::string_view error, RolloutTime now) {
    if (!canaries_on_candidate() || state_.phase == RolloutPhase::promoting || !is_canary(node_id)) {
        return;
    }
    halt("canary " + std::string(node_id) + " refused " + plan_.candidate_version + ": " + std::string(error), now);
}

void Rollout::on_counts(RolloutCounts canaries, RolloutCounts others, RolloutTime now) {
    if (state_.phase != RolloutPhase::soaking) {
        return;
    }
    state_.canary_counts = canaries;
    state_.other_counts = others;
    if (std::string reason = spike(); !reason.empty()) {
        halt(std::move(reason), now);
    }
}

std::string Rollout::spike() const {
    if (state_.canary_counts.requests < plan_.min_requests) {
        return {};
    }
    const double canary_rate = state_.canary_counts.error_rate();
    const double other_rate = state_.other_counts.error_rate();
    if (canary_rate <= other_rate + plan_.error_margin) {
        return {};
    }
    return "error spike on the canaries: " + percent(canary_rate) + " of " + std::to_string(state_.canary_counts.requests) +
           " requests failed on " + plan_.candidate_version + ", against " + percent(other_rate) + " of " +
           std::to_string(state_.other_counts.requests) + " on " + plan_.stable_version + " elsewhere (margin " +
           percent(plan_.error_margin) + ")";
}

bool Rollout::tick(RolloutTime now) {
    if (state_.phase == RolloutPhase::canary && now >= state_.started_at + plan_.ack_timeout) {
        std::string missing;
        for (const auto& id : plan_.canaries) {
            if (!state_.acked.contains(id)) {
                missing += (missing.empty() ? "" : ", ") + id;
            }
        }
        halt("canaries did not ack " + plan_.candidate_version + " within " +
                 config::format_duration(plan_.ack_timeout) + ": " + missing,
             now);
        return false;
    }
    if (state_.phase != RolloutPhase::soaking || now < *state_.soak_ends_at) {
        return false;
    }
    state_.phase = RolloutPhase::promoting;
    const std::string compared =
        state_.canary_counts.requests < plan_.min_requests
            ? std::to_string(state_.canary_counts.requests) + " canary requests, too few to compare"
            : "canaries " + percent(state_.canary_counts.error_rate()) + " errors, the rest " +
                  percent(state_.other_counts.error_rate());
    step(now, "soak passed (" + compared + "); promoting to every router");
    return true;
}

void Rollout::on_promoted(RolloutTime now) {
    if (finished()) {
        return;
    }
    const bool early = state_.phase != RolloutPhase::promoting;
    state_.phase = RolloutPhase::promoted;
    step(now, "promoted: " + plan_.candidate_version + " is current for every router" +
                  (early ? " (it was applied to every router outside the rollout)" : ""));
}

void Rollout::halt(std::string reason, RolloutTime now) {
    if (finished()) {
        return;
    }
    state_.phase = RolloutPhase::halted;
    state_.halt_reason = reason;
    step(now, "halted: " + reason + "; canaries back on " + plan_.stable_version);
}

}  // namespace cell::controlplane
