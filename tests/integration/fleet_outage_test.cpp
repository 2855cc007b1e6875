// Real routers with a real control plane: changes propagate to the whole fleet, and the fleet
// keeps serving through a control-plane outage, then converges when it returns.

#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <thread>

#include "harness.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;

// cell-control-plane on a fixed loopback port, so it can be restarted where routers expect it.
class ControlPlaneProcess {
public:
    ControlPlaneProcess(const TempDir& dir, unsigned short port) : dir_(dir), port_(port) {}

    void start() {
        process_ = std::make_unique<Process>(
            std::vector<std::string>{CELL_CONTROL_PLANE_BINARY, "--config", config_path().string(), "--port",
                                     std::to_string(port_), "--listen", "127.0.0.1", "--poll-interval", "100ms"},
            dir_.path(), "control-plane-" + std::to_string(++starts_));
        const auto line = process_->wait_for_line(
            [](const Json& l) { return l.value("event", "") == "listening"; }, 15s);
        if (!line) {
            throw std::runtime_error("control plane did not start: " + process_->stderr_text());
        }
    }
    void kill() {
        ASSERT_TRUE(process_->kill_abruptly());
    }
    void write_config(const Json& config) const { write_file_atomically(config_path(), config.dump()); }
    std::filesystem::path config_path() const { return dir_.file("control-plane.json"); }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/connect"; }
    Json status() const { return request(port_, "GET", "/status").json(); }

private:
    const TempDir& dir_;
    unsigned short port_;
    int starts_ = 0;
    std::unique_ptr<Process> process_;
};

Json debug_config(unsigned short port) { return request(port, "GET", "/debug/config").json(); }

class FleetTest : public ::testing::Test {
protected:
    FleetTest()
        : cells_(Deployment::Options{.start_router = false}), control_plane_(cells_.dir(), free_port()) {
        cells_.write_config(cells_.config("0.0.1"));  // bootstrap file shared by both routers
        control_plane_.write_config(cells_.config("1.0.0"));
        control_plane_.start();
        for (int i = 0; i < 2; ++i) {
            routers_.push_back(std::make_unique<Deployment>(Deployment::Options{.cells = {}, .start_router = false}));
            routers_.back()->write_config(cells_.config("0.0.1"));
            routers_.back()->start_router({"--control-plane", control_plane_.url(), "--node-id",
                                           "router-" + std::to_string(i), "--config-cache",
                                           routers_.back()->dir().file("cache.json").string()});
        }
    }

    bool all_serve(const std::string& version) {
        for (const auto& router : routers_) {
            if (debug_config(router->router_port())["version"] != version) {
                return false;
            }
        }
        return true;
    }

    Deployment cells_;
    ControlPlaneProcess control_plane_;
    std::vector<std::unique_ptr<Deployment>> routers_;
};

// Both routers take the snapshot on connect, and a file change reaches both; the time from the
// file write to the last ack is printed (not asserted: this machine is shared).
TEST_F(FleetTest, ChangeReachesEveryRouter) {
    ASSERT_TRUE(eventually([&] { return control_plane_.status()["acked_current"] == 2; })) << control_plane_.status();
    ASSERT_TRUE(all_serve("1.0.0"));
    auto next = cells_.config("2.0.0");
    next["routingTable"]["acme"] = "visa";
    const auto written = Clock::now();
    control_plane_.write_config(next);
    ASSERT_TRUE(eventually([&] {
        const auto status = control_plane_.status();
        return status["current_version"] == "2.0.0" && status["acked_current"] == 2;
    }));
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - written).count();
    std::printf("[ measure  ] file change -> 2 routers acked: %lld ms (poll interval 100 ms)\n",
                static_cast<long long>(elapsed));
    for (const auto& router : routers_) {
        EXPECT_EQ(request(router->router_port(), "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To"),
                  "visa");
        EXPECT_EQ(debug_config(router->router_port())["source"], "control_plane");
    }
}

// Control plane killed: zero failed requests under continuous load, routers retry with
// backoff, and converge on the new file when the control plane comes back.
TEST_F(FleetTest, OutageCostsNoRequestsAndFleetConverges) {
    ASSERT_TRUE(eventually([&] { return all_serve("1.0.0"); }));
    std::atomic<bool> stop{false};
    std::atomic<long> ok{0};
    std::atomic<long> failed{0};
    std::vector<std::thread> clients;
    for (const auto& router : routers_) {
        const auto port = router->router_port();
        clients.emplace_back([&, port] {
            while (!stop) {
                try {
                    Connection connection(port);
                    for (int i = 0; i < 100 && !stop; ++i) {
                        connection.send(make_request("GET", "/", {{"X-Routing-Key", "globex"}}));
                        const auto response = connection.read_response();
                        (response.status == 200 && response.header("X-Routed-To") == "tier2" ? ok : failed)++;
                    }
                } catch (const std::exception&) {
                    ++failed;
                }
            }
        });
    }
    control_plane_.kill();
    ASSERT_TRUE(eventually([&] {
        for (const auto& router : routers_) {
            if (debug_config(router->router_port())["control_plane"]["reconnect_attempts"] < 2) {
                return false;
            }
        }
        return true;
    }, 15s));
    const long served_during_outage = ok.load();

    auto next = cells_.config("3.0.0");
    next["routingTable"]["globex"] = "tier2";
    control_plane_.write_config(next);
    control_plane_.start();
    // Backoff after two failed attempts is at most 4 s (jittered), so allow a few rounds.
    EXPECT_TRUE(eventually([&] { return all_serve("3.0.0"); }, 30s));
    stop = true;
    for (auto& client : clients) {
        client.join();
    }
    EXPECT_EQ(failed.load(), 0);
    EXPECT_GT(served_during_outage, 0);
    EXPECT_GT(ok.load(), served_during_outage);
    for (const auto& router : routers_) {
        const auto status = debug_config(router->router_port());
        EXPECT_EQ(status["control_plane"]["state"], "connected");
        EXPECT_GE(status["control_plane"]["connections"], 2);
    }
}

}  // namespace
}  // namespace cell::testing
