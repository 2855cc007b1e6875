// Starting and stopping the router: startup failures, graceful shutdown, the admin listener.

#include <gtest/gtest.h>

#include <signal.h>

#include <future>
#include <thread>

#include "harness.hpp"
#include "held_upstream.hpp"

namespace cell::testing {
namespace {

struct Exit {
    int code = -1;
    std::string stderr_text;
};

Exit run_router(const std::vector<std::string>& args) {
    TempDir dir;
    std::vector<std::string> argv{CELL_ROUTER_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    Process process(argv, dir.path(), "router");
    const auto code = process.wait_exit(15s);
    if (code) {
        process.expect_exit_code(*code);  // each caller checks the code it expects
    }
    return Exit{code.value_or(-1), process.stderr_text()};
}

// A missing config file stops startup with exit 1 and the reason on stderr.
TEST(Startup, MissingConfigFails) {
    const auto exit = run_router({"--config", "/nonexistent/routing.json", "--port", "0", "--admin-port", "0"});
    EXPECT_EQ(exit.code, 1);
    EXPECT_NE(exit.stderr_text.find("cannot open /nonexistent/routing.json"), std::string::npos) << exit.stderr_text;
}

// An invalid config file stops startup with exit 1 and every validation error on stderr.
TEST(Startup, InvalidConfigFails) {
    TempDir dir;
    write_file(dir.file("bad.json"),
               R"({"version":"","routingTable":{"a":"nowhere"},"cellEndpoints":{"t":"http://127.0.0.1:1"},"defaultPlacement":"t"})");
    const auto exit = run_router({"--config", dir.file("bad.json").string(), "--port", "0", "--admin-port", "0"});
    EXPECT_EQ(exit.code, 1);
    EXPECT_NE(exit.stderr_text.find("/version"), std::string::npos) << exit.stderr_text;
    EXPECT_NE(exit.stderr_text.find("/routingTable/a: unknown placement \"nowhere\""), std::string::npos)
        << exit.stderr_text;
}

// Bad flags exit with code 2 and a message naming the flag.
TEST(Startup, BadFlagsExitTwo) {
    auto exit = run_router({"--threads", "many"});
    EXPECT_EQ(exit.code, 2);
    EXPECT_NE(exit.stderr_text.find("--threads"), std::string::npos);
    exit = run_router({"--no-such-flag"});
    EXPECT_EQ(exit.code, 2);
    EXPECT_NE(exit.stderr_text.find("unknown option '--no-such-flag'"), std::string::npos);
}

// --help documents the flags and exits 0.
TEST(Startup, HelpExitsZero) {
    TempDir dir;
    Process process({CELL_ROUTER_BINARY, "--help"}, dir.path(), "help");
    EXPECT_EQ(process.wait_exit(10s), 0);
    EXPECT_NE(process.stdout_text().find("--request-timeout"), std::string::npos);
}

// A port already in use stops startup with exit 1.
TEST(Startup, PortInUseFails) {
    Deployment deployment(Deployment::Options{.cells = {"tier3"}, .start_router = false});
    auto config = deployment.config();
    config["routingTable"] = Json::object();
    deployment.write_config(config);
    // The cell's port is taken by the cell itself (without SO_REUSEPORT from our side's view).
    const auto exit = run_router({"--config", deployment.config_path().string(), "--listen", "127.0.0.1",
                                  "--port", std::to_string(deployment.cell_port("tier3")), "--admin-port", "0"});
    EXPECT_EQ(exit.code, 1);
    EXPECT_NE(exit.stderr_text.find("cannot open the proxy listener on 127.0.0.1:" + std::to_string(deployment.cell_port("tier3"))), std::string::npos) << exit.stderr_text;
}

Deployment::Options without_router() {
    Deployment::Options options;
    options.start_router = false;
    return options;
}

// True when a connection to 127.0.0.1:port is refused (nothing listens there any more).
bool connection_refused(unsigned short port) {
    try {
        Connection probe(port, 1s);
        return false;
    } catch (const std::runtime_error&) {
        return true;
    }
}

bool shutdown_logged(const Process& router) {
    return router.wait_for_line([](const Json& line) { return line.value("event", "") == "shutdown"; }, 5s)
        .has_value();
}

// SIGTERM lets a request in flight finish, refuses new connections meanwhile, and exits 0.
TEST(Shutdown, InFlightRequestFinishes) {
    HeldUpstream cell;
    Deployment deployment(without_router());
    start_router_with_endpoint(deployment, "visa", cell.url());
    const auto port = deployment.router_port();
    Connection in_flight(port);
    in_flight.send(make_request("GET", "/held", {{"X-Routing-Key", "visa"}}));
    ASSERT_TRUE(cell.wait_for_requests(1)) << "the request never reached the cell";

    deployment.router().send_signal(SIGTERM);
    ASSERT_TRUE(shutdown_logged(deployment.router()));
    // While the request is still held by the cell, the listener is already gone.
    EXPECT_TRUE(eventually([&] { return connection_refused(port); }, 5s));
    EXPECT_TRUE(deployment.router().running()) << "the router did not wait for the request in flight";

    cell.release();
    const auto response = in_flight.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "done");
    EXPECT_EQ(response.header("X-Routed-To"), "visa");
    EXPECT_EQ(deployment.router().wait_exit(10s), 0);
}

// Idle keep-alive connections are closed at once on SIGTERM, so shutdown does not wait for them.
TEST(Shutdown, IdleConnectionsCloseImmediately) {
    Deployment deployment;
    Connection idle(deployment.router_port());
    idle.send(make_request("GET", "/", {{"X-Routing-Key", "acme"}}));
    EXPECT_EQ(idle.read_response().status, 200);
    const auto started = std::chrono::steady_clock::now();
    deployment.router().send_signal(SIGTERM);
    EXPECT_TRUE(idle.closed_by_peer(5s));
    EXPECT_EQ(deployment.router().wait_exit(5s), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 4s);
}

// A request still running at the drain deadline is cut off (an accepted connection closed
// without an answer, not a refused one) and the router exits 0.
TEST(Shutdown, DrainDeadlineCutsOffSlowRequests) {
    HeldUpstream cell;
    Deployment deployment(without_router());
    start_router_with_endpoint(deployment, "visa", cell.url(), {"--drain-timeout", "500ms"});
    Connection in_flight(deployment.router_port());
    in_flight.send(make_request("GET", "/held", {{"X-Routing-Key", "visa"}}));
    ASSERT_TRUE(cell.wait_for_requests(1)) << "the request never reached the cell";

    const auto signalled = std::chrono::steady_clock::now();
    deployment.router().send_signal(SIGTERM);
    EXPECT_THROW(in_flight.read_response(), std::runtime_error) << "a response came before the cut-off";
    const auto cut_after = std::chrono::steady_clock::now() - signalled;
    EXPECT_GE(cut_after, 400ms) << "cut off before the drain deadline";
    EXPECT_LT(cut_after, 5s);
    EXPECT_EQ(deployment.router().wait_exit(5s), 0);
    EXPECT_TRUE(deployment.router().wait_for_line([](const Json& line) {
        return line.value("event", "") == "drain_deadline" && line.value("connections_closed", 0) == 1;
    }).has_value());
    EXPECT_TRUE(eventually([&] { return cell.abandoned() == 1; }, 5s)) << "the upstream request was left open";
}

// The admin port serves /debug/config and /health; other paths are 404.
TEST(Admin, Endpoints) {
    const auto admin_port = free_port();
    Deployment deployment(Deployment::Options{.router_flags = {"--admin-port", std::to_string(admin_port)}});
    ASSERT_TRUE(deployment.router().wait_for_line([](const Json& line) {
        return line.value("event", "") == "listening" && line.value("listener", "") == "admin";
    }).has_value());
    const auto config = request(admin_port, "GET", "/debug/config");
    EXPECT_EQ(config.status, 200);
    EXPECT_EQ(config.json()["version"], "1.0.0");
    EXPECT_EQ(config.json()["worker_generations"].size(), 2u);
    const auto health = request(admin_port, "GET", "/health");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.json()["status"], "ok");
    EXPECT_EQ(request(admin_port, "GET", "/nope").status, 404);
}

}  // namespace
}  // namespace cell::testing

namespace cell::testing {
namespace {

// --access-log off silences the per-request lines only; events such as "listening" remain.
TEST(AccessLog, CanBeSwitchedOff) {
    Deployment deployment(Deployment::Options{.router_flags = {"--access-log", "off"}});
    EXPECT_EQ(request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "acme"}}).status, 200);
    EXPECT_EQ(request(deployment.router_port(), "GET", "/").status, 400);
    // Let the async logger flush whatever it was given.
    std::this_thread::sleep_for(300ms);
    std::size_t access_lines = 0;
    std::size_t listening_lines = 0;
    for (const auto& line : deployment.router().json_lines()) {
        access_lines += line.value("event", "") == "access" ? 1 : 0;
        listening_lines += line.value("event", "") == "listening" ? 1 : 0;
    }
    EXPECT_EQ(access_lines, 0u);
    EXPECT_GE(listening_lines, 1u);
}

}  // namespace
}  // namespace cell::testing
