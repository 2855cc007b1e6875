// The admin page and the fleet page in headless Chromium, against the real binaries: a scenario
// script under tests/pages/ drives the browser and reports each step it reached as a JSON line;
// the test acts between steps (stops a cell, writes a config, stops a router) and requires the
// script to see the effect on the open page within its deadlines.
//
// Needs node, Chromium and tests/pages/node_modules (scripts/install-deps.sh installs them);
// without them these tests fail and say so.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "harness.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

const fs::path pages_dir = fs::path(CELLROUTER_SOURCE_DIR) / "tests" / "pages";

std::string chromium_path() {
    const char* configured = std::getenv("CHROMIUM_PATH");
    return configured != nullptr && *configured != '\0' ? configured : "/usr/bin/chromium";
}

// Empty when node, Chromium and playwright-core are all there; otherwise what is missing.
std::string missing_browser_setup() {
    std::string missing;
    if (!fs::exists(CELLROUTER_NODE_EXECUTABLE)) {
        missing += " node (CMake found: " + std::string(CELLROUTER_NODE_EXECUTABLE) + ");";
    }
    if (!fs::exists(chromium_path())) {
        missing += " Chromium at " + chromium_path() + ";";
    }
    if (!fs::exists(pages_dir / "node_modules" / "playwright-core" / "package.json")) {
        missing += " playwright-core in " + (pages_dir / "node_modules").string() + ";";
    }
    return missing;
}

// One run of tests/pages/<script> in headless Chromium.
class PageScenario {
public:
    PageScenario(const TempDir& dir, const std::string& script, const std::vector<std::string>& args)
        : started_(Clock::now()) {
        std::vector<std::string> argv{CELLROUTER_NODE_EXECUTABLE, (pages_dir / script).string()};
        argv.insert(argv.end(), args.begin(), args.end());
        process_ = std::make_unique<Process>(argv, dir.path(), "page-" + script);
    }

    // Waits until the script reports `step`; false (with the script's output in the failure
    // message) when it does not within `timeout`.
    ::testing::AssertionResult reached(const std::string& step, std::chrono::milliseconds timeout = 30s) {
        const auto line = process_->wait_for_line(
            [&](const Json& l) { return l.value("event", "") == "step" && l.value("step", "") == step; }, timeout);
        if (line) {
            return ::testing::AssertionSuccess();
        }
        return ::testing::AssertionFailure() << "the page never showed step \"" << step << "\"\n" << output();
    }

    // Waits for the script to exit; success only with exit code 0 after its "done" step.
    ::testing::AssertionResult finished(std::chrono::milliseconds timeout = 30s) {
        const auto code = process_->wait_exit(timeout);
        if (code == 0 && reached("done", 0ms)) {
            return ::testing::AssertionSuccess();
        }
        return ::testing::AssertionFailure() << "page script exit code "
                                             << (code ? std::to_string(*code) : std::string("(still running)")) << "\n"
                                             << output();
    }

    long long elapsed_ms() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_).count();
    }

    std::string output() const {
        return "--- stdout ---\n" + process_->stdout_text() + "--- stderr ---\n" + process_->stderr_text();
    }

private:
    Clock::time_point started_;
    std::unique_ptr<Process> process_;
};

class PagesTest : public ::testing::Test {
protected:
    void SetUp() override {
        const std::string missing = missing_browser_setup();
        ASSERT_TRUE(missing.empty()) << "the page tests need node, Chromium and playwright-core; missing:" << missing
                                     << " Run scripts/install-deps.sh (as root) to install them.";
    }
};

Json fast_health() {
    return Json{{"path", "/health"}, {"interval", "250ms"}, {"timeout", "200ms"}, {"healthy_threshold", 1},
                {"unhealthy_threshold", 2}};
}

std::string admin_url(unsigned short port) { return "http://127.0.0.1:" + std::to_string(port) + "/"; }

// GET / on the admin port is the HTML page; the 404 body lists it.
TEST_F(PagesTest, AdminPortServesThePage) {
    Deployment deployment(Deployment::Options{.cells = {"tier1", "tier2", "tier3", "visa"}, .start_router = false});
    deployment.write_config(deployment.config("1.0.0"));
    deployment.start_router({"--admin-port", std::to_string(free_port())});
    const unsigned short admin = admin_port_of(deployment.router());
    const auto page = request(admin, "GET", "/");
    EXPECT_EQ(page.status, 200);
    EXPECT_EQ(page.header("Content-Type"), "text/html; charset=utf-8");
    // Byte for byte the source file: the build step embeds it unchanged.
    EXPECT_EQ(page.body, read_file(fs::path(CELLROUTER_SOURCE_DIR) / "src" / "admin" / "router_page.html"));
    const auto missing = request(admin, "GET", "/nothing-here");
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.json()["endpoints"][0], "/");
}

// Placements with their live state; a cell stopped while the page is open shows unhealthy
// there, and the route form shows the fallback that serves its key and why; so it does for a
// placement whose circuit breaker is open.
TEST_F(PagesTest, AdminPageShowsPlacementsAndFailover) {
    Deployment deployment(Deployment::Options{.start_router = false});
    const Json policies{{"visa", {{"type", "dedicated"}, {"fallback", "tier3"}, {"health_check", fast_health()},
                                  {"concurrency_limit", 50}, {"circuit_breaker", {{"failure_threshold", 3}, {"timeout", "30s"}}}}},
                        {"tier1", {{"type", "shared"}, {"fallback", "tier3"},
                                   {"circuit_breaker", {{"failure_threshold", 2}, {"timeout", "120s"}}}}},
                        {"tier3", {{"type", "shared"}}}};
    deployment.write_config(with_placements(deployment.config("1.0.0"), policies));
    deployment.start_router({"--admin-port", std::to_string(free_port())});
    const unsigned short admin = admin_port_of(deployment.router());
    // Two 5xx answers from tier1 open its breaker, for longer than the test runs.
    for (int i = 0; i < 2; ++i) {
        ASSERT_EQ(request(deployment.router_port(), "GET", "/?status=500", {{"X-Routing-Key", "acme"}}).status, 500);
    }
    // The router records an outcome after the answer has gone out: wait for the second one.
    ASSERT_TRUE(eventually([&] {
        return request(admin, "GET", "/debug/placements").json()["placements"]["tier1"]["circuit_breaker"]["state"] == "open";
    }, 5s)) << request(admin, "GET", "/debug/placements").body;

    PageScenario page(deployment.dir(), "router_page_failover.mjs",
                      {"--url", admin_url(admin), "--placements", "tier1,tier2,tier3,visa", "--watch", "visa", "--key",
                       "visa", "--fallback", "tier3", "--open-breaker", "tier1", "--open-key", "acme"});
    ASSERT_TRUE(page.reached("placements_listed"));
    const auto listed_ms = page.elapsed_ms();
    deployment.stop_cell("visa");
    const auto stopped_ms = page.elapsed_ms();
    ASSERT_TRUE(page.reached("unhealthy_shown"));
    const auto unhealthy_ms = page.elapsed_ms();
    ASSERT_TRUE(page.finished());
    std::cout << "[ timing   ] page listed placements after " << listed_ms << " ms; showed visa unhealthy "
              << unhealthy_ms - stopped_ms << " ms after its cell stopped; whole scenario " << page.elapsed_ms()
              << " ms\n";
    EXPECT_EQ(request(admin, "GET", "/debug/route?key=visa").json()["failover_reason"], "unhealthy");
}

// A placement name and a routing key made of markup, and a rejected config whose error quotes
// markup, are shown as text: nothing is parsed as HTML or run.
TEST_F(PagesTest, AdminPageShowsMarkupAsText) {
    const std::string placement = "<script>window.__injected=1</script>";
    const std::string key = "<img src=x onerror=\"window.__injected=2\">";
    const std::string rejected = "<b id=injected>nowhere</b>";
    Deployment deployment(Deployment::Options{.cells = {"tier1", "tier3"}, .start_router = false});
    auto config = with_placements(deployment.config("1.0.0"));
    config["placements"][placement] = {{"url", config["placements"]["tier1"]["url"]}, {"type", "dedicated"}};
    config["routingTable"] = {{key, placement}, {"acme", "tier1"}};
    // An operation naming them, shown in the page's operations list.
    config["operations"] = {{"pins", {{"acme", {{"placement", placement}, {"expires", "2099-01-01T00:00:00Z"},
                                                {"reason", rejected}}}}}};
    deployment.write_config(config);
    deployment.start_router({"--admin-port", std::to_string(free_port())});
    const unsigned short admin = admin_port_of(deployment.router());

    PageScenario page(deployment.dir(), "router_page_escaping.mjs",
                      {"--url", admin_url(admin), "--placement", placement, "--key", key, "--rejected", rejected});
    ASSERT_TRUE(page.reached("hostile_names_shown"));
    auto invalid = config;
    invalid["version"] = "2.0.0";
    invalid["defaultPlacement"] = rejected;
    deployment.write_config(invalid);
    ASSERT_TRUE(page.finished());
    EXPECT_EQ(request(admin, "GET", "/debug/config").json()["version"], "1.0.0");
}

// cell-control-plane on an ephemeral loopback port, watching its own config file.
class ControlPlaneProcess {
public:
    ControlPlaneProcess(const TempDir& dir, const Json& config, const std::vector<std::string>& extra = {})
        : dir_(dir) {
        write_config(config);
        std::vector<std::string> argv{CELL_CONTROL_PLANE_BINARY, "--config", config_path().string(), "--port", "0",
                                      "--listen", "127.0.0.1", "--poll-interval", "100ms"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        process_ = std::make_unique<Process>(argv, dir_.path(), "control-plane");
        port_ = control_plane_port_of(*process_);
    }

    unsigned short port() const { return port_; }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/connect"; }
    void write_config(const Json& config) const { write_file_atomically(config_path(), config.dump()); }
    std::filesystem::path config_path() const { return dir_.file("control-plane.json"); }

private:
    const TempDir& dir_;
    std::unique_ptr<Process> process_;
    unsigned short port_ = 0;
};

// Two routers converge on the current version; a config edit, staged with router-0 as the canary,
// shows up converged on the new version with the rollout's steps; a stopped router shows as
// disconnected and is no longer counted.
TEST_F(PagesTest, FleetPageShowsConvergenceAndDisconnects) {
    Deployment cells(Deployment::Options{.cells = {"tier1", "tier2", "tier3", "visa"}, .start_router = false});
    ControlPlaneProcess control_plane(cells.dir(), cells.config("1.0.0"),
                                      {"--rollout-canary", "router-0", "--rollout-soak", "1s"});
    std::vector<std::unique_ptr<Deployment>> routers;
    for (int i = 0; i < 2; ++i) {
        routers.push_back(std::make_unique<Deployment>(Deployment::Options{.cells = {}, .start_router = false}));
        routers.back()->write_config(cells.config("0.0.1"));
        routers.back()->start_router({"--control-plane", control_plane.url(), "--node-id", "router-" + std::to_string(i),
                                      "--config-cache", routers.back()->dir().file("cache.json").string()});
    }
    const auto page_status = request(control_plane.port(), "GET", "/");
    EXPECT_EQ(page_status.status, 200);
    EXPECT_EQ(page_status.header("Content-Type"), "text/html; charset=utf-8");
    EXPECT_EQ(page_status.body, read_file(fs::path(CELLROUTER_SOURCE_DIR) / "src" / "controlplane" / "fleet_page.html"));
    EXPECT_EQ(request(control_plane.port(), "GET", "/nothing-here").json()["endpoints"][0], "/");

    PageScenario page(cells.dir(), "fleet_page.mjs",
                      {"--url", admin_url(control_plane.port()), "--routers", "router-0,router-1", "--version", "1.0.0",
                       "--next-version", "2.0.0", "--stopped", "router-1"});
    ASSERT_TRUE(page.reached("converged"));
    const auto converged_ms = page.elapsed_ms();
    auto next = cells.config("2.0.0");
    next["routingTable"]["acme"] = "visa";
    control_plane.write_config(next);
    const auto written_ms = page.elapsed_ms();
    ASSERT_TRUE(page.reached("new_version_converged"));
    const auto propagated_ms = page.elapsed_ms();
    ASSERT_TRUE(page.reached("rollout_shown"));
    routers[1]->stop_router();
    const auto stopped_ms = page.elapsed_ms();
    ASSERT_TRUE(page.reached("router_disconnected_shown"));
    const auto gone_ms = page.elapsed_ms();
    ASSERT_TRUE(page.finished());
    std::cout << "[ timing   ] fleet converged on the page after " << converged_ms << " ms; new version shown converged "
              << propagated_ms - written_ms << " ms after the edit; stopped router shown disconnected "
              << gone_ms - stopped_ms << " ms after its exit; whole scenario " << page.elapsed_ms() << " ms\n";
}

}  // namespace
}  // namespace cell::testing
