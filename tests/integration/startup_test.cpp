// Startup as an operator meets it: where each listener binds by default, and what a binary says
// when it cannot open one.

#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "harness.hpp"

namespace cell::testing {
namespace {

const Json* listening_line(const Process& process, const std::string& listener) {
    static thread_local Json found;
    const auto line = process.wait_for_line([&](const Json& l) {
        return l.value("event", "") == "listening" && l.value("listener", "") == listener;
    });
    if (!line) {
        return nullptr;
    }
    found = *line;
    return &found;
}

// A user-facing startup error names the listener, its address:port and the flag that changes it,
// and carries no library source location.
void expect_readable_listen_error(Process& process, const std::string& listener_and_address,
                                  const std::vector<std::string>& hints) {
    process.expect_exit_code(1);
    const auto code = process.wait_exit(15s);
    ASSERT_TRUE(code.has_value()) << "still running";
    EXPECT_EQ(*code, 1);
    const std::string text = process.stderr_text();
    EXPECT_NE(text.find("cannot open the " + listener_and_address + ": Address already in use"), std::string::npos)
        << text;
    for (const auto& hint : hints) {
        EXPECT_NE(text.find(hint), std::string::npos) << "missing \"" << hint << "\" in: " << text;
    }
    for (const auto* noise : {"/usr/include", "[system:", ".hpp:", "in function"}) {
        EXPECT_EQ(text.find(noise), std::string::npos) << "\"" << noise << "\" in: " << text;
    }
}

Deployment::Options without_router() {
    Deployment::Options options;
    options.start_router = false;
    return options;
}

std::vector<std::string> router_argv(const Deployment& deployment, std::vector<std::string> extra) {
    std::vector<std::string> argv{CELL_ROUTER_BINARY, "--config", deployment.config_path().string(),
                                  "--listen", "127.0.0.1", "--threads", "1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

void stop_cleanly(Process& process) {
    process.send_signal(SIGTERM);
    EXPECT_EQ(process.wait_exit(15s), 0) << process.stderr_text();
}

// Admin and debug endpoints stay on this host unless the operator opens them: with the proxy on
// every address, the admin listener is still on 127.0.0.1.
TEST(StartupTest, AdminListensOnLoopbackByDefault) {
    Deployment deployment(without_router());
    const auto admin = free_port();
    Process router(router_argv(deployment, {"--listen", "0.0.0.0", "--port", "0", "--admin-port", std::to_string(admin)}),
                   deployment.dir().path(), "router-default-admin");
    const Json* proxy_line = listening_line(router, "proxy");
    ASSERT_NE(proxy_line, nullptr) << router.stderr_text();
    EXPECT_EQ(proxy_line->at("address"), "0.0.0.0");
    const Json* admin_line = listening_line(router, "admin");
    ASSERT_NE(admin_line, nullptr) << router.stderr_text();
    EXPECT_EQ(admin_line->at("address"), "127.0.0.1");
    EXPECT_EQ(request(admin, "GET", "/health").status, 200);
    stop_cleanly(router);
}

// --admin-listen (env ADMIN_LISTEN_ADDRESS) opens the admin listener elsewhere on purpose.
TEST(StartupTest, AdminListenFlagMovesTheAdminListener) {
    Deployment deployment(without_router());
    const auto admin = free_port();
    Process router(router_argv(deployment, {"--port", "0", "--admin-port", std::to_string(admin), "--admin-listen",
                                            "0.0.0.0"}),
                   deployment.dir().path(), "router-open-admin");
    const Json* admin_line = listening_line(router, "admin");
    ASSERT_NE(admin_line, nullptr) << router.stderr_text();
    EXPECT_EQ(admin_line->at("address"), "0.0.0.0");
    EXPECT_EQ(request(admin, "GET", "/health").status, 200);
    stop_cleanly(router);
}

// A second router on a taken proxy port does not silently share it (SO_REUSEPORT would let it):
// it exits saying which listener, where, and which flag to change.
TEST(StartupTest, TakenProxyPortIsAReadableError) {
    Deployment deployment;
    const auto port = std::to_string(deployment.router_port());
    Process second(router_argv(deployment, {"--port", port, "--admin-port", "0"}), deployment.dir().path(),
                   "router-second");
    expect_readable_listen_error(second, "proxy listener on 127.0.0.1:" + port, {"--port", "env PORT"});
    EXPECT_TRUE(deployment.router().running());
    EXPECT_EQ(request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "acme"}}).status, 200);
}

// The Release router runs on mimalloc (CMake's CELLROUTER_ALLOCATOR); a sanitizer build, or one
// configured with "system", on glibc's malloc. A link change that loses the allocator without
// failing the build shows up here rather than only as a slower benchmark.
TEST(StartupTest, RouterRunsOnTheAllocatorItWasBuiltWith) {
    Deployment deployment;
    ASSERT_EQ(request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "acme"}}).status, 200);
    const std::string maps = read_file("/proc/" + std::to_string(deployment.router().pid()) + "/maps");
    const bool mimalloc_mapped = maps.find("libmimalloc") != std::string::npos;
    EXPECT_EQ(mimalloc_mapped, std::string_view(CELLROUTER_ROUTER_ALLOCATOR) == "mimalloc")
        << "built with " << CELLROUTER_ROUTER_ALLOCATOR;
}

TEST(StartupTest, TakenAdminPortIsAReadableError) {
    Deployment deployment(without_router());
    const auto admin = std::to_string(free_port());
    Process first(router_argv(deployment, {"--port", "0", "--admin-port", admin}), deployment.dir().path(), "router-first");
    ASSERT_NE(listening_line(first, "admin"), nullptr) << first.stderr_text();
    Process second(router_argv(deployment, {"--port", "0", "--admin-port", admin}), deployment.dir().path(),
                   "router-second");
    expect_readable_listen_error(second, "admin listener on 127.0.0.1:" + admin,
                                 {"--admin-port", "env ADMIN_PORT", "0 turns it off"});
    stop_cleanly(first);
}

// The control plane: loopback by default, and the same kind of message for a taken port.
TEST(StartupTest, ControlPlaneListensOnLoopbackAndSaysWhenItsPortIsTaken) {
    TempDir dir;
    Deployment deployment(without_router());
    const auto config = dir.file("routing.json");
    write_file(config, deployment.config().dump());
    Process first({CELL_CONTROL_PLANE_BINARY, "--config", config.string(), "--port", "0"}, dir.path(), "cp-first");
    const Json* line = listening_line(first, "control_plane");
    ASSERT_NE(line, nullptr) << first.stderr_text();
    EXPECT_EQ(line->at("address"), "127.0.0.1");
    const auto port = std::to_string(line->at("port").get<unsigned>());
    Process second({CELL_CONTROL_PLANE_BINARY, "--config", config.string(), "--port", port}, dir.path(), "cp-second");
    expect_readable_listen_error(second, "control-plane listener on 127.0.0.1:" + port, {"--port", "env PORT"});
    stop_cleanly(first);
}

// /debug/config is served while the router starts and while it stops: whatever it shows is
// published before the workers run (a ThreadSanitizer build checks the "how").
TEST(StartupTest, DebugConfigDuringStartupAndShutdown) {
    Deployment deployment(without_router());
    for (int round = 0; round < 3; ++round) {
        Process router(router_argv(deployment, {"--port", "0", "--admin-port", "0", "--threads", "2"}),
                       deployment.dir().path(), "router-debug-" + std::to_string(round));
        const Json* line = listening_line(router, "proxy");
        ASSERT_NE(line, nullptr) << router.stderr_text();
        const auto port = static_cast<unsigned short>(line->at("port").get<unsigned>());
        std::atomic<int> answered{0};
        std::atomic<bool> stop{false};
        std::vector<std::thread> clients;
        // Joined however the round ends: a failed ASSERT must not leave joinable threads behind.
        struct JoinOnExit {
            std::atomic<bool>& stop;
            std::vector<std::thread>& threads;
            ~JoinOnExit() {
                stop = true;
                for (auto& thread : threads) {
                    if (thread.joinable()) {
                        thread.join();
                    }
                }
            }
        } join_on_exit{stop, clients};
        for (int i = 0; i < 2; ++i) {
            clients.emplace_back([&] {
                while (!stop) {
                    try {
                        const auto response = request(port, "GET", "/debug/config");
                        if (response.status == 200 && response.json().contains("version")) {
                            ++answered;
                        }
                    } catch (const std::exception&) {
                        // Refused once the drain has closed the listener.
                    }
                }
            });
        }
        ASSERT_TRUE(eventually([&] { return answered.load() >= 20; }));
        router.send_signal(SIGTERM);
        const auto code = router.wait_exit(15s);
        EXPECT_EQ(code, 0) << router.stderr_text();
    }
}

}  // namespace
}  // namespace cell::testing
