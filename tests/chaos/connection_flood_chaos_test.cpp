// 10,000 idle client connections plus 1,000 slowloris clients against one router: the others
// are still served, and what an idle connection costs is measured. A router over its
// max_connections refuses politely: 503 too_many_connections with Retry-After, then close.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chaos_support.hpp"
#include "load_generator.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int idle_connections = 10000;
constexpr int slowloris_clients = 1000;

// Plain connected sockets, held open without a byte sent.
class IdleClients {
public:
    IdleClients(unsigned short port, int count) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        for (int i = 0; i < count; ++i) {
            const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                throw std::runtime_error("socket: " + std::string(std::strerror(errno)) + " after " +
                                         std::to_string(i) + " connections");
            }
            if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
                const std::string reason = std::strerror(errno);
                ::close(fd);
                throw std::runtime_error("connect: " + reason + " after " + std::to_string(i) + " connections");
            }
            fds_.push_back(fd);
        }
    }
    ~IdleClients() { close_all(); }
    IdleClients(const IdleClients&) = delete;
    IdleClients& operator=(const IdleClients&) = delete;

    const std::vector<int>& fds() const { return fds_; }
    void close_first(std::size_t n) {
        for (std::size_t i = 0; i < n && i < fds_.size(); ++i) {
            ::close(fds_[i]);
        }
        fds_.erase(fds_.begin(), fds_.begin() + static_cast<std::ptrdiff_t>(std::min(n, fds_.size())));
    }
    void close_all() { close_first(fds_.size()); }

private:
    std::vector<int> fds_;
};

// Each client sends the start of a request head, then one more header byte every `trickle`,
// never finishing it: the router must not let them starve anyone else.
class SlowlorisClients {
public:
    SlowlorisClients(unsigned short port, int count, std::chrono::milliseconds trickle)
        : clients_(port, count), trickle_(trickle) {
        for (const int fd : clients_.fds()) {
            const std::string start = "GET / HTTP/1.1\r\nHost: slow\r\nX-Routing-Key: acme\r\nX-Slow: ";
            (void)!::send(fd, start.data(), start.size(), MSG_NOSIGNAL);
        }
        thread_ = std::thread([this] {
            while (!stopping_) {
                std::this_thread::sleep_for(trickle_);
                for (const int fd : clients_.fds()) {
                    if (::send(fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) {
                        ++bytes_sent_;
                    }
                }
            }
        });
    }
    ~SlowlorisClients() {
        stopping_ = true;
        thread_.join();
    }
    SlowlorisClients(const SlowlorisClients&) = delete;
    SlowlorisClients& operator=(const SlowlorisClients&) = delete;

    std::uint64_t bytes_sent() const { return bytes_sent_.load(); }

private:
    IdleClients clients_;
    std::chrono::milliseconds trickle_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> bytes_sent_{0};
    std::thread thread_;
};

Json admin_config(const Process& router) {
    return request(admin_port_of(router), "GET", "/debug/config").json();
}

std::uint64_t open_connections(const Process& router) {
    return admin_config(router)["connections"]["open"].get<std::uint64_t>();
}

TEST(Chaos, IdleAndSlowlorisConnectionsDoNotStarveOthers) {
    // Ours: 10,000 idle + 1,000 slowloris + the load's connections.
    ASSERT_GE(raise_own_open_file_limit(idle_connections + slowloris_clients + 500),
              static_cast<std::uint64_t>(idle_connections + slowloris_clients + 500))
        << "the hard limit on open files is too low for this scenario";
    const auto started = Clock::now();
    Deployment deployment(Deployment::Options{.start_router = false});
    // A short header timeout, so that the scenario also sees the slowloris clients cut off.
    deployment.start_router(
        {"--admin-port", std::to_string(free_port()), "--access-log", "off", "--header-timeout", "4s"});
    Process& router = deployment.router();
    {
        LoadGenerator warm_up(LoadOptions{.port = deployment.router_port(), .threads = 4});
        ASSERT_TRUE(warm_up.wait_for_answers(500));
    }
    ASSERT_TRUE(eventually([&] { return open_connections(router) == 0; }));
    const long rss_before = router.rss_kib();
    const int fds_before = open_fd_count(router.pid());

    const auto connect_started = Clock::now();
    IdleClients idle(deployment.router_port(), idle_connections);
    ASSERT_TRUE(eventually([&] { return open_connections(router) >= idle_connections; }, 20s))
        << open_connections(router);
    const auto connect_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - connect_started).count();
    const long rss_idle = router.rss_kib();
    const int fds_idle = open_fd_count(router.pid());

    const auto slowloris_started = Clock::now();
    SlowlorisClients slowloris(deployment.router_port(), slowloris_clients, 500ms);
    ASSERT_TRUE(eventually([&] { return open_connections(router) >= idle_connections + slowloris_clients; }, 20s));

    // Everyone else, meanwhile: fresh keep-alive clients are served as usual.
    LoadGenerator load(LoadOptions{.port = deployment.router_port(), .threads = 4, .timeout = 2s});
    std::this_thread::sleep_for(3s);
    const LoadCounts counts = load.stop();
    const long rss_loaded = router.rss_kib();
    // Trickling bytes does not extend header_timeout: it runs from a request's first byte.
    const bool slowloris_cut_off =
        eventually([&] { return open_connections(router) <= idle_connections + 4; }, 10s);
    const auto cut_off_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - slowloris_started).count();

    print_load("10,000 idle + 1,000 slowloris connections, 4 other clients for 3 s", counts);
    std::printf("[chaos]   10,000 idle connections opened in %lld ms; router RSS %ld KiB -> %ld KiB: %.2f KiB "
                "per idle connection; fds %d -> %d; RSS with slowloris and load %ld KiB; slowloris bytes "
                "trickled %llu; slowloris connections closed by the 4 s header timeout %lld ms after they "
                "started; scenario %lld ms\n",
                static_cast<long long>(connect_ms), rss_before, rss_idle,
                static_cast<double>(rss_idle - rss_before) / idle_connections, fds_before, fds_idle, rss_loaded,
                static_cast<unsigned long long>(slowloris.bytes_sent()), static_cast<long long>(cut_off_ms),
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()));
    EXPECT_EQ(counts.failed, 0u) << counts.summary();
    EXPECT_EQ(counts.answered_with(200), counts.sent) << counts.summary();
    EXPECT_GT(counts.sent, 100u);
    EXPECT_TRUE(slowloris_cut_off) << open_connections(router) << " connections still open";
    // An idle pooled connection to a cell may have closed in between.
    EXPECT_GE(fds_idle - fds_before, idle_connections - 4);
    EXPECT_TRUE(router.running());
}

// Over max_connections a new client is told so at once, with Retry-After, and the connection is
// closed; once connections close, new clients are served again. The counts are in /debug/config.
TEST(Chaos, MaxConnectionsRefusesPolitely) {
    constexpr int limit = 200;
    Deployment deployment(Deployment::Options{.start_router = false});
    deployment.start_router(
        {"--admin-port", std::to_string(free_port()), "--max-connections", std::to_string(limit)});
    Process& router = deployment.router();

    IdleClients idle(deployment.router_port(), limit);
    ASSERT_TRUE(eventually([&] { return open_connections(router) == limit; })) << open_connections(router);

    Connection refused(deployment.router_port());
    refused.send(make_request("GET", "/", {{"X-Routing-Key", "acme"}}));
    const Response response = refused.read_response();
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(response.header("Retry-After"), "1");
    EXPECT_EQ(response.header("Connection"), "close");
    EXPECT_EQ(response.json()["error"], "too_many_connections");
    EXPECT_TRUE(refused.closed_by_peer());

    const Json status = admin_config(router);
    EXPECT_EQ(status["connections"]["open"], limit);
    EXPECT_EQ(status["connections"]["max"], limit);
    EXPECT_GE(status["connections"]["refused"].get<int>(), 1);
    EXPECT_EQ(status["settings"]["max_connections"], limit);

    idle.close_first(10);
    ASSERT_TRUE(eventually([&] { return open_connections(router) == limit - 10; }));
    EXPECT_EQ(request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "acme"}}).status, 200);
    std::printf("[chaos] max_connections %d: connection %d answered %d (%s, Retry-After %s) and closed; "
                "after 10 closed, a new client got 200; refused so far %s\n",
                limit, limit + 1, response.status, response.json()["error"].get<std::string>().c_str(),
                response.header("Retry-After").c_str(), status["connections"]["refused"].dump().c_str());
}

}  // namespace
}  // namespace cell::testing
