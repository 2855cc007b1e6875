#include "cell/controlplane/config_api.hpp"

#include <future>
#include <map>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "cell/config/load.hpp"
#include "cell/config/proxy_settings.hpp"
#include "cell/controlplane/config_delta.hpp"
#include "cell/controlplane/config_diff.hpp"
#include "cell/controlplane/etcd_source.hpp"
#include "cell/controlplane/off_loop.hpp"
#include "cell/controlplane/rollout_coordinator.hpp"
#include "cell/controlplane/server_state.hpp"
#include "cell/observability/log.hpp"
#include "cell/reload/table_loader.hpp"
#include "cell/routing/table.hpp"
#include "cell/transport/accept.hpp"
#include "cell/util/sha256.hpp"

namespace cell::controlplane {

// What validating a candidate and comparing it with the base gives; computed off the loop.
struct ConfigAnalysis {
    std::string invalid;  // the router's validation message; "" when valid
    nlohmann::json diff;
    GuardVerdict verdict;
    std::string version;
    std::uint64_t routing_keys = 0;
    std::shared_ptr<const config::Config> base;  // the base, parsed, for the next analysis
    std::shared_ptr<const config::Config> candidate;  // the candidate, parsed and validated
    // What the analysis was of, so that the PUT after a diff can take it as it is.
    std::string base_hash;       // SHA-256 of the base text ("" when not known)
    std::string candidate_hash;  // SHA-256 of the candidate text  // SHA-256 of the candidate text
    std::shared_ptr<const ConfigDiff> difference;
    bool reused = false;  // taken from the diff of the same bytes against the same base
};

namespace {

using nlohmann::json;
using observability::Level;

constexpr std::uint64_t small_body_limit = 64 * 1024;

ApiAnswer json_answer(unsigned status, const json& body) {
    ApiAnswer answer;
    answer.status = status;
    answer.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
    return answer;
}

ApiAnswer error_answer(unsigned status, std::string_view code, const std::string& detail, json extra = json::object()) {
    json body{{"error", code}, {"detail", detail}};
    body.update(extra);
    return json_answer(status, body);
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// application/x-www-form-urlencoded decoding: %XX and '+' for a space. A '%' not followed by two
// hex digits is kept as it is.
std::string form_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out.push_back(' ');
        } else if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
            i += 2;
        } else {
            out.push_back(text[i]);
        }
    }
    return out;
}

// The query's parameters, decoded; a repeated name keeps its last value.
std::map<std::string, std::string, std::less<>> query_parameters(std::string_view query) {
    std::map<std::string, std::string, std::less<>> parameters;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (pair.empty()) {
            continue;
        }
        const auto equals = pair.find('=');
        parameters[form_decode(pair.substr(0, equals))] =
            equals == std::string_view::npos ? std::string() : form_decode(pair.substr(equals + 1));
    }
    return parameters;
}

std::optional<std::uint64_t> parse_revision(std::string_view text) {
    if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string_view::npos) {
        return std::nullopt;
    }
    return std::stoull(std::string(text));
}


// `earlier` again, with the guard checked against `limits`, when it was the analysis of the
// candidate whose SHA-256 is `candidate_hash` against the base whose SHA-256 is `base_hash`.
std::optional<ConfigAnalysis> reuse_analysis(const std::shared_ptr<const ConfigAnalysis>& earlier,
                                             const std::string& base_hash, const std::string& candidate_hash,
                                             const GuardLimits& limits) {
    if (!earlier || !earlier->invalid.empty() || !earlier->difference || base_hash.empty() ||
        earlier->base_hash != base_hash || earlier->candidate_hash != candidate_hash) {
        return std::nullopt;
    }
    ConfigAnalysis again = *earlier;
    again.verdict = check_blast_radius(*earlier->difference, limits);
    again.reused = true;
    return again;
}

// `base_config` is `base` already parsed, when a previous analysis did it (nullptr otherwise):
// a million-key table takes most of a second to parse, and a diff and the apply that follows it
// compare against the same base. `earlier` is the last analysis made: when it was of the same
// candidate bytes against the same base (`cellctl apply` sends the file to POST /config/diff,
// then the same file to PUT /config), only the guard is checked again, with this request's limits.
ConfigAnalysis analyse(const std::shared_ptr<const std::string>& base, const std::string& base_hash,
                      std::shared_ptr<const config::Config> base_config,
                 const std::string& candidate, const GuardLimits& limits,
                 const std::shared_ptr<const ConfigAnalysis>& earlier = nullptr) {
    const std::string candidate_hash = util::sha256_hex(candidate);
    if (auto again = reuse_analysis(earlier, base_hash, candidate_hash, limits)) {
        return std::move(*again);
    }
    ConfigAnalysis analysis;
    analysis.base_hash = base_hash;
    analysis.candidate_hash = candidate_hash;
    auto loaded = config::load_config(candidate);
    if (!loaded.ok()) {
        analysis.invalid = config::describe(loaded.errors);
        return analysis;
    }
    if (!base_config) {
        auto current = base ? config::load_config(*base) : config::LoadResult{};
        base_config = current.ok() ? std::make_shared<const config::Config>(std::move(*current.config))
                                   : std::make_shared<const config::Config>();
    }
    analysis.base = base_config;
    auto difference = std::make_shared<const ConfigDiff>(diff_configs(*base_config, *loaded.config));
    analysis.diff = to_json(*difference);
    analysis.verdict = check_blast_radius(*difference, limits);
    analysis.difference = std::move(difference);
    analysis.version = loaded.config->version;
    analysis.routing_keys = loaded.config->routing_table.size();
    analysis.candidate = std::make_shared<const config::Config>(std::move(*loaded.config));
    return analysis;
}

// The guard's limits from ?max_moved_keys=, or why they are not valid.
std::variant<GuardLimits, std::string> guard_limits(const std::map<std::string, std::string, std::less<>>& parameters) {
    GuardLimits limits;
    if (const auto it = parameters.find("max_moved_keys"); it != parameters.end()) {
        auto parsed = parse_moved_keys_limit(it->second);
        if (auto* error = std::get_if<std::string>(&parsed)) {
            return "max_moved_keys: " + *error;
        }
        limits.max_moved_keys = std::get<MovedKeysLimit>(parsed);
    }
    return limits;
}

bool flag_set(const std::map<std::string, std::string, std::less<>>& parameters, std::string_view name) {
    const auto it = parameters.find(name);
    return it != parameters.end() && (it->second.empty() || it->second == "true" || it->second == "1");
}

std::string value_or(const std::map<std::string, std::string, std::less<>>& parameters, std::string_view name,
                     std::string fallback) {
    const auto it = parameters.find(name);
    return it != parameters.end() && !it->second.empty() ? it->second : std::move(fallback);
}

std::string refusal_detail(const GuardVerdict& verdict) {
    std::string detail = "the change was refused by the blast-radius guard:";
    for (const auto& violation : verdict.violations) {
        detail += " " + violation.detail + ";";
    }
    detail += " apply it with --force and a --reason if it is intended";
    return detail;
}

}  // namespace

struct ConfigApi::Building {
    std::shared_future<routing::TableConstPtr> table;
    std::shared_future<std::optional<DeltaKeys>> delta_keys;
    SnapshotConstPtr served;  // the snapshot delta_keys is from
};

struct ConfigApi::PreparedWrite {
    explicit PreparedWrite(io_executor loop) : finished(loop) {}
    Building building;
    std::string content_hash;
    std::shared_ptr<const std::string> text;
    bool done = false;
    bool invalid = false;  // the text is no valid config: its chunks are removed once put
    std::optional<StoredBlob> stored;  // when the chunks went in
    steady_timer finished;  // cancelled when done
};

struct ConfigApi::WriteRequest {
    std::string candidate;
    std::optional<StoredBlob> stored;  // the chunks put by the diff that prepared this write
    std::optional<Building> building;  // started by that diff
    std::string prepared_hash;         // SHA-256 of the candidate, as that diff found it
    std::uint64_t expected_revision = 0;
    std::shared_ptr<const std::string> base;  // the config at expected_revision, when known
    std::string base_hash;                    // its SHA-256, when known
    GuardLimits limits;
    bool force = false;
    std::string reason;
    std::string applied_by;
    std::optional<std::uint64_t> rollback_of;
    // A staged rollout (docs/operations.md): to the canaries first, written to the store once
    // the soak passed.
    std::optional<ServerState::RolloutRequest> staged;
};

bool ConfigApi::serves(std::string_view path) {
    return path == "/config" || path == "/config/diff" || path == "/history" || path == "/rollback" ||
           path == "/rollout/abort";
}

std::uint64_t ConfigApi::body_limit(std::string_view path) {
    return path == "/config" || path == "/config/diff" ? reload::max_config_file_bytes : small_body_limit;
}

std::shared_ptr<const config::Config> ConfigApi::cached_base(const std::string& text_hash) const {
    return !text_hash.empty() && text_hash == parsed_hash_ ? parsed_config_ : nullptr;
}

void ConfigApi::remember_base(std::string text_hash, std::shared_ptr<const config::Config> parsed) {
    if (!text_hash.empty() && parsed) {
        parsed_hash_ = std::move(text_hash);
        parsed_config_ = std::move(parsed);
    }
}

ApiAnswer ConfigApi::read_only() const {
    return error_answer(403, "read_only",
                        "this control plane watches a file (" + options_.config_path +
                            "): edit the file, or run cell-control-plane with --etcd");
}

ApiAnswer ConfigApi::current_config() const {
    const auto& current = state_.current();
    ApiAnswer answer;
    answer.body = current->config_text ? *current->config_text : std::string();
    answer.headers = {{"X-Config-Store", store_ != nullptr ? "etcd" : "file"},
                      {"X-Config-Revision", std::to_string(current->revision)},
                      {"X-Config-Version", current->version},
                      {"X-Config-Hash", current->file_hash}};
    return answer;
}

awaitable<ApiAnswer> ConfigApi::answer(http::verb method, std::string_view path, std::string_view query,
                                       std::string body) {
    if (path == "/config") {
        if (method == http::verb::get || method == http::verb::head) {
            co_return current_config();
        }
        if (method == http::verb::put) {
            co_return co_await apply(query, std::move(body));
        }
        co_return error_answer(405, "method_not_allowed", "GET or PUT /config");
    }
    if (path == "/config/diff") {
        if (method != http::verb::post) {
            co_return error_answer(405, "method_not_allowed", "POST /config/diff with the candidate config as the body");
        }
        co_return co_await diff(query, std::move(body));
    }
    if (path == "/history") {
        if (method != http::verb::get && method != http::verb::head) {
            co_return error_answer(405, "method_not_allowed", "GET /history");
        }
        co_return co_await history(query);
    }
    if (path == "/rollout/abort") {
        if (method != http::verb::post) {
            co_return error_answer(405, "method_not_allowed", "POST /rollout/abort");
        }
        co_return co_await abort_rollout(query);
    }
    if (method != http::verb::post) {
        co_return error_answer(405, "method_not_allowed", "POST /rollback?revision=R");
    }
    co_return co_await rollback(query);
}

awaitable<ApiAnswer> ConfigApi::diff(std::string_view query, std::string candidate) {
    const auto parameters = query_parameters(query);
    auto limits = guard_limits(parameters);
    if (auto* error = std::get_if<std::string>(&limits)) {
        co_return error_answer(400, "bad_request", *error);
    }
    const auto current = state_.current();
    auto text = std::make_shared<const std::string>(std::move(candidate));
    // The diff of `cellctl apply`: the store takes the chunks while the change is analysed, so
    // that the PUT after it has only the manifest left to write. The chunks of an invalid file
    // are removed below; those of a refused one are left for the next write's prune.
    std::shared_ptr<PreparedWrite> upload;
    if (store_ != nullptr && flag_set(parameters, "prepare")) {
        upload = std::make_shared<PreparedWrite>(loop_);
        upload->text = text;
        // Done either way: without `stored` (a failure, even a thrown one) the PUT puts the
        // chunks itself.
        net::co_spawn(loop_, prepare_write(upload), [upload](std::exception_ptr) {
            upload->done = true;
            upload->finished.cancel();
        });
    }
    auto job = [base = current->config_text, base_hash = current->file_hash, parsed = cached_base(current->file_hash),
                text, limits = std::get<GuardLimits>(limits)] {
        return analyse(base, base_hash, parsed, *text, limits);
    };
    auto analysis = co_await run_off_loop<ConfigAnalysis>(config_work_, std::move(job));
    remember_base(current->file_hash, analysis.base);
    // Kept for the PUT that usually follows (only in a control plane that can write).
    last_analysis_ = store_ != nullptr && analysis.invalid.empty() ? std::make_shared<const ConfigAnalysis>(analysis) : nullptr;
    if (!analysis.invalid.empty()) {
        if (upload) {
            // No version can ever name an invalid text, so its chunks need not wait for a prune.
            upload->invalid = true;
            if (upload->stored) {  // already put: prepare_write has looked at `invalid`
                net::co_spawn(loop_, remove_prepared_chunks(upload), net::detached);
            }
        }
        co_return error_answer(400, "invalid_config", analysis.invalid);
    }
    json prepared_hash = nullptr;
    if (upload && (analysis.verdict.allowed || flag_set(parameters, "force"))) {
        upload->content_hash = analysis.candidate_hash;
        upload->building = start_building(analysis.candidate, analysis.candidate_hash, upload->text->size(), true);
        prepared_ = std::move(upload);
        prepared_hash = analysis.candidate_hash;
    }
    co_return json_answer(200, json{{"base_revision", current->revision},
                                    {"base_version", current->version},
                                    {"prepared", std::move(prepared_hash)},
                                    {"diff", std::move(analysis.diff)},
                                    {"guard", to_json(analysis.verdict)}});
}

ConfigApi::Building ConfigApi::start_building(std::shared_ptr<const config::Config> parsed,
                                              const std::string& content_hash, std::size_t text_bytes,
                                              bool with_delta_keys) {
    auto build = std::make_shared<std::packaged_task<routing::TableConstPtr()>>([parsed, hash = content_hash] {
        const auto settings = config::resolve_proxy_settings(parsed->proxy, config::ProxySettingsOverrides{});
        routing::TableOrigin origin{"etcd", "", hash, std::chrono::system_clock::now()};
        return routing::Table::build(*parsed, settings, std::move(origin));
    });
    Building building;
    building.table = build->get_future().share();
    net::post(table_work_, [build] { (*build)(); });
    if (!with_delta_keys) {
        return building;
    }
    building.served = state_.current();
    // From the served config's rows when a diff has parsed it (the usual case: an apply's diff
    // is made against the served config), from the tables otherwise.
    auto keys = std::make_shared<std::packaged_task<std::optional<DeltaKeys>()>>(
        [table = building.table, served = building.served, served_config = cached_base(building.served->file_hash),
         parsed, budget = text_bytes / 4]() -> std::optional<DeltaKeys> {
            if (served_config && served->table) {
                return delta_keys(*served_config, *parsed, budget);
            }
            const auto next = table.get();
            if (!next || !served->table) {
                return std::nullopt;
            }
            return delta_keys(*served->table, *next, budget);
        });
    building.delta_keys = keys->get_future().share();
    net::post(config_work_, [keys] { (*keys)(); });
    return building;
}

awaitable<void> ConfigApi::prepare_write(std::shared_ptr<PreparedWrite> prepared) {
    // Hashed with the chunks: the analysis that finds the hash runs at the same time.
    auto stored = co_await store_->store().put_chunks_of(*prepared->text, "");
    if (auto* blob = std::get_if<StoredBlob>(&stored)) {
        prepared->stored = *blob;
    }
    if (prepared->invalid) {
        co_await remove_prepared_chunks(prepared);
    }
}

awaitable<void> ConfigApi::remove_prepared_chunks(std::shared_ptr<PreparedWrite> prepared) {
    if (!prepared->stored) {
        co_return;
    }
    const StoredBlob blob = *std::exchange(prepared->stored, std::nullopt);
    auto failure = co_await store_->store().remove_chunks(blob);
    // Left to the next write's prune when etcd refused.
    observability::emit_event(Level::debug, std::move(observability::event_line(Level::debug, "prepared_chunks_removed")
                                                          .add("content_hash", blob.content_hash)
                                                          .add("removed", !failure.has_value())));
}

awaitable<ApiAnswer> ConfigApi::apply(std::string_view query, std::string candidate) {
    if (store_ == nullptr) {
        co_return read_only();
    }
    const auto parameters = query_parameters(query);
    const auto expected = parse_revision(value_or(parameters, "expected_revision", ""));
    if (!expected) {
        co_return error_answer(400, "bad_request",
                               "expected_revision is required: the revision the change was diffed against "
                               "(GET /config answers it in X-Config-Revision)");
    }
    auto limits = guard_limits(parameters);
    if (auto* error = std::get_if<std::string>(&limits)) {
        co_return error_answer(400, "bad_request", *error);
    }
    WriteRequest request;
    if (const auto named = value_or(parameters, "prepared", ""); !named.empty() && candidate.empty()) {
        const auto prepared = prepared_;
        if (!prepared || prepared->content_hash != named) {
            co_return error_answer(412, "not_prepared",
                                   "this control plane holds no prepared config with content hash " + named +
                                       " (another diff replaced it, or the diff went to another control plane): "
                                       "send the config in the body");
        }
        while (!prepared->done) {
            prepared->finished.expires_at(steady_timer::time_point::max());
            [[maybe_unused]] auto [ec] = co_await prepared->finished.async_wait();
        }
        request.candidate = *prepared->text;
        if (prepared->stored && prepared->stored->content_hash == prepared->content_hash) {
            request.stored = prepared->stored;  // unset when that failed: the write puts them again
        }
        request.building = prepared->building;
        request.prepared_hash = prepared->content_hash;
        if (prepared_ == prepared) {
            prepared_.reset();
        }
    } else {
        request.candidate = std::move(candidate);
    }
    request.expected_revision = *expected;
    request.limits = std::get<GuardLimits>(limits);
    request.force = flag_set(parameters, "force");
    request.reason = value_or(parameters, "reason", "");
    request.applied_by = value_or(parameters, "applied_by", "unknown");
    if (flag_set(parameters, "staged")) {
        auto staged = rollout_request(parameters, request.applied_by);
        if (auto* error = std::get_if<std::string>(&staged)) {
            co_return error_answer(400, "bad_request", *error);
        }
        request.staged = std::get<ServerState::RolloutRequest>(std::move(staged));
    }
    co_return co_await guarded_write(std::move(request));
}

std::variant<ServerState::RolloutRequest, std::string> ConfigApi::rollout_request(
    const std::map<std::string, std::string, std::less<>>& parameters, const std::string& applied_by) const {
    ServerState::RolloutRequest staged{options_.rollout_canary.value_or(CanarySpec{"10%", 0.10, ""}),
                                       options_.rollout_soak,
                                       options_.rollout_ack_timeout,
                                       options_.rollout_error_margin,
                                       options_.rollout_min_requests,
                                       applied_by,
                                       {}};
    if (const auto canary = parameters.find("canary"); canary != parameters.end()) {
        auto parsed = parse_canary_spec(canary->second);
        if (auto* error = std::get_if<std::string>(&parsed)) {
            return "canary: " + *error;
        }
        staged.canary = std::get<CanarySpec>(std::move(parsed));
    }
    if (const auto soak = parameters.find("soak"); soak != parameters.end()) {
        if (auto error = set_rollout_duration(staged.soak, soak->second, true)) {
            return "soak: " + *error;
        }
    }
    if (const auto canaries = parameters.find("canaries"); canaries != parameters.end()) {
        std::string_view list = canaries->second;
        while (!list.empty()) {
            const auto comma = list.find(',');
            const std::string_view id = list.substr(0, comma);
            if (id.empty() || id.size() > 256 || staged.canaries.size() == 10'000) {
                return std::string("canaries: a comma-separated list of node ids, each 1 to 256 characters");
            }
            staged.canaries.emplace_back(id);
            list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        }
    }
    if (const auto margin = parameters.find("error_margin"); margin != parameters.end()) {
        if (auto error = set_error_margin(staged.error_margin, margin->second)) {
            return "error_margin: " + *error;
        }
    }
    return staged;
}

// The soak passed: the candidate goes to the store at the revision the rollout started from, and
// from there to every router (this replica publishes its own write; the others read it).
awaitable<void> ConfigApi::promote(std::string text, std::uint64_t expected_revision, VersionRecord record,
                                   SnapshotConstPtr candidate) {
    const auto own_write = store_->writing(record.content_hash);
    auto written = co_await store_->store().write(text, expected_revision, record);
    if (auto* failure = std::get_if<EtcdFailure>(&written)) {
        state_.rollout_promotion_failed("the store could not take it: " + failure->message);
        co_return;
    }
    const auto outcome = std::get<WriteOutcome>(written);
    if (!outcome.applied) {
        state_.rollout_promotion_failed("the config changed since revision " + std::to_string(expected_revision) +
                                        " (it is at " + std::to_string(outcome.revision) + ")");
        co_return;
    }
    record.revision = outcome.revision;
    auto encode_job = [text = std::move(text), candidate, record, previous = state_.current()]() -> SnapshotConstPtr {
        try {
            return make_snapshot(text, record.version, candidate->file_hash, previous->generation + 1, record.revision,
                                 candidate->table, previous.get());
        } catch (const std::exception& error) {
            observability::log_event(Level::err, "internal_error", std::string("encoding a promoted config: ") + error.what());
            return nullptr;
        }
    };
    auto snapshot = co_await run_off_loop<SnapshotConstPtr>(config_work_, std::move(encode_job));
    observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "config_applied")
                                                         .add("store", "etcd")
                                                         .add("revision", outcome.revision)
                                                         .add("version", record.version)
                                                         .add("applied_by", record.applied_by)
                                                         .add("reason", record.reason)
                                                         .add("staged", true)));
    if (snapshot) {
        store_->publish_written(std::move(snapshot), record);  // publishing ends the rollout: promoted
    }
}

awaitable<ApiAnswer> ConfigApi::abort_rollout(std::string_view query) {
    const auto parameters = query_parameters(query);
    if (auto refused = state_.abort_rollout(value_or(parameters, "applied_by", "unknown"))) {
        co_return error_answer(409, "no_rollout", *refused);
    }
    co_return json_answer(200, json{{"aborted", true}, {"rollout", state_.rollout()->plan().id}});
}

awaitable<ApiAnswer> ConfigApi::rollback(std::string_view query) {
    if (store_ == nullptr) {
        co_return read_only();
    }
    const auto parameters = query_parameters(query);
    const auto revision = parse_revision(value_or(parameters, "revision", ""));
    if (!revision) {
        co_return error_answer(400, "bad_request", "revision is required: one of the revisions GET /history lists");
    }
    auto limits = guard_limits(parameters);
    if (auto* error = std::get_if<std::string>(&limits)) {
        co_return error_answer(400, "bad_request", *error);
    }
    auto& store = store_->store();
    auto kept = co_await store.history(options_.etcd_history);
    if (auto* failure = std::get_if<EtcdFailure>(&kept)) {
        co_return error_answer(503, "store_unavailable", failure->message);
    }
    std::optional<VersionRecord> target;
    for (auto& record : std::get<std::vector<VersionRecord>>(kept)) {
        if (record.revision == *revision) {
            target = std::move(record);
        }
    }
    if (!target) {
        co_return error_answer(404, "unknown_revision",
                               "revision " + std::to_string(*revision) + " is not among the versions kept (GET /history)");
    }
    auto text = co_await store.read_text(*target);
    if (auto* failure = std::get_if<EtcdFailure>(&text)) {
        co_return error_answer(503, "store_unavailable", failure->message);
    }
    auto current = co_await store.read_current();
    if (auto* failure = std::get_if<EtcdFailure>(&current)) {
        co_return error_answer(503, "store_unavailable", failure->message);
    }
    auto& stored = std::get<std::optional<StoredConfig>>(current);
    WriteRequest request;
    request.candidate = std::move(std::get<std::string>(text));
    request.expected_revision = stored ? stored->record.revision : 0;
    request.base = std::make_shared<const std::string>(stored ? std::move(stored->text) : std::string("{}"));
    request.limits = std::get<GuardLimits>(limits);
    request.force = flag_set(parameters, "force");
    request.reason = value_or(parameters, "reason", "rollback to revision " + std::to_string(*revision));
    request.applied_by = value_or(parameters, "applied_by", "unknown");
    request.rollback_of = *revision;
    co_return co_await guarded_write(std::move(request));
}

awaitable<ApiAnswer> ConfigApi::guarded_write(WriteRequest request) {
    using Clock = std::chrono::steady_clock;
    const auto started = Clock::now();
    const auto ms_since = [](Clock::time_point from) {
        return std::chrono::duration<double, std::milli>(Clock::now() - from).count();
    };
    auto& store = store_->store();
    if (request.force && request.reason.empty()) {
        co_return error_answer(400, "bad_request", "a forced change needs a reason: it is recorded in the history");
    }
    // The frame adds a few dozen bytes ("type" and "revision") to the text.
    constexpr std::uint64_t frame_overhead = 64;
    if (request.candidate.size() + frame_overhead > options_.max_snapshot_bytes) {
        co_return error_answer(413, "too_large",
                               "the config is " + std::to_string(request.candidate.size()) +
                                   " bytes; this control plane sends routers snapshots of at most --max-snapshot-bytes " +
                                   std::to_string(options_.max_snapshot_bytes));
    }
    // The base is the config at the expected revision: this replica's own when it has caught up
    // with it, else what the store holds now (and if that is newer, the change conflicts).
    if (!request.base) {
        const auto& current = state_.current();
        if (current->revision == request.expected_revision && current->config_text) {
            request.base = current->config_text;
            request.base_hash = current->file_hash;
        } else {
            auto stored = co_await store.read_current();
            if (auto* failure = std::get_if<EtcdFailure>(&stored)) {
                co_return error_answer(503, "store_unavailable", failure->message);
            }
            auto& found = std::get<std::optional<StoredConfig>>(stored);
            request.base = std::make_shared<const std::string>(found ? found->text : std::string("{}"));
            const std::uint64_t now_at = found ? found->record.revision : 0;
            if (now_at != request.expected_revision) {
                auto job = [base = request.base, candidate = request.candidate, limits = request.limits] {
                    return analyse(base, "", nullptr, candidate, limits);
                };
                auto analysis = co_await run_off_loop<ConfigAnalysis>(config_work_, std::move(job));
                co_return error_answer(409, "conflict",
                                       "the config changed since revision " + std::to_string(request.expected_revision) +
                                           ": it is now at revision " + std::to_string(now_at) +
                                           "; review the diff against it and apply again",
                                       json{{"current_revision", now_at},
                                            {"diff", std::move(analysis.diff)},
                                            {"guard", to_json(analysis.verdict)}});
            }
        }
    }
    ConfigAnalysis analysis;
    auto earlier = std::exchange(last_analysis_, nullptr);
    // A prepared diff's analysis is known by the hash that diff found: taken here rather than
    // behind that diff's delta keys on the config thread.
    auto prepared = request.building ? reuse_analysis(earlier, request.base_hash, request.prepared_hash, request.limits)
                                     : std::nullopt;
    if (prepared) {
        analysis = std::move(*prepared);
    } else {
        auto job = [base = request.base, base_hash = request.base_hash, parsed = cached_base(request.base_hash),
                    candidate = &request.candidate, limits = request.limits, earlier = std::move(earlier)] {
            return analyse(base, base_hash, parsed, *candidate, limits, earlier);
        };
        analysis = co_await run_off_loop<ConfigAnalysis>(config_work_, std::move(job));
    }
    remember_base(request.base_hash, analysis.base);
    if (!analysis.invalid.empty()) {
        co_return error_answer(400, "invalid_config", analysis.invalid);
    }
    if (!analysis.verdict.allowed && !request.force) {
        co_return error_answer(422, "blast_radius", refusal_detail(analysis.verdict),
                               json{{"diff", analysis.diff}, {"guard", to_json(analysis.verdict)}});
    }
    VersionRecord record;
    record.version = analysis.version;
    record.routing_keys = analysis.routing_keys;
    record.applied_by = request.applied_by;
    record.reason = request.reason;
    record.forced = request.force && !analysis.verdict.allowed;
    record.rollback_of = request.rollback_of;
    record.content_hash = analysis.candidate_hash;
    const double analysis_ms = ms_since(started);
    // Built meanwhile, off the loop, while etcd takes the chunks (or since the diff).
    Building building = request.building
                            ? std::move(*request.building)
                            : start_building(analysis.candidate, analysis.candidate_hash, request.candidate.size(),
                                             !request.staged);
    auto table = building.table;
    if (request.staged) {
        co_return co_await start_staged(std::move(request), std::move(record), std::move(table), std::move(analysis));
    }
    const auto writing = Clock::now();
    // Until this coroutine returns, the watch leaves this content to it (publish_written below).
    const auto own_write = store_->writing(record.content_hash);
    auto written = co_await store.write(request.candidate, request.expected_revision, record, request.stored);
    const double store_ms = ms_since(writing);
    if (auto* failure = std::get_if<EtcdFailure>(&written)) {
        co_return error_answer(503, "store_unavailable", failure->message);
    }
    const auto outcome = std::get<WriteOutcome>(written);
    if (!outcome.applied) {
        // Someone else wrote first: show the change against what is there now.
        auto stored = co_await store.read_current();
        json extra{{"current_revision", outcome.revision}};
        if (auto* found = std::get_if<std::optional<StoredConfig>>(&stored); found != nullptr && found->has_value()) {
            auto fresh_job = [base = std::make_shared<const std::string>((*found)->text),
                              candidate = request.candidate, limits = request.limits] {
                return analyse(base, "", nullptr, candidate, limits);
            };
            auto fresh = co_await run_off_loop<ConfigAnalysis>(config_work_, std::move(fresh_job));
            extra["current_revision"] = (*found)->record.revision;
            extra["diff"] = std::move(fresh.diff);
            extra["guard"] = to_json(fresh.verdict);
        }
        co_return error_answer(409, "conflict",
                               "another change was applied first: the config is no longer at revision " +
                                   std::to_string(request.expected_revision) + "; review the diff against it and apply again",
                               std::move(extra));
    }
    // The text was validated above, so this replica serves it at once; the others (and this one,
    // if it missed this) take it from the watch. The table and the frame (and its delta) are
    // built off the loop, from the config already parsed.
    record.revision = outcome.revision;
    // Queued behind the delta keys on the config thread; the table is built on its own thread
    // meanwhile, so get() does not wait for long.
    auto encode_job = [text = std::move(request.candidate), table = std::move(table), previous = state_.current(),
                       prepared = building.delta_keys, served = building.served, record,
                       hash = analysis.candidate_hash]() mutable -> SnapshotConstPtr {
        try {
            // The keys were found against the snapshot served then: of use if it still is.
            const DeltaKeys* ready = nullptr;
            if (prepared.valid() && served == previous && prepared.get()) {
                ready = &*prepared.get();
            }
            return make_snapshot(std::move(text), record.version, hash, previous->generation + 1, record.revision,
                                 table.get(), previous.get(), ready);
        } catch (const std::exception& error) {
            // Cannot happen for a validated config; the watch then publishes the version instead.
            observability::log_event(Level::err, "internal_error", std::string("encoding a written config: ") + error.what());
            return nullptr;
        }
    };
    const auto encoding = Clock::now();
    auto snapshot = co_await run_off_loop<SnapshotConstPtr>(config_work_, std::move(encode_job));
    const double encode_ms = ms_since(encoding);
    const bool has_delta = snapshot && !snapshot->delta_frame.empty();
    if (snapshot) {
        remember_base(analysis.candidate_hash, analysis.candidate);
        store_->publish_written(std::move(snapshot), record);
    }
    observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "config_applied")
                                                         .add("store", "etcd")
                                                         .add("revision", outcome.revision)
                                                         .add("version", record.version)
                                                         .add("applied_by", record.applied_by)
                                                         .add("reason", record.reason)
                                                         .add("forced", record.forced)
                                                         .add("rollback_of", record.rollback_of.value_or(0))
                                                         .add("reused_diff", analysis.reused)
                                                         .add("delta", has_delta)
                                                         .add("analysis_ms", analysis_ms)
                                                         .add("store_ms", store_ms)
                                                         .add("encode_ms", encode_ms)));
    co_return json_answer(200, json{{"applied", true},
                                    {"revision", outcome.revision},
                                    {"version", record.version},
                                    {"forced", record.forced},
                                    {"rollback_of", record.rollback_of ? json(*record.rollback_of) : json(nullptr)},
                                    {"diff", std::move(analysis.diff)},
                                    {"guard", to_json(analysis.verdict)}});
}

// The candidate goes to the canaries now and to the store only when its soak passed.
awaitable<ApiAnswer> ConfigApi::start_staged(WriteRequest request, VersionRecord record,
                                             std::shared_future<routing::TableConstPtr> table, ConfigAnalysis analysis) {
    auto encode_job = [text = request.candidate, table = std::move(table), previous = state_.current(), record,
                       hash = analysis.candidate_hash]() mutable -> SnapshotConstPtr {
        try {
            // No revision: the candidate is in no store yet (a router does not order it).
            return make_snapshot(text, record.version, hash, previous->generation + 1, 0, table.get(), previous.get());
        } catch (const std::exception& error) {
            observability::log_event(Level::err, "internal_error", std::string("encoding a staged config: ") + error.what());
            return nullptr;
        }
    };
    auto candidate = co_await run_off_loop<SnapshotConstPtr>(config_work_, std::move(encode_job));
    if (!candidate) {
        co_return error_answer(500, "internal_error", "the candidate could not be encoded");
    }
    const std::uint64_t expected_revision = request.expected_revision;
    if (state_.current()->revision != expected_revision) {
        co_return error_answer(409, "conflict",
                               "this replica serves revision " + std::to_string(state_.current()->revision) +
                                   ", not " + std::to_string(expected_revision) + ": review the diff and apply again");
    }
    if (const Rollout* running = state_.rollout(); running != nullptr && !running->finished()) {
        co_return error_answer(409, "rollout_refused", "a rollout of " + running->plan().candidate_version +
                                                           " is running: wait for it, or cellctl abort-rollout");
    }
    // The other replicas read the candidate from the store: its text goes there first.
    auto staged_record = co_await store_->store().stage_text(request.candidate, record);
    if (auto* failure = std::get_if<EtcdFailure>(&staged_record)) {
        co_return error_answer(503, "store_unavailable", failure->message);
    }
    auto promoter = [this, text = request.candidate, expected_revision, record](SnapshotConstPtr promoted) {
        net::co_spawn(loop_, promote(text, expected_revision, record, std::move(promoted)),
                      [](std::exception_ptr error) { transport::log_escaped_exception(error, "rollout_promotion"); });
    };
    if (auto refused = state_.start_rollout(candidate, std::move(*request.staged), std::move(promoter))) {
        co_return error_answer(409, "rollout_refused", *refused);
    }
    if (rollouts_ != nullptr) {
        rollouts_->started_here(expected_revision, std::get<VersionRecord>(std::move(staged_record)));
    }
    const Rollout& rollout = *state_.rollout();
    co_return json_answer(202, json{{"applied", false},
                                    {"staged", true},
                                    {"rollout", rollout.plan().id},
                                    {"version", record.version},
                                    {"canaries", rollout.plan().canaries},
                                    {"soak_seconds", std::chrono::duration<double>(rollout.plan().soak).count()},
                                    {"diff", std::move(analysis.diff)},
                                    {"guard", to_json(analysis.verdict)}});
}

awaitable<ApiAnswer> ConfigApi::history(std::string_view query) {
    if (store_ == nullptr) {
        co_return error_answer(403, "read_only",
                               "this control plane watches a file (" + options_.config_path +
                                   "): it keeps no history; run cell-control-plane with --etcd");
    }
    const auto parameters = query_parameters(query);
    std::size_t limit = options_.etcd_history;
    if (const auto it = parameters.find("limit"); it != parameters.end()) {
        const auto parsed = parse_revision(it->second);
        if (!parsed || *parsed == 0) {
            co_return error_answer(400, "bad_request", "limit must be a positive whole number");
        }
        limit = static_cast<std::size_t>(std::min<std::uint64_t>(*parsed, options_.etcd_history));
    }
    auto kept = co_await store_->store().history(limit);
    if (auto* failure = std::get_if<EtcdFailure>(&kept)) {
        co_return error_answer(503, "store_unavailable", failure->message);
    }
    json entries = json::array();
    for (const auto& record : std::get<std::vector<VersionRecord>>(kept)) {
        json entry = to_json(record);
        entry.erase("format");
        entry.erase("chunks");
        entries.push_back(std::move(entry));
    }
    co_return json_answer(200, json{{"store", "etcd"}, {"entries", std::move(entries)}});
}

}  // namespace cell::controlplane
