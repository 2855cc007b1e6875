#include "cell/cellctl/commands.hpp"

#include <optional>
#include <string>
#include <vector>

#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cell/cellctl/fleet_status.hpp"
#include "cell/cellctl/operation_edit.hpp"
#include "cell/cellctl/render.hpp"
#include "cell/controlplane/config_diff.hpp"
#include "cell/controlplane/rollout.hpp"
#include "cell/reload/table_loader.hpp"

namespace cell::cellctl {
namespace {

using json = nlohmann::json;

json parse_body(const HttpResponse& response) { return json::parse(response.body, nullptr, false); }

// The control planes of --control-plane, in order. The first that accepts a connection serves
// every request of the command, so that apply's diff and PUT go to the same replica.
class ControlPlanes {
public:
    ControlPlanes(const GlobalOptions& global, const Exchange& exchange, std::ostream& err)
        : exchange_(exchange), err_(err) {
        for (const auto& url : global.control_planes) {
            // The URLs were checked when the command line was parsed.
            bases_.push_back(std::get<BaseUrl>(parse_base_url(url)));
        }
    }

    // The answer, or nullopt after printing why there is none.
    std::optional<HttpResponse> send(const HttpRequest& request) {
        std::vector<std::string> failures;
        const std::size_t first = chosen_.value_or(0);
        const std::size_t last = chosen_ ? first + 1 : bases_.size();
        for (std::size_t i = first; i < last; ++i) {
            try {
                HttpResponse response = exchange_(bases_[i], request);
                chosen_ = i;
                return response;
            } catch (const NetworkError& error) {
                failures.push_back(fmt::format("cellctl: cannot reach the control plane at {}: {}", bases_[i].text,
                                               error.what()));
                // Once a request may have reached a server, sending it to another could apply it twice.
                if (error.connected()) {
                    break;
                }
            }
        }
        for (const auto& failure : failures) {
            err_ << failure << "\n";
        }
        return std::nullopt;
    }

    const std::string& url() const { return bases_[chosen_.value_or(0)].text; }

    // GET /status from every control plane (reachable or not), in the order given.
    std::vector<ReplicaAnswer> statuses() const {
        std::vector<ReplicaAnswer> answers;
        for (const auto& base : bases_) {
            ReplicaAnswer answer{base.text, std::nullopt, {}};
            try {
                const auto response = exchange_(base, {"GET", "/status", ""});
                json body = parse_body(response);
                if (response.status == 200 && body.is_object()) {
                    answer.status = std::move(body);
                } else {
                    answer.error = fmt::format("unexpected answer: HTTP {}", response.status);
                }
            } catch (const NetworkError& error) {
                answer.error = error.what();
            }
            answers.push_back(std::move(answer));
        }
        return answers;
    }

private:
    const Exchange& exchange_;
    std::ostream& err_;
    std::vector<BaseUrl> bases_;
    std::optional<std::size_t> chosen_;
};

int unexpected_answer(const HttpResponse& response, const std::string& url, std::ostream& err) {
    const json body = parse_body(response);
    std::string detail;
    if (body.is_object() && body.contains("detail")) {
        detail = body["detail"].is_string() ? body["detail"].get<std::string>() : body["detail"].dump();
    } else if (body.is_object() && body.contains("error")) {
        detail = body["error"].dump();
    } else {
        detail = response.body.substr(0, 200);
    }
    err << fmt::format("cellctl: unexpected answer from {}: HTTP {}{}{}\n", url, response.status,
                       detail.empty() ? "" : ": ", detail);
    return exit_error;
}

// The file's text, or nullopt after printing why it cannot be read.
std::optional<std::string> read_config_text(const std::string& path, std::ostream& err) {
    auto text = reload::read_file(path);
    if (const auto* failure = std::get_if<reload::LoadFailure>(&text)) {
        err << "cellctl: " << failure->reason << "\n";
        return std::nullopt;
    }
    return std::move(std::get<std::string>(text));
}

QueryParameters change_parameters(const Invocation& invocation) {
    QueryParameters parameters;
    if (!invocation.reason.empty()) {
        parameters.emplace_back("reason", invocation.reason);
    }
    parameters.emplace_back("applied_by", invocation.applied_by);
    if (invocation.force) {
        parameters.emplace_back("force", "true");
    }
    if (invocation.max_moved_keys) {
        parameters.emplace_back("max_moved_keys", *invocation.max_moved_keys);
    }
    if (invocation.staged) {
        parameters.emplace_back("staged", "true");
        if (invocation.canary) {
            parameters.emplace_back("canary", *invocation.canary);
        }
        if (invocation.soak) {
            parameters.emplace_back("soak", *invocation.soak);
        }
        if (invocation.error_margin) {
            parameters.emplace_back("error_margin", *invocation.error_margin);
        }
    }
    return parameters;
}

// The canaries `spec` names among the routers every control plane lists, comma-separated;
// nullopt (after saying why) when none qualifies or every router would.
std::optional<std::string> choose_fleet_canaries(const std::string& spec, const ControlPlanes& control_planes,
                                                 std::ostream& err) {
    const json merged = merge_fleet_status(control_planes.statuses());
    std::vector<std::string> ids;
    for (const auto& router : merged.at("routers")) {
        if (router.contains("id") && router["id"].is_string()) {
            ids.push_back(router["id"].get<std::string>());
        }
    }
    const auto parsed = std::get<controlplane::CanarySpec>(controlplane::parse_canary_spec(spec));  // checked with the flags
    const auto salt = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    const auto chosen = controlplane::choose_canaries(parsed, ids, salt);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    if (chosen.empty()) {
        err << "cellctl: refused: no router connected to the control planes matches the canary set \"" << spec
            << "\" (cellctl status lists them)\n";
        return std::nullopt;
    }
    if (chosen.size() == ids.size() && ids.size() > 1) {
        err << "cellctl: refused: the canary set \"" << spec << "\" is every router (" << ids.size()
            << "): apply without --staged instead\n";
        return std::nullopt;
    }
    std::string list;
    for (const auto& id : chosen) {
        list += (list.empty() ? "" : ",") + id;
    }
    return list;
}

// A staged apply was accepted (202): prints the rollout's steps as the control plane takes them
// until it is promoted (exit 0) or halted (exit 1), unless --no-wait.
int follow_rollout(const Invocation& invocation, const HttpResponse& accepted, ControlPlanes& control_planes,
                   std::ostream& out, std::ostream& err) {
    const json body = parse_body(accepted);
    if (!body.is_object() || !body.contains("rollout") || !body["rollout"].is_string()) {
        return unexpected_answer(accepted, control_planes.url(), err);
    }
    const std::string id = body["rollout"].get<std::string>();
    if (invocation.global.json && !invocation.wait) {
        out << accepted.body << "\n";
    } else if (!invocation.global.json) {
        std::string canaries;
        for (const auto& canary : body.value("canaries", json::array())) {
            canaries += (canaries.empty() ? "" : ", ") + canary.get<std::string>();
        }
        out << fmt::format("staged: rollout {} to {} first, soak {} s\n", id, canaries, body.value("soak_seconds", 0.0));
    }
    if (!invocation.wait) {
        return exit_ok;
    }
    // Bounded: the soak, the ack deadline and a minute besides.
    const auto give_up_at = std::chrono::steady_clock::now() +
                            std::chrono::milliseconds(static_cast<long>(body.value("soak_seconds", 0.0) * 1000)) +
                            std::chrono::minutes(3);
    std::size_t printed = 0;
    for (;;) {
        const auto response = control_planes.send({"GET", "/status", ""});
        if (!response) {
            return exit_error;
        }
        const json status = parse_body(*response);
        if (response->status != 200 || !status.is_object()) {
            return unexpected_answer(*response, control_planes.url(), err);
        }
        const json rollout = status.value("rollout", json());
        if (!rollout.is_object() || rollout.value("id", "") != id) {
            err << "cellctl: the control plane at " << control_planes.url() << " no longer shows rollout " << id
                << " (restarted?); `cellctl status` and `cellctl history` tell where the config stands\n";
            return exit_error;
        }
        const json steps = rollout.value("steps", json::array());
        for (; printed < steps.size(); ++printed) {
            if (!invocation.global.json) {
                out << fmt::format("  {}  {}\n", steps[printed].value("at", ""), steps[printed].value("what", ""));
            }
        }
        const std::string phase = rollout.value("phase", "");
        if (phase == "promoted" || phase == "halted") {
            if (invocation.global.json) {
                out << rollout.dump() << "\n";
            }
            if (phase == "halted") {
                err << "cellctl: rollout " << id << " halted: " << rollout.value("halt_reason", "") << "\n";
                return exit_refused;
            }
            return exit_ok;
        }
        if (std::chrono::steady_clock::now() >= give_up_at) {
            err << "cellctl: rollout " << id << " still " << phase << "; `cellctl status` follows it\n";
            return exit_error;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));  // polling the control plane
    }
}

// The command line that repeats this change, for the hints of refusals.
std::string repeat_command(const Invocation& invocation) {
    std::string command;
    switch (invocation.command) {
        case Command::apply: command = fmt::format("cellctl apply {}", invocation.file); break;
        case Command::rollback: command = fmt::format("cellctl rollback {}", invocation.revision); break;
        case Command::pin:
        case Command::move:
            command = fmt::format("cellctl {} {} {}", command_name(invocation.command), invocation.subject,
                                  invocation.placement);
            break;
        default: command = fmt::format("cellctl {} {}", command_name(invocation.command), invocation.subject); break;
    }
    if (invocation.command == Command::drain && !invocation.to.empty()) {
        command += " --to " + invocation.to;
    }
    if (invocation.max_moved_keys) {
        command += " --max-moved-keys " + *invocation.max_moved_keys;
    }
    return command;
}

int run_validate(const Invocation& invocation, std::ostream& out, std::ostream& err) {
    // The router's own startup path: the same reading, validation and messages as cell-router.
    auto loaded = reload::load_table_file(invocation.file, {});
    if (const auto* failure = std::get_if<reload::LoadFailure>(&loaded)) {
        if (invocation.global.json) {
            out << json{{"valid", false}, {"path", invocation.file}, {"error", failure->reason}}.dump() << "\n";
        }
        err << "cellctl: invalid config " << invocation.file << ": " << failure->reason << "\n";
        return exit_refused;
    }
    const auto& table = *std::get<reload::LoadedTable>(loaded).table;
    if (invocation.global.json) {
        out << json{{"valid", true},
                    {"path", invocation.file},
                    {"version", table.version()},
                    {"routing_keys", table.routing_key_count()},
                    {"placements", table.placements().size()},
                    {"content_hash", std::get<reload::LoadedTable>(loaded).content_hash}}
                   .dump()
            << "\n";
    } else {
        out << fmt::format("OK: {} is valid: version {}, {} routing keys, {} placements\n", invocation.file,
                           table.version(), table.routing_key_count(), table.placements().size());
    }
    return exit_ok;
}

// diff's exit code: no differences, differences, or differences the guard refuses.
int diff_exit_code(const json& answer) {
    const auto diff = controlplane::config_diff_from_json(answer.value("diff", json()));
    const bool refused = answer.contains("guard") && !answer["guard"].value("allowed", true);
    if (diff && diff->routing_unchanged() && diff->version.from == diff->version.to) {
        return exit_ok;
    }
    return refused ? exit_guard_refuses : exit_refused;
}

int run_diff(const Invocation& invocation, ControlPlanes& control_planes, std::ostream& out, std::ostream& err) {
    auto text = read_config_text(invocation.file, err);
    if (!text) {
        return exit_error;
    }
    QueryParameters parameters;
    if (invocation.max_moved_keys) {
        parameters.emplace_back("max_moved_keys", *invocation.max_moved_keys);
    }
    const auto response = control_planes.send({"POST", make_target("/config/diff", parameters), std::move(*text)});
    if (!response) {
        return exit_error;
    }
    const json body = parse_body(*response);
    if (response->status == 400 && body.is_object()) {
        if (invocation.global.json) {
            out << response->body << "\n";
        }
        err << "cellctl: invalid config " << invocation.file << ": " << body.value("detail", "(no detail)") << "\n";
        return exit_refused;
    }
    if (response->status != 200 || !body.is_object()) {
        return unexpected_answer(*response, control_planes.url(), err);
    }
    out << (invocation.global.json ? response->body + "\n" : render_diff_answer(body, invocation.file));
    return diff_exit_code(body);
}

// The answer to PUT /config or POST /rollback.
int report_change(const Invocation& invocation, const HttpResponse& response, const std::string& url, bool show_diff,
                  std::ostream& out, std::ostream& err) {
    const json body = parse_body(response);
    if (!body.is_object()) {
        return unexpected_answer(response, url, err);
    }
    const int status = response.status;
    const bool refusal = status == 400 || status == 403 || status == 404 || status == 409 || status == 422;
    if (status != 200 && !refusal && status != 503) {
        return unexpected_answer(response, url, err);
    }
    if (invocation.global.json) {
        out << response.body << "\n";
    } else if (status == 200) {
        out << render_applied(body, show_diff);
    }
    if (status == 200) {
        return exit_ok;
    }
    err << "cellctl: " << render_refusal(status, body, repeat_command(invocation));
    return status == 503 ? exit_error : exit_refused;
}

int run_apply(const Invocation& invocation, ControlPlanes& control_planes, std::ostream& out, std::ostream& err) {
    auto text = read_config_text(invocation.file, err);
    if (!text) {
        return exit_error;
    }
    QueryParameters diff_parameters;
    if (invocation.max_moved_keys) {
        diff_parameters.emplace_back("max_moved_keys", *invocation.max_moved_keys);
    }
    if (!invocation.staged) {
        // The control plane puts the file into its store while the PUT is on its way, when the
        // PUT is going to pass the guard; the PUT then names it instead of sending it again.
        diff_parameters.emplace_back("prepare", "true");
        if (invocation.force && !invocation.reason.empty()) {
            diff_parameters.emplace_back("force", "true");
        }
    }
    // The diff shows what will change and names the revision it was computed against: the PUT
    // then applies only if nobody changed the config in between.
    // Sent from this request, and from it again if the PUT has to carry the file.
    HttpRequest diff_request{"POST", make_target("/config/diff", diff_parameters), std::move(*text)};
    const auto preview = control_planes.send(diff_request);
    if (!preview) {
        return exit_error;
    }
    const json answer = parse_body(*preview);
    if (preview->status == 400 && answer.is_object()) {
        return report_change(invocation, *preview, control_planes.url(), false, out, err);
    }
    if (preview->status != 200 || !answer.is_object() || !answer.contains("base_revision") ||
        !answer["base_revision"].is_number_unsigned()) {
        return unexpected_answer(*preview, control_planes.url(), err);
    }
    const std::uint64_t base_revision = answer["base_revision"].get<std::uint64_t>();
    if (!invocation.global.json) {
        out << render_diff_answer(answer, invocation.file, invocation.force);
    }
    QueryParameters parameters{{"expected_revision", std::to_string(invocation.expected_revision.value_or(base_revision))}};
    for (auto& parameter : change_parameters(invocation)) {
        parameters.push_back(std::move(parameter));
    }
    if (invocation.staged && invocation.canary) {
        // Chosen here, among the routers of every control plane: a router connected to another
        // replica than the one taking the apply can be a canary too.
        auto canaries = choose_fleet_canaries(*invocation.canary, control_planes, err);
        if (!canaries) {
            return exit_refused;
        }
        parameters.emplace_back("canaries", *canaries);
    }
    std::optional<HttpResponse> response;
    if (const auto prepared = answer.find("prepared"); prepared != answer.end() && prepared->is_string()) {
        auto named = parameters;
        named.emplace_back("prepared", prepared->get<std::string>());
        response = control_planes.send({"PUT", make_target("/config", named), ""});
        if (response && response->status == 412) {
            response.reset();  // it no longer holds it: send the file itself
        } else if (!response) {
            return exit_error;
        }
    }
    if (!response) {
        response = control_planes.send({"PUT", make_target("/config", parameters), std::move(diff_request.body)});
    }
    if (!response) {
        return exit_error;
    }
    if (response->status == 202) {
        return follow_rollout(invocation, *response, control_planes, out, err);
    }
    return report_change(invocation, *response, control_planes.url(), false, out, err);
}

int run_abort_rollout(const Invocation& invocation, ControlPlanes& control_planes, std::ostream& out, std::ostream& err) {
    const auto response = control_planes.send(
        {"POST", make_target("/rollout/abort", QueryParameters{{"applied_by", invocation.applied_by}}), ""});
    if (!response) {
        return exit_error;
    }
    const json body = parse_body(*response);
    if (!body.is_object() || (response->status != 200 && response->status != 409)) {
        return unexpected_answer(*response, control_planes.url(), err);
    }
    if (invocation.global.json) {
        out << response->body << "\n";
    }
    if (response->status == 409) {
        err << "cellctl: refused: " << body.value("detail", "(no detail)") << "\n";
        return exit_refused;
    }
    if (!invocation.global.json) {
        out << "aborted rollout " << body.value("rollout", "") << ": its canaries get the stable version back\n";
    }
    return exit_ok;
}

OperationRequest operation_request(const Invocation& invocation) {
    OperationRequest request;
    switch (invocation.command) {
        case Command::drain:
            request.kind = OperationKind::drain;
            request.ramp = invocation.ramp.value_or(std::chrono::minutes(5));
            break;
        case Command::undrain:
            request.kind = OperationKind::undrain;
            request.ramp = invocation.ramp.value_or(std::chrono::minutes(1));
            break;
        case Command::pin: request.kind = OperationKind::pin; break;
        case Command::unpin: request.kind = OperationKind::unpin; break;
        case Command::pause: request.kind = OperationKind::pause; break;
        default: request.kind = OperationKind::move; break;
    }
    request.subject = invocation.subject;
    request.placement = invocation.placement;
    request.to = invocation.to;
    request.ttl = invocation.ttl.value_or(std::chrono::milliseconds(0));
    request.retry_after = invocation.retry_after;
    request.max_pause = invocation.max_pause;
    request.reason = invocation.reason;
    return request;
}

// drain, undrain, pin, unpin, pause, move: the stored config with the operation applied, written
// as a new version at the revision it was read at (a conflict if anyone changed it meanwhile),
// through the same validation, diff and guard as apply.
int run_operation(const Invocation& invocation, ControlPlanes& control_planes, std::ostream& out, std::ostream& err) {
    const auto current = control_planes.send({"GET", "/config", ""});
    if (!current) {
        return exit_error;
    }
    if (current->status != 200) {
        return unexpected_answer(*current, control_planes.url(), err);
    }
    if (current->header("X-Config-Store") == "file") {
        err << "cellctl: refused: the control plane at " << control_planes.url()
            << " watches a file: edit its \"operations\" there (docs/operations.md), or run it with --etcd\n";
        return exit_refused;
    }
    const std::string revision = current->header("X-Config-Revision");
    auto document = nlohmann::ordered_json::parse(current->body, nullptr, false);
    auto edited = edit_operations(std::move(document), operation_request(invocation), std::chrono::system_clock::now());
    if (const auto* refusal = std::get_if<std::string>(&edited)) {
        err << "cellctl: refused: " << *refusal << " (in the config at revision " << revision << ")\n";
        return exit_refused;
    }
    auto& change = std::get<EditedConfig>(edited);
    if (!invocation.global.json) {
        out << change.summary << "\n";
        for (const auto& cleaned : change.cleaned) {
            out << "also removed: " << cleaned << "\n";
        }
    }
    QueryParameters parameters{{"expected_revision", revision}};
    Invocation recorded = invocation;
    if (recorded.reason.empty()) {
        recorded.reason = change.summary;
    }
    for (auto& parameter : change_parameters(recorded)) {
        parameters.push_back(std::move(parameter));
    }
    const auto response = control_planes.send({"PUT", make_target("/config", parameters), change.document.dump()});
    if (!response) {
        return exit_error;
    }
    return report_change(invocation, *response, control_planes.url(), true, out, err);
}

int run_rollback(const Invocation& invocation, ControlPlanes& control_planes, std::ostream& out, std::ostream& err) {
    QueryParameters parameters{{"revision", std::to_string(invocation.revision)}};
    for (auto& parameter : change_parameters(invocation)) {
        parameters.push_back(std::move(parameter));
    }
    const auto response = control_planes.send({"POST", make_target("/rollback", parameters), ""});
    if (!response) {
        return exit_error;
    }
    return report_change(invocation, *response, control_planes.url(), true, out, err);
}

int run_history(const Invocation& invocation, ControlPlanes& control_planes, std::ostream& out, std::ostream& err) {
    QueryParameters parameters;
    if (invocation.limit) {
        parameters.emplace_back("limit", std::to_string(*invocation.limit));
    }
    const auto response = control_planes.send({"GET", make_target("/history", parameters), ""});
    if (!response) {
        return exit_error;
    }
    const json body = parse_body(*response);
    if (response->status == 403 && body.is_object()) {
        err << "cellctl: " << render_refusal(403, body, "");
        return exit_refused;
    }
    if (response->status != 200 || !body.is_object()) {
        return unexpected_answer(*response, control_planes.url(), err);
    }
    out << (invocation.global.json ? response->body + "\n" : render_history(body));
    return exit_ok;
}

int run_status(const Invocation& invocation, const Exchange& exchange, std::ostream& out, std::ostream& err) {
    const ControlPlanes control_planes(invocation.global, exchange, err);
    const json merged = merge_fleet_status(control_planes.statuses());
    out << (invocation.global.json ? merged.dump(2) + "\n" : render_fleet_status(merged));
    return fleet_exit_code(merged);
}

}  // namespace

Exchange network_exchange(std::chrono::milliseconds timeout) {
    return [timeout](const BaseUrl& base, const HttpRequest& request) { return send_request(base, request, timeout); };
}

int run_invocation(const Invocation& invocation, const Exchange& exchange, std::ostream& out, std::ostream& err) {
    if (invocation.command == Command::validate) {
        return run_validate(invocation, out, err);
    }
    if (invocation.command == Command::status) {
        return run_status(invocation, exchange, out, err);
    }
    ControlPlanes control_planes(invocation.global, exchange, err);
    switch (invocation.command) {
        case Command::diff: return run_diff(invocation, control_planes, out, err);
        case Command::apply: return run_apply(invocation, control_planes, out, err);
        case Command::rollback: return run_rollback(invocation, control_planes, out, err);
        case Command::history: return run_history(invocation, control_planes, out, err);
        case Command::abort_rollout: return run_abort_rollout(invocation, control_planes, out, err);
        case Command::drain:
        case Command::undrain:
        case Command::pin:
        case Command::unpin:
        case Command::pause:
        case Command::move: return run_operation(invocation, control_planes, out, err);
        default: return exit_error;
    }
}

}  // namespace cell::cellctl
