// The cellctl binary: `validate` against cell-router's own verdict, `status` against a real
// cell-control-plane with a real router, and diff/apply/rollback against a scripted HTTP server
// that checks every request cellctl sends and answers with the contract's responses.

#include <gtest/gtest.h>

#include <mutex>
#include <sstream>

#include "cellctl_runner.hpp"
#include "harness.hpp"
#include "metrics_support.hpp"

namespace cell::testing {
namespace {

// A control plane's HTTP API played from a script: connection N (cellctl sends one request per
// connection) gets the Nth scripted answer; every request is recorded for the test to check.
class ScriptedApi {
public:
    struct Received {
        std::string method;
        std::string target;
        std::string body;
    };

    ScriptedApi() : upstream_([this](int fd, int index) { serve(fd, index); }) {}

    void answer(int status, const Json& body) {
        std::lock_guard lock(mutex_);
        answers_.push_back({status, body.dump(), false});
    }
    // Reads the request, then says nothing until the client gives up.
    void stay_silent() {
        std::lock_guard lock(mutex_);
        answers_.push_back({0, {}, true});
    }

    std::vector<Received> received() const {
        std::lock_guard lock(mutex_);
        return received_;
    }
    std::string url() const { return upstream_.url(); }

private:
    struct Answer {
        int status;
        std::string body;
        bool silent;
    };

    void serve(int fd, int index) {
        const std::string head = fake_read_head(fd);
        if (head.empty()) {
            return;
        }
        Received request;
        std::istringstream lines(head);
        std::string version;
        lines >> request.method >> request.target >> version;
        std::size_t length = 0;
        for (std::string line; std::getline(lines, line);) {
            std::string lower = line;
            for (auto& c : lower) {
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
            if (lower.starts_with("content-length:")) {
                length = std::stoul(line.substr(15));
            }
        }
        request.body = length > 0 ? fake_read_exact(fd, length) : "";
        Answer answer{500, R"({"error":"unscripted"})", false};
        {
            std::lock_guard lock(mutex_);
            received_.push_back(request);
            if (static_cast<std::size_t>(index) < answers_.size()) {
                answer = answers_[static_cast<std::size_t>(index)];
            }
        }
        if (answer.silent) {
            fake_read_exact(fd, 1, 20s);  // returns when the client closes
            return;
        }
        fake_send(fd, "HTTP/1.1 " + std::to_string(answer.status) +
                          " Scripted\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                          std::to_string(answer.body.size()) + "\r\n\r\n" + answer.body);
    }

    mutable std::mutex mutex_;
    std::vector<Answer> answers_;
    std::vector<Received> received_;
    FakeUpstream upstream_;  // last: its threads use the members above
};

Json seed_config() {
    return Json::parse(R"({"version":"1.1.0","routingTable":{"acme":"tier2","globex":"tier2","visa":"visa"},
      "cellEndpoints":{"tier1":"http://127.0.0.1:9001","tier2":"http://127.0.0.1:9002","visa":"http://127.0.0.1:9004"},
      "defaultPlacement":"tier1"})");
}

Json diff_json(int moved) {
    return Json{{"keys_total_before", 3}, {"keys_total_after", 3}, {"keys_added", 0}, {"keys_removed", 0},
                {"keys_moved", moved},
                {"moves", Json::array({{{"from", "tier1"}, {"to", "tier2"}, {"keys", moved}}})},
                {"moved_key_samples", Json::array({{{"key", "acme"}, {"from", "tier1"}, {"to", "tier2"}}})},
                {"dedicated_moved", Json::array()}, {"placements_added", Json::array()},
                {"placements_removed", Json::array()}, {"endpoint_changes", Json::array()},
                {"policy_changes", Json::array()}, {"default_changed", nullptr},
                {"version", {{"from", "1.0.0"}, {"to", "1.1.0"}}}};
}

Json guard_json(bool allowed) {
    Json violations = Json::array();
    if (!allowed) {
        violations.push_back({{"rule", "moved_keys"}, {"detail", "2 keys would move or be removed, over the limit of 1"}});
    }
    return Json{{"allowed", allowed}, {"max_moved_keys", "1"}, {"violations", violations}};
}

Json diff_answer(int moved, bool allowed, int revision) {
    return Json{{"base_revision", revision}, {"base_version", "1.0.0"}, {"diff", diff_json(moved)}, {"guard", guard_json(allowed)}};
}

class CellctlTest : public ::testing::Test {
protected:
    CellctlTest() { write_file(config_path(), seed_config().dump()); }
    std::string config_path() const { return dir_.file("routing.json").string(); }

    TempDir dir_;
};

TEST_F(CellctlTest, ValidateAcceptsAGoodConfig) {
    const auto result = run_cellctl({"validate", config_path()}, dir_);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, "OK: " + config_path() + " is valid: version 1.1.0, 3 routing keys, 3 placements\n");
    const auto json = run_cellctl({"validate", config_path(), "--json"}, dir_);
    EXPECT_EQ(json.exit_code, 0);
    const Json parsed = Json::parse(json.out);
    EXPECT_EQ(parsed["valid"], true);
    EXPECT_EQ(parsed["routing_keys"], 3);
    EXPECT_EQ(parsed["content_hash"], sha256_hex(seed_config().dump()));
}

// cellctl and cell-router refuse the same files with the same words.
TEST_F(CellctlTest, ValidateRejectsWhatTheRouterRejects) {
    auto unknown_placement = seed_config();
    unknown_placement["routingTable"]["acme"] = "tier9";
    const std::vector<std::pair<std::string, std::string>> cases{
        {"unknown-placement.json", unknown_placement.dump()},
        {"syntax.json", R"({"version": "1", "routingTable": {)"},
        {"empty.json", ""},
    };
    for (const auto& [name, text] : cases) {
        SCOPED_TRACE(name);
        const auto path = dir_.file(name).string();
        write_file(path, text);
        Process router({CELL_ROUTER_BINARY, "--config", path, "--port", "0", "--listen", "127.0.0.1"}, dir_.path(),
                       "router-" + name);
        router.expect_exit_code(1);
        ASSERT_EQ(router.wait_exit(15s), 1);
        const std::string router_prefix = "cell-router: invalid config " + path + ": ";
        const std::string router_err = router.stderr_text();
        ASSERT_TRUE(router_err.starts_with(router_prefix)) << router_err;
        const std::string reason = router_err.substr(router_prefix.size(), router_err.find('\n') - router_prefix.size());

        const auto result = run_cellctl({"validate", path}, dir_);
        EXPECT_EQ(result.exit_code, 1);
        EXPECT_EQ(result.err, "cellctl: invalid config " + path + ": " + reason + "\n");
        EXPECT_EQ(result.out, "");
    }
    const auto missing = run_cellctl({"validate", dir_.file("missing.json").string()}, dir_);
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("cannot open " + dir_.file("missing.json").string()), std::string::npos) << missing.err;
}

// A real control plane in file mode with a real router connected to it.
TEST_F(CellctlTest, StatusShowsAConnectedRouter) {
    Deployment deployment(Deployment::Options{.cells = {}, .router_flags = {}, .start_router = false});
    deployment.write_config(seed_config());
    const auto cp_config = deployment.dir().file("control-plane.json");
    write_file_atomically(cp_config, seed_config().dump());
    ControlPlaneProcess cp(cp_config, deployment.dir().path());
    deployment.start_router({"--control-plane", cp.url(), "--node-id", "cellctl-router", "--config-cache",
                             deployment.dir().file("cache.json").string()});
    const std::string url = "http://127.0.0.1:" + std::to_string(cp.port());
    CellctlResult result;
    ASSERT_TRUE(eventually([&] {
        // The router connects after the control plane answers, so wait for its ack, not only for an answer.
        result = run_cellctl({"status", "--json", "--control-plane", url}, dir_);
        if (result.exit_code != 0) return false;
        const Json seen = Json::parse(result.out, nullptr, false);
        return seen.is_object() && seen["routers"].is_array() && seen["routers"].size() == 1 &&
               seen["routers"][0].value("current", false);
    }, 15s)) << result.out << result.err;
    const Json merged = Json::parse(result.out);
    EXPECT_EQ(merged["replicas_reachable"], 1);
    EXPECT_EQ(merged["current_version"], "1.1.0");
    ASSERT_EQ(merged["routers"].size(), 1u);
    EXPECT_EQ(merged["routers"][0]["id"], "cellctl-router");
    EXPECT_EQ(merged["routers"][0]["last_version_acked"], "1.1.0");
    EXPECT_EQ(merged["routers"][0]["current"], true);

    const auto text = run_cellctl({"status", "--control-plane", url}, dir_);
    EXPECT_EQ(text.exit_code, 0);
    EXPECT_NE(text.out.find("cellctl-router"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("1 of 1 routers current; 1 of 1 control planes reachable"), std::string::npos) << text.out;

    // A second control plane that does not answer: shown, and the exit code says so.
    const std::string nowhere = "http://127.0.0.1:" + std::to_string(free_port());
    const auto partial = run_cellctl({"status", "--control-plane", url + "," + nowhere}, dir_);
    EXPECT_EQ(partial.exit_code, 1);
    EXPECT_NE(partial.out.find(nowhere + "  no: cannot connect"), std::string::npos) << partial.out;
    EXPECT_NE(partial.out.find("1 of 2 control planes reachable"), std::string::npos) << partial.out;
    deployment.stop_router();
}

TEST_F(CellctlTest, UnreachableControlPlaneIsExitCodeTwo) {
    const std::string nowhere = "http://127.0.0.1:" + std::to_string(free_port());
    const auto result = run_cellctl({"history", "--control-plane", nowhere}, dir_);
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_TRUE(result.err.starts_with("cellctl: cannot reach the control plane at " + nowhere + ": cannot connect: "))
        << result.err;
}

TEST_F(CellctlTest, DiffSendsTheFileAndPrintsTheAnswer) {
    ScriptedApi api;
    api.answer(200, diff_answer(2, false, 7));
    const auto result = run_cellctl({"diff", config_path(), "--max-moved-keys", "1", "--control-plane", api.url()}, dir_);
    EXPECT_EQ(result.exit_code, 3) << result.err;
    const auto received = api.received();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].method, "POST");
    EXPECT_EQ(received[0].target, "/config/diff?max_moved_keys=1");
    EXPECT_EQ(received[0].body, seed_config().dump());
    EXPECT_NE(result.out.find("against revision 7 (version 1.0.0)"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("acme: tier1 -> tier2"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("guard: refused (moved-keys limit 1)\n  - moved_keys: 2 keys would move"), std::string::npos)
        << result.out;

    ScriptedApi json_api;
    json_api.answer(200, diff_answer(2, true, 7));
    const auto json = run_cellctl({"--json", "diff", config_path(), "--control-plane", json_api.url()}, dir_);
    EXPECT_EQ(json.exit_code, 1);
    EXPECT_EQ(Json::parse(json.out), diff_answer(2, true, 7));
}

TEST_F(CellctlTest, ApplyPutsAtTheRevisionOfTheDiff) {
    ScriptedApi api;
    api.answer(200, diff_answer(2, true, 41));
    api.answer(200, {{"applied", true}, {"revision", 42}, {"version", "1.1.0"}, {"diff", diff_json(2)},
                     {"guard", guard_json(true)}, {"forced", false}});
    const auto result = run_cellctl({"apply", config_path(), "--reason", "move acme+globex", "--applied-by", "ops@ci",
                                     "--control-plane", api.url()},
                                    dir_);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    const auto received = api.received();
    ASSERT_EQ(received.size(), 2u);
    EXPECT_EQ(received[0].method, "POST");
    EXPECT_EQ(received[0].target, "/config/diff?prepare=true");
    EXPECT_EQ(received[1].method, "PUT");
    EXPECT_EQ(received[1].target, "/config?expected_revision=41&reason=move%20acme%2Bglobex&applied_by=ops%40ci");
    EXPECT_EQ(received[1].body, seed_config().dump());
    EXPECT_NE(result.out.find("applied: revision 42 (version 1.1.0)"), std::string::npos) << result.out;
}

// Each refusal of the contract, rendered with what to do next.
TEST_F(CellctlTest, ApplyRefusals) {
    struct Case {
        int status;
        Json body;
        int exit_code;
        std::vector<std::string> expected;
    };
    const std::vector<Case> cases{
        {409,
         {{"error", "conflict"}, {"detail", "expected revision 41, the store is at 43"}, {"current_revision", 43},
          {"diff", diff_json(3)}, {"guard", guard_json(false)}},
         1,
         {"cellctl: conflict: expected revision 41, the store is at 43", "the stored config is now revision 43",
          "3 keys  tier1 -> tier2", "review it, then run again: cellctl apply "}},
        {422,
         {{"error", "blast_radius"}, {"detail", "refused by the guard"}, {"diff", diff_json(2)}, {"guard", guard_json(false)}},
         1,
         {"cellctl: refused by the blast-radius guard: refused by the guard", "  - moved_keys: 2 keys would move",
          "--force --reason \"why\""}},
        {403,
         {{"error", "read_only"},
          {"detail", "this control plane watches a file (/x.json): edit the file, or run cell-control-plane with --etcd"}},
         1,
         {"cellctl: refused: this control plane watches a file (/x.json): edit the file, or run cell-control-plane with --etcd"}},
        {503,
         {{"error", "store_unavailable"}, {"detail", "etcd 127.0.0.1:2379: connection refused"}},
         2,
         {"cellctl: the control plane's config store is unavailable: etcd 127.0.0.1:2379: connection refused"}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.status);
        ScriptedApi api;
        api.answer(200, diff_answer(2, true, 41));
        api.answer(c.status, c.body);
        const auto result = run_cellctl({"apply", config_path(), "--control-plane", api.url()}, dir_);
        EXPECT_EQ(result.exit_code, c.exit_code);
        for (const auto& text : c.expected) {
            EXPECT_NE(result.err.find(text), std::string::npos) << text << "\nin:\n" << result.err;
        }
        const auto received = api.received();
        ASSERT_EQ(received.size(), 2u);
        EXPECT_EQ(received[1].method, "PUT");
        EXPECT_TRUE(received[1].target.starts_with("/config?expected_revision=41&applied_by=")) << received[1].target;
    }
}

TEST_F(CellctlTest, ForceWithoutReasonSendsNothing) {
    ScriptedApi api;
    const auto result = run_cellctl({"apply", config_path(), "--force", "--control-plane", api.url()}, dir_);
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.err.find("--force needs --reason"), std::string::npos) << result.err;
    EXPECT_TRUE(api.received().empty());
}

TEST_F(CellctlTest, RollbackAndHistory) {
    ScriptedApi api;
    api.answer(200, {{"applied", true}, {"revision", 44}, {"version", "1.0.0"}, {"diff", diff_json(1)},
                     {"guard", guard_json(true)}, {"forced", true}});
    api.answer(200, Json::parse(R"({"store":"etcd","entries":[{"revision":44,"version":"1.0.0","content_hash":"ab",
      "applied_by":"ops@ci","applied_at":"2026-12-03T10:00:00Z","reason":"undo","forced":true,"rollback_of":40,
      "bytes":100,"routing_keys":3}]})"));
    const auto rollback = run_cellctl(
        {"rollback", "40", "--reason", "undo", "--force", "--applied-by", "ops@ci", "--control-plane", api.url()}, dir_);
    EXPECT_EQ(rollback.exit_code, 0) << rollback.err;
    EXPECT_NE(rollback.out.find("applied: revision 44 (version 1.0.0), forced past the blast-radius guard"),
              std::string::npos)
        << rollback.out;
    const auto history = run_cellctl({"history", "--limit", "1", "--control-plane", api.url()}, dir_);
    EXPECT_EQ(history.exit_code, 0) << history.err;
    EXPECT_NE(history.out.find("rollback of 40: undo"), std::string::npos) << history.out;
    const auto received = api.received();
    ASSERT_EQ(received.size(), 2u);
    EXPECT_EQ(received[0].method, "POST");
    EXPECT_EQ(received[0].target, "/rollback?revision=40&reason=undo&applied_by=ops%40ci&force=true");
    EXPECT_EQ(received[0].body, "");
    EXPECT_EQ(received[1].method, "GET");
    EXPECT_EQ(received[1].target, "/history?limit=1");
}

// The first control plane refuses connections: the second serves both of apply's requests.
TEST_F(CellctlTest, FailsOverToTheNextControlPlane) {
    ScriptedApi api;
    api.answer(200, diff_answer(2, true, 5));
    api.answer(200, {{"applied", true}, {"revision", 6}, {"version", "1.1.0"}, {"forced", false}});
    const std::string nowhere = "http://127.0.0.1:" + std::to_string(free_port());
    const auto result = run_cellctl({"apply", config_path(), "--control-plane", nowhere + "," + api.url()}, dir_);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(api.received().size(), 2u);
    EXPECT_EQ(result.err, "");
}

TEST_F(CellctlTest, TimeoutWhenTheControlPlaneDoesNotAnswer) {
    ScriptedApi api;
    api.stay_silent();
    const auto started = std::chrono::steady_clock::now();
    const auto result = run_cellctl({"diff", config_path(), "--timeout", "500ms", "--control-plane", api.url()}, dir_);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_EQ(result.err, "cellctl: cannot reach the control plane at " + api.url() + ": no answer within 500ms\n");
    EXPECT_EQ(api.received().size(), 1u);
}

}  // namespace
}  // namespace cell::testing
