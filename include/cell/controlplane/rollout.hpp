#pragma once
// A staged rollout of one config version (docs/operations.md, "Staged rollout"): the candidate
// goes to a few canary routers first; once every canary has acked it and a soak time has passed
// with their error rate not above the rest's by more than a margin, it is promoted to every
// router. A canary's nack, a missing ack or an error spike halts it instead, and the canaries
// get the stable version back.
//
// Pure bookkeeping: no I/O, the time is passed in, so every rule is unit-tested. The control
// plane's ServerState feeds it acks, nacks and the routers' per-version counts, and does what
// it decides (push to canaries, promote, roll back).
//
// Thread safety: none; the server uses it from its single event-loop thread.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cell::controlplane {

using RolloutTime = std::chrono::system_clock::time_point;

// Which routers are canaries: a share of the connected ones ("10%", at least one), or those
// whose node id matches a pattern ("edge-a-*": `*` any run of characters, `?` one).
struct CanarySpec {
    std::string text;         // as given, for /status
    double share = 0;         // (0, 1] when a share
    std::string pattern;      // when a pattern
};
std::variant<CanarySpec, std::string> parse_canary_spec(std::string_view text);
bool matches_node_pattern(std::string_view pattern, std::string_view node_id);

// The canaries among `connected` (node ids): for a share, that many of them (rounded up, at
// least one) picked by a hash of the id and `salt`, so a new rollout picks a new set; for a
// pattern, every match. Empty when none qualifies.
std::vector<std::string> choose_canaries(const CanarySpec& spec, const std::vector<std::string>& connected,
                                         std::string_view salt);

struct RolloutPlan {
    std::string id;  // the candidate's version and when the rollout started
    CanarySpec canary;
    std::vector<std::string> canaries;  // node ids, chosen when it started
    std::string stable_version;
    std::string candidate_version;
    std::chrono::milliseconds soak{60'000};         // after the last canary ack
    std::chrono::milliseconds ack_timeout{60'000};  // for every canary to ack, from the start
    double error_margin = 0.05;  // canary error rate may exceed the rest's by this much (0.05 = 5 points)
    std::uint64_t min_requests = 20;  // fewer canary requests than this are not compared
    std::string started_by;  // who asked for it ("cellctl user@host", "config file")
};

struct RolloutCounts {
    std::uint64_t requests = 0;
    std::uint64_t errors = 0;
    double error_rate() const { return requests == 0 ? 0.0 : static_cast<double>(errors) / static_cast<double>(requests); }
};

// One control-plane replica's view of its own routers during a rollout that another replica
// drives (rollout_record.hpp).
struct RolloutReport {
    std::string replica;
    std::vector<std::string> acked;            // canaries that acked the candidate
    std::map<std::string, std::string> nacks;  // canary -> its error
    RolloutCounts canary_counts;               // its canaries on the candidate
    RolloutCounts other_counts;                // its other routers on the stable version, since the soak began
};

enum class RolloutPhase {
    canary,     // pushed to the canaries, waiting for every ack
    soaking,    // every canary acked: watching their error rate until the soak ends
    promoting,  // the soak passed: the candidate is being made current for every router
    promoted,   // done: every router gets the candidate
    halted,     // stopped: the canaries got the stable version back
};
std::string_view to_string(RolloutPhase phase);

struct RolloutStep {
    RolloutTime at;
    std::string what;
};

// Everything a rollout has decided so far: with its plan, the whole of it. Control planes
// sharing a store keep it there (rollout_record.hpp), so every replica shows the same rollout.
struct RolloutState {
    RolloutPhase phase = RolloutPhase::canary;
    RolloutTime started_at;
    std::optional<RolloutTime> soak_ends_at;
    std::set<std::string, std::less<>> acked;
    RolloutCounts canary_counts;
    RolloutCounts other_counts;
    std::string halt_reason;
    std::vector<RolloutStep> steps;
};

class Rollout {
public:
    Rollout(RolloutPlan plan, RolloutTime now);
    // A rollout as another control plane left it (read from the store).
    Rollout(RolloutPlan plan, RolloutState state) : plan_(std::move(plan)), state_(std::move(state)) {}
    const RolloutState& state() const { return state_; }

    const RolloutPlan& plan() const { return plan_; }
    RolloutPhase phase() const { return state_.phase; }
    bool finished() const { return state_.phase == RolloutPhase::promoted || state_.phase == RolloutPhase::halted; }
    bool is_canary(std::string_view node_id) const;
    // Whether canaries are to serve the candidate now (before promotion, every other router serves
    // the stable version; after it, every router the candidate).
    bool canaries_on_candidate() const {
        return state_.phase == RolloutPhase::canary || state_.phase == RolloutPhase::soaking || state_.phase == RolloutPhase::promoting;
    }
    const std::set<std::string, std::less<>>& acked() const { return state_.acked; }
    const std::string& halt_reason() const { return state_.halt_reason; }
    const std::vector<RolloutStep>& steps() const { return state_.steps; }
    RolloutTime started_at() const { return state_.started_at; }
    std::optional<RolloutTime> soak_ends_at() const { return state_.soak_ends_at; }
    const RolloutCounts& canary_counts() const { return state_.canary_counts; }
    const RolloutCounts& other_counts() const { return state_.other_counts; }

    // A canary acked the candidate.
    void on_ack(std::string_view node_id, RolloutTime now);
    // A canary refused the candidate: halts.
    void on_nack(std::string_view node_id, std::string_view error, RolloutTime now);
    // The requests the canaries served on the candidate since they took it, and the rest on the
    // stable version over the same time: halts on an error spike.
    void on_counts(RolloutCounts canaries, RolloutCounts others, RolloutTime now);
    // Checks the deadlines; returns true once when the soak has passed (phase becomes promoting:
    // the caller makes the candidate current, then calls on_promoted or on_promotion_failed).
    bool tick(RolloutTime now);
    // The candidate became current for every router (normally after tick() said so; earlier when
    // the same config was applied outside the rollout).
    void on_promoted(RolloutTime now);
    void on_promotion_failed(std::string_view reason, RolloutTime now) { halt("promotion failed: " + std::string(reason), now); }
    // Stopped from outside: an operator, or another config version published meanwhile.
    void abort(std::string_view reason, RolloutTime now) { halt(std::string(reason), now); }

private:
    void halt(std::string reason, RolloutTime now);
    void step(RolloutTime now, std::string what) { state_.steps.push_back({now, std::move(what)}); }
    // The error-spike rule; "" when the canaries are within the margin (or too few to tell).
    std::string spike() const;

    RolloutPlan plan_;
    RolloutState state_;
};

}  // namespace cell::controlplane
