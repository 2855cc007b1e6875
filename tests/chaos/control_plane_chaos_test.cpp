// The control plane killed (-9) and restarted ten times, with a config change each time, while
// two routers serve continuous keep-alive load: no request fails, and both routers end on the
// final version.

#include <gtest/gtest.h>

#include "chaos_support.hpp"
#include "load_generator.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int restarts = 10;

Json version_config(const Deployment& cells, int version) {
    Json config = cells.config(std::to_string(version) + ".0.0");
    // Each version moves acme, so a router on the wrong version answers from the wrong cell.
    config["routingTable"]["acme"] = version % 2 == 0 ? "tier1" : "tier2";
    return config;
}

bool routers_serve(const std::vector<std::unique_ptr<Deployment>>& routers, const std::string& version) {
    for (const auto& router : routers) {
        if (request(router->router_port(), "GET", "/debug/config").json()["version"] != version) {
            return false;
        }
    }
    return true;
}

TEST(Chaos, ControlPlaneKilledAndRestarted) {
    const auto started = Clock::now();
    Deployment cells(Deployment::Options{.start_router = false});
    ControlPlaneProcess control_plane(cells.dir(), free_port());
    control_plane.write_config(version_config(cells, 0));
    control_plane.start();
    std::vector<std::unique_ptr<Deployment>> routers;
    for (int i = 0; i < 2; ++i) {
        routers.push_back(std::make_unique<Deployment>(Deployment::Options{.cells = {}, .start_router = false}));
        routers.back()->write_config(cells.config("bootstrap"));
        // Connections here never stay up for the backoff reset time (10 s), so after ten kills the
        // jittered backoff would reach its 60 s cap, which this scenario is not about: capped at 2 s.
        routers.back()->start_router({"--control-plane", control_plane.url(), "--node-id",
                                      "router-" + std::to_string(i), "--config-cache",
                                      routers.back()->dir().file("cache.json").string(),
                                      "--control-plane-max-backoff", "2s"});
    }
    ASSERT_TRUE(eventually([&] { return routers_serve(routers, "0.0.0"); }, 15s));

    // globex stays on tier2 in every version: its answers must never change or fail.
    std::vector<std::unique_ptr<LoadGenerator>> load;
    for (const auto& router : routers) {
        load.push_back(std::make_unique<LoadGenerator>(
            LoadOptions{.port = router->router_port(), .threads = 2, .routing_key = "globex"}));
    }
    ASSERT_TRUE(load[0]->wait_for_answers(100));

    for (int i = 1; i <= restarts; ++i) {
        control_plane.kill_hard();
        control_plane.write_config(version_config(cells, i));
        control_plane.start();
        // Every other restart (the last one included) is not waited for: the next kill comes
        // before the routers have caught up, so some reconnects meet a dead control plane and
        // back off.
        if (i % 2 == 1) {
            ASSERT_TRUE(eventually([&] { return routers_serve(routers, std::to_string(i) + ".0.0"); }, 20s))
                << "restart " << i;
        } else {
            std::this_thread::sleep_for(200ms);
        }
    }
    const std::string final_version = std::to_string(restarts) + ".0.0";
    const auto converge_from = Clock::now();
    ASSERT_TRUE(eventually([&] { return routers_serve(routers, final_version); }, 30s)) << [&] {
        std::string state;
        for (const auto& router : routers) {
            const auto status = request(router->router_port(), "GET", "/debug/config").json();
            state += status["version"].dump() + " " + status["control_plane"].dump() + "\n";
        }
        return state + control_plane.status().dump();
    }();
    const auto convergence = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - converge_from);
    ASSERT_TRUE(eventually([&] { return control_plane.status()["acked_current"] == 2; }, 10s))
        << control_plane.status();

    LoadCounts total;
    for (auto& generator : load) {
        const LoadCounts counts = generator->stop();
        total.sent += counts.sent;
        total.failed += counts.failed;
        for (const auto& [status, n] : counts.by_status) {
            total.by_status[status] += n;
        }
        for (const auto& [reason, n] : counts.failures) {
            total.failures[reason] += n;
        }
    }
    print_load("control plane killed and restarted " + std::to_string(restarts) + " times", total);
    std::printf("[chaos]   final version %s on both routers %lld ms after the last restart; scenario %lld ms\n",
                final_version.c_str(), static_cast<long long>(convergence.count()),
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()));
    EXPECT_EQ(total.failed, 0u) << total.summary();
    EXPECT_EQ(total.answered_with(200), total.sent) << total.summary();
    EXPECT_GT(total.sent, 1000u);
    for (const auto& router : routers) {
        EXPECT_EQ(request(router->router_port(), "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To"),
                  "tier1");  // version 10 puts acme on tier1
    }
    control_plane.stop();
}

}  // namespace
}  // namespace cell::testing
