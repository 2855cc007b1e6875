// 10,000 requests to upstreams that reset mid-response, reset before answering, send garbage,
// never answer, or never accept the connection: each client gets the right status or a closed
// connection, never a hung one, and the router's descriptors and memory return to where they
// were.

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "chaos_support.hpp"
#include "full_backlog_listener.hpp"
#include "load_generator.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;

struct Fault {
    std::string name;
    std::string routing_key;
    std::string target;
    std::set<std::string> allowed;  // outcomes: a status, or "closed"
};

// One request per slot, in this proportion: the slow faults (silent, blackhole) are the rare
// ones so that 10,000 requests stay within seconds.
const std::vector<Fault>& fault_mix() {
    static const std::vector<Fault> mix{
        {"reset mid-response", "faulty", "/reset", {"closed", "502"}},
        {"reset mid-response", "faulty", "/reset", {"closed", "502"}},
        {"reset mid-response", "faulty", "/reset", {"closed", "502"}},
        {"reset mid-response", "faulty", "/reset", {"closed", "502"}},
        {"reset mid-response", "faulty", "/reset", {"closed", "502"}},
        {"reset before the response", "faulty", "/rst", {"502"}},
        {"reset before the response", "faulty", "/rst", {"502"}},
        {"reset before the response", "faulty", "/rst", {"502"}},
        {"reset before the response", "faulty", "/rst", {"502"}},
        {"garbage response", "faulty", "/garbage", {"502"}},
        {"garbage response", "faulty", "/garbage", {"502"}},
        {"garbage response", "faulty", "/garbage", {"502"}},
        {"garbage response", "faulty", "/garbage", {"502"}},
        {"garbage response", "faulty", "/garbage", {"502"}},
        {"healthy answer", "faulty", "/ok", {"200"}},
        {"healthy answer", "faulty", "/ok", {"200"}},
        {"healthy answer", "faulty", "/ok", {"200"}},
        {"healthy answer", "faulty", "/ok", {"200"}},
        {"never answers", "faulty", "/silent", {"504"}},
        {"connect never completes", "blackhole", "/", {"502"}},
    };
    return mix;
}

// outcome counts per fault name
using Outcomes = std::map<std::string, std::map<std::string, std::uint64_t>>;

// Sends `count` requests over `threads` keep-alive clients, the fault chosen by the request's
// number; a client whose connection closes opens a new one.
Outcomes send_faulty_requests(unsigned short port, int count, int threads) {
    std::atomic<int> next{0};
    std::mutex mutex;
    Outcomes outcomes;
    std::vector<std::thread> clients;
    for (int t = 0; t < threads; ++t) {
        clients.emplace_back([&] {
            std::unique_ptr<Connection> connection;
            for (int i = next++; i < count; i = next++) {
                const Fault& fault = fault_mix()[static_cast<std::size_t>(i) % fault_mix().size()];
                std::string outcome;
                try {
                    if (!connection) {
                        connection = std::make_unique<Connection>(port, 5s);
                    }
                    connection->send(make_request("GET", fault.target, {{"X-Routing-Key", fault.routing_key}}));
                    const Response response = connection->read_response();
                    outcome = std::to_string(response.status);
                    if (response.header("Connection") == "close") {
                        connection.reset();
                    }
                } catch (const std::exception& e) {
                    const std::string what = e.what();
                    outcome = what.find("timed out") != std::string::npos ? "hung" : "closed";
                    connection.reset();
                }
                std::lock_guard lock(mutex);
                ++outcomes[fault.name][outcome];
            }
        });
    }
    for (auto& client : clients) {
        client.join();
    }
    return outcomes;
}

std::string describe(const Outcomes& outcomes) {
    std::string text;
    for (const auto& [fault, counts] : outcomes) {
        text += "\n[chaos]     " + fault + ":";
        for (const auto& [outcome, n] : counts) {
            text += " " + outcome + " " + std::to_string(n);
        }
    }
    return text;
}

TEST(Chaos, UpstreamFaultsLeaveNothingBehind) {
    ScriptedUpstream upstream;
    FullBacklogListener blackhole;
    Deployment deployment(Deployment::Options{.cells = {"tier3"}, .start_router = false});
    Json config = deployment.config("1.0.0");
    config["routingTable"] = {{"faulty", "faulty"}, {"blackhole", "blackhole"}};
    config["cellEndpoints"]["faulty"] = upstream.url();
    config["cellEndpoints"]["blackhole"] = blackhole.url();
    config["proxy"] = {{"request_timeout", "150ms"}, {"connect_timeout", "150ms"}};
    deployment.write_config(config);
    deployment.start_router({"--access-log", "off"});
    Process& router = deployment.router();

    // Warm up with the same mix, so that pools, buffers and allocator arenas exist before the
    // baseline is taken.
    send_faulty_requests(deployment.router_port(), 1000, 16);
    std::this_thread::sleep_for(500ms);  // let the last silent requests time out
    const int fds_before = open_fd_count(router.pid());
    const long rss_before = router.rss_kib();

    const auto started = Clock::now();
    const Outcomes outcomes = send_faulty_requests(deployment.router_port(), 10000, 32);
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);

    // Connections the router closed on its side may take a moment to be reaped.
    int fds_after = -1;
    // The pool may keep one more or one fewer idle connection to the healthy upstream.
    eventually([&] { return (fds_after = open_fd_count(router.pid())) <= fds_before + 2; }, 5s);
    const long rss_after = router.rss_kib();

    std::uint64_t total = 0;
    std::uint64_t hung = 0;
    for (const auto& [fault, counts] : outcomes) {
        for (const auto& [outcome, n] : counts) {
            total += n;
            hung += outcome == "hung" ? n : 0;
        }
    }
    std::printf("[chaos] upstream faults: %llu requests in %lld ms, hung %llu; by fault and outcome:%s\n",
                static_cast<unsigned long long>(total), static_cast<long long>(elapsed.count()),
                static_cast<unsigned long long>(hung), describe(outcomes).c_str());
    std::printf("[chaos]   router fds before %d, after %d; RSS before %ld KiB, after %ld KiB; "
                "upstream saw %llu connections, %llu still open\n",
                fds_before, fds_after, rss_before, rss_after,
                static_cast<unsigned long long>(upstream.accepted()),
                static_cast<unsigned long long>(upstream.open_connections()));
    EXPECT_EQ(total, 10000u);
    EXPECT_EQ(hung, 0u);
    for (const auto& fault : fault_mix()) {
        for (const auto& [outcome, n] : outcomes.at(fault.name)) {
            EXPECT_TRUE(fault.allowed.count(outcome) == 1) << fault.name << ": " << n << " x " << outcome;
        }
    }
    EXPECT_LE(fds_after, fds_before + 2);
    // Freed memory may stay with the allocator; growth with the request count may not.
    EXPECT_LE(rss_after, rss_before + 4096) << "RSS grew by " << rss_after - rss_before << " KiB";
    EXPECT_TRUE(router.running());
}

}  // namespace
}  // namespace cell::testing
