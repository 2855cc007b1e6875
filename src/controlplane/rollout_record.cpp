#include "cell/controlplane/rollout_record.hpp"

#include <nlohmann/json.hpp>

#include "cell/config/timestamp.hpp"
#include "cell/util/time_format.hpp"

namespace cell::controlplane {
namespace {

using json = nlohmann::json;

json time_json(RolloutTime time) { return util::format_rfc3339(time); }

RolloutTime time_from(const json& value) {
    const auto parsed = config::parse_rfc3339(value.get<std::string>());
    if (!parsed) {
        throw std::invalid_argument("not a time");
    }
    return *parsed;
}

json counts_json(const RolloutCounts& counts) { return json{{"requests", counts.requests}, {"errors", counts.errors}}; }

RolloutCounts counts_from(const json& value) {
    return RolloutCounts{value.at("requests").get<std::uint64_t>(), value.at("errors").get<std::uint64_t>()};
}

std::optional<RolloutPhase> phase_from(std::string_view text) {
    for (const auto phase : {RolloutPhase::canary, RolloutPhase::soaking, RolloutPhase::promoting, RolloutPhase::promoted,
                             RolloutPhase::halted}) {
        if (to_string(phase) == text) {
            return phase;
        }
    }
    return std::nullopt;
}

}  // namespace

std::string encode_rollout_record(const RolloutRecord& record) {
    const RolloutPlan& plan = record.plan;
    const RolloutState& state = record.state;
    json steps = json::array();
    for (const RolloutStep& step : state.steps) {
        steps.push_back(json{{"at", time_json(step.at)}, {"what", step.what}});
    }
    json candidate = to_json(record.candidate);
    return json{{"id", plan.id},
                {"canary", plan.canary.text},
                {"canaries", plan.canaries},
                {"stable_version", plan.stable_version},
                {"candidate_version", plan.candidate_version},
                {"soak_ms", plan.soak.count()},
                {"ack_timeout_ms", plan.ack_timeout.count()},
                {"error_margin", plan.error_margin},
                {"min_requests", plan.min_requests},
                {"started_by", plan.started_by},
                {"phase", to_string(state.phase)},
                {"started_at", time_json(state.started_at)},
                {"soak_ends_at", state.soak_ends_at ? time_json(*state.soak_ends_at) : json(nullptr)},
                {"acked", state.acked},
                {"canary_counts", counts_json(state.canary_counts)},
                {"other_counts", counts_json(state.other_counts)},
                {"halt_reason", state.halt_reason},
                {"steps", std::move(steps)},
                {"driver", record.driver},
                {"stable_revision", record.stable_revision},
                {"candidate", std::move(candidate)},
                {"heartbeat", time_json(record.heartbeat)}}
        .dump();
}

std::optional<RolloutRecord> decode_rollout_record(std::string_view text) {
    try {
        const json value = json::parse(text);
        RolloutRecord record;
        RolloutPlan& plan = record.plan;
        plan.id = value.at("id").get<std::string>();
        auto canary = parse_canary_spec(value.at("canary").get<std::string>());
        if (auto* spec = std::get_if<CanarySpec>(&canary)) {
            plan.canary = std::move(*spec);
        } else {
            plan.canary.text = value.at("canary").get<std::string>();
        }
        plan.canaries = value.at("canaries").get<std::vector<std::string>>();
        std::sort(plan.canaries.begin(), plan.canaries.end());
        plan.stable_version = value.at("stable_version").get<std::string>();
        plan.candidate_version = value.at("candidate_version").get<std::string>();
        plan.soak = std::chrono::milliseconds(value.at("soak_ms").get<std::int64_t>());
        plan.ack_timeout = std::chrono::milliseconds(value.at("ack_timeout_ms").get<std::int64_t>());
        plan.error_margin = value.at("error_margin").get<double>();
        plan.min_requests = value.at("min_requests").get<std::uint64_t>();
        plan.started_by = value.at("started_by").get<std::string>();
        RolloutState& state = record.state;
        const auto phase = phase_from(value.at("phase").get<std::string>());
        if (!phase) {
            return std::nullopt;
        }
        state.phase = *phase;
        state.started_at = time_from(value.at("started_at"));
        if (!value.at("soak_ends_at").is_null()) {
            state.soak_ends_at = time_from(value.at("soak_ends_at"));
        }
        for (const auto& id : value.at("acked")) {
            state.acked.insert(id.get<std::string>());
        }
        state.canary_counts = counts_from(value.at("canary_counts"));
        state.other_counts = counts_from(value.at("other_counts"));
        state.halt_reason = value.at("halt_reason").get<std::string>();
        for (const auto& step : value.at("steps")) {
            state.steps.push_back({time_from(step.at("at")), step.at("what").get<std::string>()});
        }
        record.driver = value.at("driver").get<std::string>();
        record.stable_revision = value.at("stable_revision").get<std::uint64_t>();
        auto candidate = version_record_from(value.at("candidate").dump());
        if (!candidate) {
            return std::nullopt;
        }
        record.candidate = std::move(*candidate);
        record.heartbeat = time_from(value.at("heartbeat"));
        return record;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::string encode_rollout_report(const RolloutReport& report) {
    return json{{"replica", report.replica},
                {"acked", report.acked},
                {"nacks", report.nacks},
                {"canary_counts", counts_json(report.canary_counts)},
                {"other_counts", counts_json(report.other_counts)}}
        .dump();
}

std::optional<RolloutReport> decode_rollout_report(std::string_view text) {
    try {
        const json value = json::parse(text);
        RolloutReport report;
        report.replica = value.at("replica").get<std::string>();
        report.acked = value.at("acked").get<std::vector<std::string>>();
        report.nacks = value.at("nacks").get<std::map<std::string, std::string>>();
        report.canary_counts = counts_from(value.at("canary_counts"));
        report.other_counts = counts_from(value.at("other_counts"));
        return report;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

}  // namespace cell::controlplane
