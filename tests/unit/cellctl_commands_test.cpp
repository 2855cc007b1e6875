// cellctl's commands against scripted control-plane answers (no sockets): the requests each
// command sends, what it prints for every answer of the contract, its exit codes, and the
// failover between control planes.

#include <gtest/gtest.h>

#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cell/cellctl/commands.hpp"
#include "cell/cellctl/fleet_status.hpp"
#include "cell/cellctl/render.hpp"

namespace cell::cellctl {
namespace {

using nlohmann::json;

struct SentRequest {
    std::string url;
    HttpRequest request;
};

// Answers requests from a script, in order; a scripted NetworkError is thrown instead.
class ScriptedControlPlane {
public:
    struct Step {
        std::optional<HttpResponse> response;
        std::string error;
        bool connected = false;
    };

    void answer(int status, const json& body) { steps_.push_back({HttpResponse{status, {}, body.dump()}, {}, false}); }
    void fail(const std::string& reason, bool connected = false) { steps_.push_back({std::nullopt, reason, connected}); }

    Exchange exchange() {
        return [this](const BaseUrl& base, const HttpRequest& request) {
            sent.push_back({base.text, request});
            if (steps_.empty()) {
                throw NetworkError("unscripted request " + request.method + " " + request.target, true);
            }
            Step step = std::move(steps_.front());
            steps_.pop_front();
            if (!step.response) {
                throw NetworkError(step.error, step.connected);
            }
            return *step.response;
        };
    }

    std::vector<SentRequest> sent;

private:
    std::deque<Step> steps_;
};

class CellctlCommands : public ::testing::Test {
protected:
    CellctlCommands() {
        dir_ = std::filesystem::temp_directory_path() / ("cellctl-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        std::ofstream(file()) << config_text;
    }
    ~CellctlCommands() override { std::filesystem::remove_all(dir_); }

    std::string file() const { return (dir_ / "routing.json").string(); }

    int run(Invocation invocation) {
        if (invocation.global.control_planes.empty()) {
            invocation.global.control_planes = {"http://127.0.0.1:8081"};
        }
        out_.str("");
        err_.str("");
        return run_invocation(invocation, server_.exchange(), out_, err_);
    }

    Invocation command(Command which) {
        Invocation invocation;
        invocation.command = which;
        invocation.file = file();
        invocation.applied_by = "alice@host1";
        return invocation;
    }

    static json diff_json(std::uint64_t moved, bool dedicated = false) {
        return json{{"keys_total_before", 100},
                    {"keys_total_after", 100},
                    {"keys_added", 0},
                    {"keys_removed", 0},
                    {"keys_moved", moved},
                    {"moves", moved == 0 ? json::array() : json::array({{{"from", "tier1"}, {"to", "tier2"}, {"keys", moved}}})},
                    {"moved_key_samples", moved == 0 ? json::array() : json::array({{{"key", "acme"}, {"from", "tier1"}, {"to", "tier2"}}})},
                    {"dedicated_moved", dedicated ? json::array({{{"key", "visa"}, {"from", "visa"}, {"to", "tier1"}}}) : json::array()},
                    {"placements_added", json::array()},
                    {"placements_removed", json::array()},
                    {"endpoint_changes", json::array()},
                    {"policy_changes", json::array()},
                    {"default_changed", nullptr},
                    {"version", {{"from", "1.0.0"}, {"to", moved == 0 ? "1.0.0" : "1.1.0"}}}};
    }

    static json guard_json(bool allowed) {
        json violations = json::array();
        if (!allowed) {
            violations.push_back({{"rule", "moved_keys"}, {"detail", "30 keys would move or be removed, over the limit of 10%"}});
        }
        return json{{"allowed", allowed}, {"max_moved_keys", "10%"}, {"violations", violations}};
    }

    static json diff_answer(std::uint64_t moved, bool allowed = true, std::uint64_t revision = 7) {
        return json{{"base_revision", revision}, {"base_version", "1.0.0"}, {"diff", diff_json(moved)}, {"guard", guard_json(allowed)}};
    }

    static constexpr const char* config_text = R"({"version":"1.1.0","routingTable":{"acme":"tier2"},
        "cellEndpoints":{"tier1":"http://a:1","tier2":"http://b:1"},"defaultPlacement":"tier1"})";

    std::filesystem::path dir_;
    ScriptedControlPlane server_;
    std::ostringstream out_;
    std::ostringstream err_;
};

TEST_F(CellctlCommands, DiffPostsTheFileAndRendersTheAnswer) {
    auto answer = diff_answer(30);
    answer["diff"] = diff_json(30, true);
    server_.answer(200, answer);
    auto invocation = command(Command::diff);
    invocation.max_moved_keys = "10%";
    EXPECT_EQ(run(invocation), exit_refused);
    ASSERT_EQ(server_.sent.size(), 1u);
    EXPECT_EQ(server_.sent[0].request.method, "POST");
    EXPECT_EQ(server_.sent[0].request.target, "/config/diff?max_moved_keys=10%25");
    EXPECT_EQ(server_.sent[0].request.body, config_text);
    const auto text = out_.str();
    EXPECT_NE(text.find("against revision 7 (version 1.0.0)"), std::string::npos) << text;
    EXPECT_NE(text.find("version: 1.0.0 -> 1.1.0"), std::string::npos) << text;
    EXPECT_NE(text.find("30 keys  tier1 -> tier2"), std::string::npos) << text;
    EXPECT_NE(text.find("visa: visa -> tier1"), std::string::npos) << text;
    EXPECT_NE(text.find("guard: allowed (moved-keys limit 10%)"), std::string::npos) << text;
    EXPECT_NE(text.find("would apply"), std::string::npos) << text;
}

TEST_F(CellctlCommands, DiffExitCodes) {
    server_.answer(200, diff_answer(0));
    EXPECT_EQ(run(command(Command::diff)), exit_ok);
    EXPECT_NE(out_.str().find("no routing changes"), std::string::npos);
    EXPECT_EQ(server_.sent[0].request.target, "/config/diff");
    server_.answer(200, diff_answer(30, false));
    EXPECT_EQ(run(command(Command::diff)), exit_guard_refuses);
    EXPECT_NE(out_.str().find("guard: refused (moved-keys limit 10%)\n  - moved_keys: 30 keys would move"),
              std::string::npos)
        << out_.str();
    EXPECT_NE(out_.str().find("would be refused"), std::string::npos);
}

TEST_F(CellctlCommands, DiffJsonPrintsTheServersAnswer) {
    server_.answer(200, diff_answer(3));
    auto invocation = command(Command::diff);
    invocation.global.json = true;
    EXPECT_EQ(run(invocation), exit_refused);
    EXPECT_EQ(json::parse(out_.str()), diff_answer(3));
}

TEST_F(CellctlCommands, DiffOfInvalidConfig) {
    server_.answer(400, {{"error", "invalid_config"}, {"detail", "/routingTable/acme: unknown placement \"tier9\""}});
    EXPECT_EQ(run(command(Command::diff)), exit_refused);
    EXPECT_EQ(err_.str(), "cellctl: invalid config " + file() + ": /routingTable/acme: unknown placement \"tier9\"\n");
}

TEST_F(CellctlCommands, DiffOfUnreadableFileSendsNothing) {
    auto invocation = command(Command::diff);
    invocation.file = (dir_ / "missing.json").string();
    EXPECT_EQ(run(invocation), exit_error);
    EXPECT_TRUE(server_.sent.empty());
    EXPECT_NE(err_.str().find("cellctl: cannot open " + invocation.file), std::string::npos) << err_.str();
}

TEST_F(CellctlCommands, ApplyDiffsThenPutsAtTheBaseRevision) {
    server_.answer(200, diff_answer(2, false, 41));
    server_.answer(200, {{"applied", true}, {"revision", 42}, {"version", "1.1.0"}, {"diff", diff_json(2)},
                         {"guard", guard_json(false)}, {"forced", true}});
    auto invocation = command(Command::apply);
    invocation.reason = "move acme & co";
    invocation.force = true;
    invocation.max_moved_keys = "5000";
    EXPECT_EQ(run(invocation), exit_ok);
    ASSERT_EQ(server_.sent.size(), 2u);
    EXPECT_EQ(server_.sent[0].request.target, "/config/diff?max_moved_keys=5000&prepare=true&force=true");
    EXPECT_EQ(server_.sent[1].request.method, "PUT");
    EXPECT_EQ(server_.sent[1].request.target,
              "/config?expected_revision=41&reason=move%20acme%20%26%20co&applied_by=alice%40host1&force=true&max_moved_keys=5000");
    EXPECT_EQ(server_.sent[1].request.body, config_text);
    const auto text = out_.str();
    EXPECT_NE(text.find("against revision 41"), std::string::npos) << text;
    EXPECT_NE(text.find("the guard refuses this change; --force overrides it\n"), std::string::npos) << text;
    EXPECT_NE(text.find("applied: revision 42 (version 1.1.0), forced past the blast-radius guard"), std::string::npos)
        << text;
}

// The control plane prepared the write during the diff: the PUT names it and sends no body.
TEST_F(CellctlCommands, ApplyNamesThePreparedWriteInsteadOfSendingTheFileAgain) {
    auto prepared = diff_answer(1, true, 41);
    prepared["prepared"] = "c0ffee";
    server_.answer(200, prepared);
    server_.answer(200, {{"applied", true}, {"revision", 42}, {"version", "1.1.0"}, {"forced", false}});
    EXPECT_EQ(run(command(Command::apply)), exit_ok);
    ASSERT_EQ(server_.sent.size(), 2u);
    EXPECT_EQ(server_.sent[0].request.target, "/config/diff?prepare=true");
    EXPECT_EQ(server_.sent[1].request.target, "/config?expected_revision=41&applied_by=alice%40host1&prepared=c0ffee");
    EXPECT_EQ(server_.sent[1].request.body, "");
    EXPECT_NE(out_.str().find("applied: revision 42 (version 1.1.0)\n"), std::string::npos) << out_.str();
}

// A control plane that no longer holds the prepared write answers 412: the file goes whole.
TEST_F(CellctlCommands, ApplySendsTheFileWhenThePreparedWriteIsGone) {
    auto prepared = diff_answer(1, true, 41);
    prepared["prepared"] = "c0ffee";
    server_.answer(200, prepared);
    server_.answer(412, {{"error", "not_prepared"}, {"detail", "send the config in the body"}});
    server_.answer(200, {{"applied", true}, {"revision", 42}, {"version", "1.1.0"}, {"forced", false}});
    EXPECT_EQ(run(command(Command::apply)), exit_ok);
    ASSERT_EQ(server_.sent.size(), 3u);
    EXPECT_EQ(server_.sent[2].request.target, "/config?expected_revision=41&applied_by=alice%40host1");
    EXPECT_EQ(server_.sent[2].request.body, config_text);
    EXPECT_NE(out_.str().find("applied: revision 42 (version 1.1.0)\n"), std::string::npos) << out_.str();
}

// A staged apply goes to the canaries first and is written later: nothing is prepared for it.
TEST_F(CellctlCommands, StagedApplyDoesNotAskToPrepare) {
    server_.answer(200, diff_answer(1, true, 41));
    server_.answer(500, {{"error", "stop here"}});
    auto invocation = command(Command::apply);
    invocation.staged = true;
    run(invocation);
    ASSERT_GE(server_.sent.size(), 1u);
    EXPECT_EQ(server_.sent[0].request.target, "/config/diff");
}

TEST_F(CellctlCommands, ApplyWithExpectedRevisionUsesIt) {
    server_.answer(200, diff_answer(1, true, 41));
    server_.answer(200, {{"applied", true}, {"revision", 42}, {"version", "1.1.0"}, {"forced", false}});
    auto invocation = command(Command::apply);
    invocation.expected_revision = 40;
    EXPECT_EQ(run(invocation), exit_ok);
    ASSERT_EQ(server_.sent.size(), 2u);
    EXPECT_EQ(server_.sent[1].request.target, "/config?expected_revision=40&applied_by=alice%40host1");
    EXPECT_NE(out_.str().find("applied: revision 42 (version 1.1.0)\n"), std::string::npos);
}

TEST_F(CellctlCommands, ApplyConflictShowsTheFreshDiff) {
    server_.answer(200, diff_answer(1));
    server_.answer(409, {{"error", "conflict"}, {"detail", "expected revision 7, the store is at revision 9"},
                         {"current_revision", 9}, {"diff", diff_json(30)}, {"guard", guard_json(false)}});
    EXPECT_EQ(run(command(Command::apply)), exit_refused);
    const auto text = err_.str();
    EXPECT_NE(text.find("cellctl: conflict: expected revision 7, the store is at revision 9\n"
                        "the stored config is now revision 9"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("30 keys  tier1 -> tier2"), std::string::npos) << text;
    EXPECT_NE(text.find("guard: refused"), std::string::npos) << text;
    EXPECT_NE(text.find("review it, then run again: cellctl apply " + file()), std::string::npos) << text;
}

TEST_F(CellctlCommands, ApplyRefusedByTheGuardSaysHowToOverride) {
    server_.answer(200, diff_answer(30, false));
    server_.answer(422, {{"error", "blast_radius"}, {"detail", "the change moves too much"}, {"diff", diff_json(30)},
                         {"guard", guard_json(false)}});
    EXPECT_EQ(run(command(Command::apply)), exit_refused);
    const auto text = err_.str();
    EXPECT_NE(text.find("cellctl: refused by the blast-radius guard: the change moves too much"), std::string::npos) << text;
    EXPECT_NE(text.find("  - moved_keys: 30 keys would move or be removed"), std::string::npos) << text;
    EXPECT_NE(text.find("to apply anyway: cellctl apply " + file() + " --force --reason \"why\""), std::string::npos)
        << text;
}

TEST_F(CellctlCommands, ApplyToAFileModeControlPlane) {
    const std::string detail =
        "this control plane watches a file (/etc/routing.json): edit the file, or run cell-control-plane with --etcd";
    server_.answer(200, diff_answer(1, true, 0));
    server_.answer(403, {{"error", "read_only"}, {"detail", detail}});
    EXPECT_EQ(run(command(Command::apply)), exit_refused);
    EXPECT_EQ(err_.str(), "cellctl: refused: " + detail + "\n");
    EXPECT_EQ(server_.sent[1].request.target, "/config?expected_revision=0&applied_by=alice%40host1");
}

TEST_F(CellctlCommands, ApplyWhileTheStoreIsDown) {
    server_.answer(200, diff_answer(1));
    server_.answer(503, {{"error", "store_unavailable"}, {"detail", "etcd 127.0.0.1:2379: connection refused"}});
    EXPECT_EQ(run(command(Command::apply)), exit_error);
    EXPECT_EQ(err_.str(),
              "cellctl: the control plane's config store is unavailable: etcd 127.0.0.1:2379: connection refused\n");
}

TEST_F(CellctlCommands, ApplyOfInvalidConfigStopsAtTheDiff) {
    server_.answer(400, {{"error", "invalid_config"}, {"detail", "/defaultPlacement: required field is missing"}});
    EXPECT_EQ(run(command(Command::apply)), exit_refused);
    EXPECT_EQ(server_.sent.size(), 1u);
    EXPECT_EQ(err_.str(), "cellctl: refused: the config is invalid: /defaultPlacement: required field is missing\n");
}

TEST_F(CellctlCommands, ApplyJsonPrintsTheFinalAnswer) {
    server_.answer(200, diff_answer(1));
    const json refusal = {{"error", "read_only"}, {"detail", "file mode"}};
    server_.answer(403, refusal);
    auto invocation = command(Command::apply);
    invocation.global.json = true;
    EXPECT_EQ(run(invocation), exit_refused);
    EXPECT_EQ(json::parse(out_.str()), refusal);
}

TEST_F(CellctlCommands, UnexpectedAnswerIsAnError) {
    server_.answer(404, {{"error", "not_found"}});
    EXPECT_EQ(run(command(Command::diff)), exit_error);
    EXPECT_EQ(err_.str(), "cellctl: unexpected answer from http://127.0.0.1:8081: HTTP 404: \"not_found\"\n");
}

TEST_F(CellctlCommands, RollbackPostsTheRevisionAndShowsTheChanges) {
    server_.answer(200, {{"applied", true}, {"revision", 15}, {"version", "1.0.0"}, {"diff", diff_json(4)},
                         {"guard", guard_json(true)}, {"forced", false}});
    auto invocation = command(Command::rollback);
    invocation.revision = 12;
    invocation.reason = "bad push";
    EXPECT_EQ(run(invocation), exit_ok);
    ASSERT_EQ(server_.sent.size(), 1u);
    EXPECT_EQ(server_.sent[0].request.method, "POST");
    EXPECT_EQ(server_.sent[0].request.target, "/rollback?revision=12&reason=bad%20push&applied_by=alice%40host1");
    EXPECT_NE(out_.str().find("4 keys  tier1 -> tier2"), std::string::npos) << out_.str();
    EXPECT_NE(out_.str().find("applied: revision 15 (version 1.0.0)"), std::string::npos) << out_.str();
}

TEST_F(CellctlCommands, RollbackToAnUnknownRevision) {
    server_.answer(404, {{"error", "unknown_revision"}, {"detail", "revision 3 is not in the kept history"}});
    auto invocation = command(Command::rollback);
    invocation.revision = 3;
    EXPECT_EQ(run(invocation), exit_refused);
    EXPECT_EQ(err_.str(), "cellctl: refused: revision 3 is not in the kept history\n");
}

TEST_F(CellctlCommands, HistoryTable) {
    server_.answer(200, json::parse(R"({"store":"etcd","entries":[
      {"revision":15,"version":"1.0.0","content_hash":"ab","applied_by":"bob@ops","applied_at":"2026-12-03T10:00:00Z",
       "reason":"bad push","forced":false,"rollback_of":12,"bytes":300,"routing_keys":4},
      {"revision":14,"version":"1.1.0","content_hash":"cd","applied_by":"alice@host1","applied_at":"2026-12-03T09:00:00Z",
       "reason":"","forced":true,"rollback_of":null,"bytes":310,"routing_keys":5}]})"));
    auto invocation = command(Command::history);
    invocation.limit = 2;
    EXPECT_EQ(run(invocation), exit_ok);
    EXPECT_EQ(server_.sent[0].request.target, "/history?limit=2");
    EXPECT_EQ(out_.str(),
              "REVISION  VERSION  APPLIED AT            APPLIED BY   KEYS  FORCED  REASON\n"
              "15        1.0.0    2026-12-03T10:00:00Z  bob@ops      4     no      rollback of 12: bad push\n"
              "14        1.1.0    2026-12-03T09:00:00Z  alice@host1  5     yes     -\n");
}

TEST_F(CellctlCommands, HistoryInFileMode) {
    server_.answer(403, {{"error", "read_only"}, {"detail", "this control plane watches a file (x)"}});
    EXPECT_EQ(run(command(Command::history)), exit_refused);
    EXPECT_EQ(err_.str(), "cellctl: refused: this control plane watches a file (x)\n");
}

TEST_F(CellctlCommands, FirstReachableControlPlaneServesTheWholeCommand) {
    server_.fail("cannot connect: Connection refused");
    server_.answer(200, diff_answer(1));
    server_.answer(200, {{"applied", true}, {"revision", 8}, {"version", "1.1.0"}, {"forced", false}});
    auto invocation = command(Command::apply);
    invocation.global.control_planes = {"http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"};
    EXPECT_EQ(run(invocation), exit_ok);
    ASSERT_EQ(server_.sent.size(), 3u);
    EXPECT_EQ(server_.sent[0].url, "http://127.0.0.1:1");
    EXPECT_EQ(server_.sent[1].url, "http://127.0.0.1:2");
    EXPECT_EQ(server_.sent[2].url, "http://127.0.0.1:2");
    EXPECT_EQ(err_.str(), "");
}

TEST_F(CellctlCommands, NoControlPlaneReachable) {
    server_.fail("cannot connect: Connection refused");
    server_.fail("connecting timed out after 30s");
    auto invocation = command(Command::history);
    invocation.global.control_planes = {"http://127.0.0.1:1", "http://127.0.0.1:2"};
    EXPECT_EQ(run(invocation), exit_error);
    EXPECT_EQ(err_.str(),
              "cellctl: cannot reach the control plane at http://127.0.0.1:1: cannot connect: Connection refused\n"
              "cellctl: cannot reach the control plane at http://127.0.0.1:2: connecting timed out after 30s\n");
}

// A request that may have reached a server is never sent to another: a PUT could apply twice.
TEST_F(CellctlCommands, NoFailoverOnceConnected) {
    server_.answer(200, diff_answer(1));
    server_.fail("no answer within 30s", true);
    auto invocation = command(Command::apply);
    invocation.global.control_planes = {"http://127.0.0.1:1", "http://127.0.0.1:2"};
    EXPECT_EQ(run(invocation), exit_error);
    EXPECT_EQ(server_.sent.size(), 2u);
    EXPECT_EQ(err_.str(), "cellctl: cannot reach the control plane at http://127.0.0.1:1: no answer within 30s\n");
}

// ---- status ----

json replica_status(const std::string& replica, std::uint64_t revision, const json& routers) {
    return json{{"current_version", "v" + std::to_string(revision)}, {"current_hash", "h"}, {"current_revision", revision},
                {"replica", replica}, {"routers_connected", routers.size()}, {"routers", routers}};
}

json router_status(const std::string& id, bool acked_current, std::uint64_t revision) {
    return json{{"id", id}, {"address", "127.0.0.1:5000"}, {"last_version_acked", "v" + std::to_string(revision)},
                {"last_revision_acked", revision}, {"acked_current", acked_current},
                {"versions_behind", acked_current ? 0 : 2}, {"behind_seconds", acked_current ? 0 : 35},
                {"last_nack", acked_current ? json(nullptr)
                                            : json{{"version", "v9"}, {"error", "bad table"}, {"at", "2026-12-03T10:00:00Z"}}}};
}

TEST_F(CellctlCommands, StatusAsksEveryControlPlaneAndMerges) {
    server_.answer(200, replica_status("10.0.0.1:8081", 9, json::array({router_status("r1", true, 9),
                                                                         router_status("r2", false, 7)})));
    server_.answer(200, replica_status("10.0.0.2:8081", 8, json::array({router_status("r3", true, 8)})));
    server_.fail("cannot connect: Connection refused");
    auto invocation = command(Command::status);
    invocation.global.control_planes = {"http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"};
    EXPECT_EQ(run(invocation), exit_refused);
    ASSERT_EQ(server_.sent.size(), 3u);
    for (const auto& sent : server_.sent) {
        EXPECT_EQ(sent.request.method, "GET");
        EXPECT_EQ(sent.request.target, "/status");
    }
    const auto text = out_.str();
    EXPECT_EQ(text,
              "CONTROL PLANE       REACHABLE                               VERSION  REVISION  ROUTERS  CURRENT\n"
              "10.0.0.1:8081       yes                                     v9       9         2        yes\n"
              "10.0.0.2:8081       yes                                     v8       8         1        no\n"
              "http://127.0.0.1:3  no: cannot connect: Connection refused\n"
              "\n"
              "ROUTER  CONNECTED TO   ACKED VERSION  ACKED REVISION  CURRENT  LAG             LAST NACK\n"
              "r1      10.0.0.1:8081  v9             9               yes      -               -\n"
              "r2      10.0.0.1:8081  v7             7               no       2 behind, 35s   v9: bad table (2026-12-03T10:00:00Z)\n"
              "r3      10.0.0.2:8081  v8             8               no       replica behind  -\n"
              "\n"
              "1 of 3 routers current; 2 of 3 control planes reachable\n");
}

TEST_F(CellctlCommands, StatusJsonAndExitCodes) {
    server_.answer(200, replica_status("10.0.0.1:8081", 9, json::array({router_status("r1", true, 9)})));
    auto invocation = command(Command::status);
    invocation.global.json = true;
    EXPECT_EQ(run(invocation), exit_ok);
    const json merged = json::parse(out_.str());
    EXPECT_EQ(merged["current_revision"], 9);
    EXPECT_EQ(merged["current_version"], "v9");
    EXPECT_EQ(merged["routers_current"], 1);
    EXPECT_EQ(merged["routers"][0]["replica"], "10.0.0.1:8081");
    EXPECT_EQ(merged["routers"][0]["last_revision_acked"], 9);
    EXPECT_EQ(merged["replicas"][0]["reachable"], true);

    server_.fail("cannot connect: Connection refused");
    EXPECT_EQ(run(invocation), exit_error);
    EXPECT_EQ(json::parse(out_.str())["replicas"][0]["error"], "cannot connect: Connection refused");
}

// A control plane without revisions (file mode, or one from before them) still shows its routers,
// named by the URL it was asked at.
TEST(CellctlFleetStatus, WithoutRevisions) {
    json status = {{"current_version", "1.0.0"}, {"current_hash", "h"},
                   {"routers", json::array({{{"id", "r1"}, {"acked_current", true}, {"last_version_acked", "1.0.0"}}})}};
    const json merged = merge_fleet_status({ReplicaAnswer{"http://127.0.0.1:8081", status, {}}});
    EXPECT_EQ(merged["current_revision"], nullptr);
    EXPECT_EQ(merged["routers_current"], 1);
    EXPECT_EQ(merged["routers"][0]["replica"], "http://127.0.0.1:8081");
    EXPECT_EQ(merged["routers"][0]["last_revision_acked"], nullptr);
    EXPECT_EQ(fleet_exit_code(merged), exit_ok);
}

TEST(CellctlRender, FormatTableAlignsColumns) {
    EXPECT_EQ(format_table({{"A", "BB", "C"}, {"aaa", "b", ""}}), "A    BB  C\naaa  b\n");
}

TEST(CellctlRender, GuardInAnUnknownFormatIsShownRaw) {
    EXPECT_EQ(render_guard(json{{"allowed", "maybe"}}), "guard: (unknown format) {\"allowed\":\"maybe\"}\n");
}

}  // namespace
}  // namespace cell::cellctl
