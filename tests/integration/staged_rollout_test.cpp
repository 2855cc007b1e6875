// Staged rollouts against a real cell-control-plane watching a file (--rollout-canary) and three
// real routers, one of them the canary: a rollout that completes (the canary first, the rest
// after the soak), one that halts on the canary's nack, and one that halts on an error spike
// injected through a cell's fail switch; after a halt the canary serves the stable version
// again and the other routers never saw the candidate.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "cell/config/timestamp.hpp"
#include "harness.hpp"
#include "keep_alive_load.hpp"

namespace cell::testing {
namespace {

using namespace std::chrono_literals;

Json debug_config(unsigned short port) { return request(port, "GET", "/debug/config").json(); }

class StagedRolloutTest : public ::testing::Test {
protected:
    StagedRolloutTest() : deployment_(Deployment::Options{.start_router = false}) {
        deployment_.write_config(deployment_.config("0.0.1"));  // the routers' bootstrap file
        write_shared(deployment_.config("1.0.0"));
    }
    ~StagedRolloutTest() override {
        for (auto& router : routers_) {
            EXPECT_TRUE(router->terminate().has_value());
        }
        if (control_plane_) {
            EXPECT_TRUE(control_plane_->terminate().has_value());
        }
    }

    std::filesystem::path shared() const { return deployment_.dir().file("control-plane.json"); }
    void write_shared(const Json& config) const { write_file_atomically(shared(), config.dump()); }
    Json status() const { return request(control_plane_port_, "GET", "/status").json(); }
    Json rollout() const { return status()["rollout"]; }
    std::string serving(std::size_t router) const { return debug_config(ports_[router])["version"]; }

    // The control plane with a soak of `soak`, then the canary and two other routers, all on 1.0.0.
    void start(const std::string& soak, const std::vector<std::string>& canary_flags = {}) {
        control_plane_ = std::make_unique<Process>(
            std::vector<std::string>{CELL_CONTROL_PLANE_BINARY, "--config", shared().string(), "--port", "0",
                                     "--listen", "127.0.0.1", "--poll-interval", "50ms", "--rollout-canary", "canary-*",
                                     "--rollout-soak", soak, "--rollout-ack-timeout", "20s", "--rollout-min-requests",
                                     "20"},
            deployment_.dir().path(), "control-plane");
        control_plane_port_ = control_plane_port_of(*control_plane_);
        const std::string url = "ws://127.0.0.1:" + std::to_string(control_plane_port_) + "/connect";
        for (const std::string node : {"canary-1", "stable-1", "stable-2"}) {
            std::vector<std::string> argv{CELL_ROUTER_BINARY, "--config", deployment_.config_path().string(), "--port",
                                          "0", "--listen", "127.0.0.1", "--threads", "1", "--control-plane", url,
                                          "--node-id", node, "--report-interval", "200ms", "--admin-port", "0", "--config-cache",
                                          deployment_.dir().file(node + "-cache.json").string()};
            if (node == "canary-1") {
                argv.insert(argv.end(), canary_flags.begin(), canary_flags.end());
            }
            routers_.push_back(std::make_unique<Process>(argv, deployment_.dir().path(), node));
            ports_.push_back(proxy_port_of(*routers_.back()));
        }
        ASSERT_TRUE(eventually([&] {
            const Json now = status();
            return now["routers_connected"] == 3 && now["acked_current"] == 3 && now["current_version"] == "1.0.0";
        }, 20s)) << status().dump();
    }

    // Waits for the rollout of `version` to reach `phase`.
    bool reaches(const std::string& version, const std::string& phase, std::chrono::milliseconds within = 20s) const {
        return eventually([&] {
            const Json now = rollout();
            return now.is_object() && now["candidate_version"] == version && now["phase"] == phase;
        }, within);
    }

    Deployment deployment_;
    std::unique_ptr<Process> control_plane_;
    unsigned short control_plane_port_ = 0;
    std::vector<std::unique_ptr<Process>> routers_;
    std::vector<unsigned short> ports_;
};

// The candidate reaches the canary first; while it soaks the other routers stay on the stable
// version; after the soak every router serves it, and /status tells each step.
TEST_F(StagedRolloutTest, CompletesCanaryFirstThenEveryRouter) {
    start("2s");
    std::vector<std::unique_ptr<KeepAliveLoad>> loads;
    for (const auto port : ports_) {
        loads.push_back(std::make_unique<KeepAliveLoad>(port, "acme"));
    }
    Json next = deployment_.config("2.0.0");
    next["routingTable"]["acme"] = "tier2";
    write_shared(next);
    ASSERT_TRUE(reaches("2.0.0", "soaking")) << status().dump();
    EXPECT_EQ(serving(0), "2.0.0");
    EXPECT_EQ(serving(1), "1.0.0");
    EXPECT_EQ(serving(2), "1.0.0");
    EXPECT_EQ(request(ports_[0], "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To"), "tier2");
    EXPECT_EQ(request(ports_[1], "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To"), "tier1");
    const Json during = status();
    EXPECT_EQ(during["stable_version"], "1.0.0");
    EXPECT_EQ(during["candidate_version"], "2.0.0");
    EXPECT_EQ(during["rollout"]["canaries"], Json::array({"canary-1"}));
    for (const Json& router : during["routers"]) {
        EXPECT_EQ(router["canary"], router["id"] == "canary-1") << router.dump();
        EXPECT_EQ(router["target_version"], router["id"] == "canary-1" ? "2.0.0" : "1.0.0") << router.dump();
    }

    ASSERT_TRUE(reaches("2.0.0", "promoted")) << status().dump();
    {
        const Json steps = rollout()["steps"];
        const auto at = [&](std::size_t i) { return *config::parse_rfc3339(steps[i]["at"].get<std::string>()); };
        const auto ms = [](auto d) { return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()); };
        std::printf("[ measure  ] canary acked %lld ms after the rollout started; promoted %lld ms after it started\n",
                    ms(at(1) - at(0)), ms(at(steps.size() - 1) - at(0)));
    }
    ASSERT_TRUE(eventually([&] { return status()["acked_current"] == 3; })) << status().dump();
    for (std::size_t i = 0; i < ports_.size(); ++i) {
        EXPECT_EQ(serving(i), "2.0.0");
    }
    const Json done = status();
    EXPECT_EQ(done["current_version"], "2.0.0");
    EXPECT_EQ(done["candidate_version"], nullptr);
    EXPECT_GT(done["rollout"]["canary_counts"]["requests"].get<long>(), 20) << done.dump();
    EXPECT_EQ(done["rollout"]["canary_counts"]["errors"], 0);
    std::string steps;
    for (const Json& step : done["rollout"]["steps"]) {
        steps += step["what"].get<std::string>() + "\n";
    }
    EXPECT_NE(steps.find("pushed 2.0.0 to 1 canary (canary-1)"), std::string::npos) << steps;
    EXPECT_NE(steps.find("every canary acked"), std::string::npos) << steps;
    EXPECT_NE(steps.find("soak passed"), std::string::npos) << steps;
    EXPECT_NE(steps.find("promoted"), std::string::npos) << steps;
    // The routers' per-version counts are in /status too.
    for (const Json& router : done["routers"]) {
        ASSERT_TRUE(eventually([&] {
            const Json now = status();
            for (const Json& r : now["routers"]) {
                if (r["id"] == router["id"] && !r["counts"].empty() && r["counts"][0]["version"] == "2.0.0") {
                    return true;
                }
            }
            return false;
        })) << status().dump();
    }
    for (auto& load : loads) {
        load->stop();
        EXPECT_EQ(load->failed(), 0) << load->last_failure();
    }
}

// The canary refuses the candidate (over the snapshot limit it announced): the rollout halts at
// once, the canary keeps the stable version, the others never get the candidate.
TEST_F(StagedRolloutTest, HaltsOnTheCanarysNack) {
    start("30s", {"--max-snapshot-bytes", "40000"});
    Json big = deployment_.config("2.0.0");
    for (int i = 0; i < 2000; ++i) {
        big["routingTable"]["tenant-" + std::to_string(i)] = "tier1";  // about 60 kB
    }
    write_shared(big);
    ASSERT_TRUE(reaches("2.0.0", "halted")) << status().dump();
    const Json halted = status()["rollout"];
    EXPECT_NE(halted["halt_reason"].get<std::string>().find("canary canary-1 refused 2.0.0"), std::string::npos)
        << halted.dump();
    EXPECT_EQ(status()["current_version"], "1.0.0");
    EXPECT_EQ(status()["candidate_version"], nullptr);
    for (std::size_t i = 0; i < ports_.size(); ++i) {
        EXPECT_EQ(serving(i), "1.0.0");
    }
    // The canary's nack is on record; the others were never sent the candidate.
    const Json after = status();
    for (const Json& router : after["routers"]) {
        EXPECT_EQ(router["last_version_sent"], "1.0.0") << router.dump();
        if (router["id"] == "canary-1") {
            EXPECT_EQ(router["last_nack"]["version"], "2.0.0") << router.dump();
        }
    }
}

// The candidate sends acme to tier2, whose cell is switched to fail every request: the canary's
// error rate jumps while the others (acme on tier1) serve cleanly, so the rollout halts and the
// canary is rolled back to the stable version, after which it serves acme from tier1 again.
TEST_F(StagedRolloutTest, HaltsOnAnErrorSpikeAndRollsTheCanaryBack) {
    start("30s");
    std::vector<std::unique_ptr<KeepAliveLoad>> loads;
    for (const auto port : ports_) {
        loads.push_back(std::make_unique<KeepAliveLoad>(port, "acme"));
    }
    const auto switched =
        request(deployment_.cell_port("tier2"), "POST", "/admin/fail-rate?rate=1");
    ASSERT_EQ(switched.status, 200) << switched.body;
    Json next = deployment_.config("2.0.0");
    next["routingTable"]["acme"] = "tier2";
    write_shared(next);
    ASSERT_TRUE(reaches("2.0.0", "halted")) << status().dump();
    const Json halted = status()["rollout"];
    EXPECT_NE(halted["halt_reason"].get<std::string>().find("error spike on the canaries: 100.0%"), std::string::npos)
        << halted.dump();
    const std::string metrics = request(control_plane_port_, "GET", "/metrics").body;
    EXPECT_NE(metrics.find("cellcp_rollouts_total{outcome=\"halted\"} 1"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("cellcp_rollout_running 0"), std::string::npos) << metrics;
    EXPECT_EQ(halted["other_counts"]["errors"], 0) << halted.dump();
    ASSERT_TRUE(eventually([&] { return serving(0) == "1.0.0"; })) << status().dump();
    EXPECT_EQ(request(ports_[0], "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To"), "tier1");
    EXPECT_EQ(serving(1), "1.0.0");
    EXPECT_EQ(serving(2), "1.0.0");
    EXPECT_EQ(status()["current_version"], "1.0.0");
    for (std::size_t i = 1; i < loads.size(); ++i) {
        loads[i]->stop();
        EXPECT_EQ(loads[i]->failed(), 0) << loads[i]->last_failure();
    }
    const auto step_at = [&](std::size_t i) { return *config::parse_rfc3339(halted["steps"][i]["at"].get<std::string>()); };
    std::printf("[ measure  ] halted %lld ms after the canary's ack, on %s canary requests\n",
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(step_at(halted["steps"].size() - 1) - step_at(1))
                        .count()),
                halted["canary_counts"]["requests"].dump().c_str());
}

}  // namespace
}  // namespace cell::testing
