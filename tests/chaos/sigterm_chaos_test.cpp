// SIGTERM under keep-alive load with slow requests in flight: those requests complete, new
// connections are refused once the drain has begun, and the router exits 0 within its drain
// deadline.

#include <gtest/gtest.h>

#include <signal.h>

#include "chaos_support.hpp"
#include "load_generator.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int slow_requests = 8;
constexpr auto slow_delay = 1500ms;
constexpr auto drain_timeout = 5s;

// True when a new connection to `port` is refused, or closed before any answer.
bool connection_refused(unsigned short port) {
    try {
        Connection connection(port, 1s);
        connection.send(make_request("GET", "/", {{"X-Routing-Key", "globex"}}));
        connection.read_response();
        return false;
    } catch (const std::exception&) {
        return true;
    }
}

TEST(Chaos, SigtermDrainsUnderLoad) {
    Deployment deployment(Deployment::Options{.start_router = false});
    // The slow requests go to acme's tier1, whose in-flight count /debug/placements shows.
    deployment.write_config(
        with_placements(deployment.config("1.0.0"), {{"tier1", {{"concurrency_limit", 1000}}}}));
    deployment.start_router({"--admin-port", std::to_string(free_port()), "--drain-timeout", "5s"});
    Process& router = deployment.router();
    const unsigned short port = deployment.router_port();
    const unsigned short admin = admin_port_of(router);

    LoadGenerator load(LoadOptions{.port = port, .threads = 4, .routing_key = "globex"});
    ASSERT_TRUE(load.wait_for_answers(200));

    std::vector<std::thread> slow;
    std::atomic<int> slow_ok{0};
    std::vector<std::string> slow_errors(slow_requests);
    for (int i = 0; i < slow_requests; ++i) {
        slow.emplace_back([&, i] {
            try {
                Connection connection(port, 10s);
                connection.send(make_request("GET", "/?delay_ms=" + std::to_string(slow_delay.count()),
                                             {{"X-Routing-Key", "acme"}}));
                const Response response = connection.read_response();
                if (response.status == 200 && response.header("X-Routed-To") == "tier1") {
                    ++slow_ok;
                } else {
                    slow_errors[i] = "status " + std::to_string(response.status);
                }
            } catch (const std::exception& e) {
                slow_errors[i] = e.what();
            }
        });
    }
    ASSERT_TRUE(eventually(
        [&] {
            return request(admin, "GET", "/debug/placements").json()["placements"]["tier1"]["in_flight"] ==
                   slow_requests;
        },
        5s));

    const auto sigterm_at = Clock::now();
    router.send_signal(SIGTERM);
    ASSERT_TRUE(router.wait_for_line([](const Json& l) { return l.value("event", "") == "shutdown"; }, 5s));
    // Once the drain has begun, new connections are refused, every time, until the exit.
    ASSERT_TRUE(eventually([&] { return connection_refused(port); }, 2s));
    const auto refused_from = Clock::now();
    int attempts_after = 0;
    int served_after = 0;
    while (router.running() && Clock::now() - sigterm_at < drain_timeout + 2s) {
        ++attempts_after;
        served_after += connection_refused(port) ? 0 : 1;
        std::this_thread::sleep_for(50ms);
    }
    const auto exit_code = router.wait_exit(drain_timeout + 2s);
    const auto exited_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sigterm_at).count();
    for (auto& thread : slow) {
        thread.join();
    }
    const LoadCounts counts = load.stop();

    std::uint64_t failed_before_sigterm = 0;
    std::uint64_t hung = 0;
    for (const auto& event : load.events()) {
        failed_before_sigterm += event.status == 0 && event.at < sigterm_at ? 1 : 0;
        hung += event.failure.find("timed out") != std::string::npos ? 1 : 0;
    }
    print_load("SIGTERM under load (requests after the drain began fail by design)", counts);
    std::printf("[chaos]   %d of %d slow (%lld ms) requests in flight at SIGTERM completed with 200; new "
                "connections refused from %lld ms after SIGTERM (%d attempts until exit, %d served); exit "
                "code %d after %lld ms (drain deadline %lld ms)\n",
                slow_ok.load(), slow_requests, static_cast<long long>(slow_delay.count()),
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(refused_from - sigterm_at).count()),
                attempts_after, served_after, exit_code.value_or(-1), static_cast<long long>(exited_ms),
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(drain_timeout).count()));
    for (const auto& error : slow_errors) {
        EXPECT_EQ(error, "");
    }
    EXPECT_EQ(slow_ok.load(), slow_requests);
    EXPECT_EQ(served_after, 0);
    EXPECT_EQ(exit_code, 0);
    EXPECT_LT(exited_ms, std::chrono::duration_cast<std::chrono::milliseconds>(drain_timeout).count() + 1000);
    EXPECT_EQ(failed_before_sigterm, 0u) << counts.summary();
    EXPECT_EQ(hung, 0u) << counts.summary();
}

}  // namespace
}  // namespace cell::testing
