// The router out of file descriptors (its soft limit lowered under it): accept errors back off
// instead of spinning on the listening socket, and once descriptors are free again the clients
// that waited in the accept queue are served.

#include <gtest/gtest.h>

#include "chaos_support.hpp"
#include "load_generator.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::size_t accept_failures(const Process& router) {
    std::size_t count = 0;
    for (const auto& line : router.json_lines()) {
        count += line.value("event", "") == "accept_failed" ? 1 : 0;
    }
    return count;
}

TEST(Chaos, DescriptorExhaustionBacksOffAndRecovers) {
    Deployment deployment;
    Process& router = deployment.router();
    ASSERT_EQ(request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "acme"}}).status, 200);
    const int fds_in_use = open_fd_count(router.pid());
    constexpr int headroom = 20;
    set_open_file_limit(router.pid(), static_cast<std::uint64_t>(fds_in_use + headroom));

    // More clients than the router has descriptors left: the kernel completes their handshakes,
    // but the router cannot accept them all.
    std::vector<std::unique_ptr<Connection>> holders;
    for (int i = 0; i < headroom + 10; ++i) {
        holders.push_back(std::make_unique<Connection>(deployment.router_port(), 5s));
    }
    ASSERT_TRUE(eventually([&] { return accept_failures(router) > 0; }, 5s)) << "the router never ran out";

    // While out of descriptors: how much CPU does the router burn, and how often does it retry?
    const auto cpu_before = cpu_time(router.pid());
    const std::size_t failures_before = accept_failures(router);
    const auto measured_from = Clock::now();
    std::this_thread::sleep_for(2s);
    const auto measured_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - measured_from).count();
    const auto cpu_used = cpu_time(router.pid()) - cpu_before;
    const std::size_t retries = accept_failures(router) - failures_before;

    // A client waiting in the accept queue asks, then descriptors are freed: it is answered.
    Connection waiting(deployment.router_port(), 10s);
    waiting.send(make_request("GET", "/", {{"X-Routing-Key", "acme"}}));
    const auto freed_at = Clock::now();
    holders.clear();
    const Response response = waiting.read_response();
    const auto recovery_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - freed_at).count();

    LoadGenerator load(LoadOptions{.port = deployment.router_port(), .threads = 4});
    ASSERT_TRUE(load.wait_for_answers(500));
    const LoadCounts counts = load.stop();

    std::printf("[chaos] descriptor exhaustion (limit %d, %d in use): over %lld ms without descriptors the "
                "router used %lld ms of CPU and retried accept %zu times; after freeing, the waiting client "
                "got %d in %lld ms\n",
                fds_in_use + headroom, fds_in_use, static_cast<long long>(measured_ms),
                static_cast<long long>(cpu_used.count()), retries, response.status,
                static_cast<long long>(recovery_ms));
    print_load("after descriptor exhaustion", counts);
    // Spinning would take a whole core per worker and log thousands of failures a second; the
    // backoff retries each worker's accept about ten times a second.
    EXPECT_LT(cpu_used.count(), measured_ms / 5);
    EXPECT_LE(retries, static_cast<std::size_t>(2 * 15 * measured_ms / 1000 + 5));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(counts.failed, 0u) << counts.summary();
    EXPECT_EQ(counts.answered_with(200), counts.sent) << counts.summary();
}

}  // namespace
}  // namespace cell::testing
