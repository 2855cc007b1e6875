// The health checker in-process against a tiny HTTP server on loopback (an integration test:
// sockets, a server thread, real time): status transitions, each kind of
// failure, config updates and stopping. Timings are polled with a deadline, never asserted.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "cell/config/load.hpp"
#include "cell/health/health_checker.hpp"
#include "cell/routing/table.hpp"
#include "cell/transport/io.hpp"

namespace cell::health {
namespace {

using namespace std::chrono_literals;
using resilience::HealthStatus;

// One request per connection: counts it by path, waits the current delay, answers with the
// current status and closes.
class TestServer {
public:
    TestServer()
        : acceptor_(executor_type(loop_executor(io_)), tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
        port_ = acceptor_.local_endpoint().port();
        net::co_spawn(loop_executor(io_), accept_loop(this), net::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~TestServer() {
        io_.stop();
        thread_.join();
    }
    TestServer(const TestServer&) = delete;
    TestServer& operator=(const TestServer&) = delete;

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::uint16_t port() const { return port_; }
    void set_status(unsigned status) { status_.store(status); }
    void set_delay(std::chrono::milliseconds delay) { delay_ms_.store(delay.count()); }

    std::size_t requests(const std::string& path = "/health") const {
        const std::lock_guard lock(mutex_);
        const auto it = requests_.find(path);
        return it == requests_.end() ? 0 : it->second;
    }
    std::size_t total_requests() const {
        const std::lock_guard lock(mutex_);
        std::size_t total = 0;
        for (const auto& [path, count] : requests_) {
            total += count;
        }
        return total;
    }
    // The last request's method, target and headers, as "name" -> value ("" when missing).
    std::map<std::string, std::string> last_request() const {
        const std::lock_guard lock(mutex_);
        return last_request_;
    }

private:
    static awaitable<void> accept_loop(TestServer* server) {
        for (;;) {
            auto [ec, socket] = co_await server->acceptor_.async_accept();
            if (ec) {
                co_return;
            }
            net::co_spawn(server->acceptor_.get_executor(), serve(server, tcp_stream(std::move(socket))),
                          net::detached);
        }
    }

    static awaitable<void> serve(TestServer* server, tcp_stream stream) {
        beast::flat_buffer buffer;
        http::request<http::string_body> request;
        stream.expires_after(5s);
        auto [read_ec, read] = co_await http::async_read(stream, buffer, request);
        if (read_ec) {
            co_return;
        }
        server->note(request);
        const std::chrono::milliseconds delay(server->delay_ms_.load());
        if (delay > 0ms) {
            steady_timer timer(stream.get_executor(), delay);
            co_await timer.async_wait();
        }
        http::response<http::string_body> response{static_cast<http::status>(server->status_.load()), 11};
        response.body() = "health check body\n";
        response.prepare_payload();
        response.keep_alive(false);
        stream.expires_after(5s);
        co_await http::async_write(stream, response);
        boost::system::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    void note(const http::request<http::string_body>& request) {
        const std::lock_guard lock(mutex_);
        ++requests_[std::string(request.target())];
        last_request_.clear();
        last_request_["method"] = std::string(request.method_string());
        last_request_["target"] = std::string(request.target());
        for (const auto& field : request) {
            last_request_[std::string(field.name_string())] = std::string(field.value());
        }
    }

    net::io_context io_{1};
    tcp_acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::atomic<unsigned> status_{200};
    std::atomic<std::int64_t> delay_ms_{0};
    mutable std::mutex mutex_;
    std::map<std::string, std::size_t> requests_;
    std::map<std::string, std::string> last_request_;
    std::thread thread_;
};

// A loopback port nobody listens on (bound, then closed again), so connecting is refused.
std::uint16_t refused_port() {
    net::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    const auto port = acceptor.local_endpoint().port();
    acceptor.close();
    return port;
}

template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds limit = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (predicate()) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return predicate();
}

struct Check {
    std::string interval = "100ms";
    std::string timeout = "80ms";
    int healthy = 2;
    int unhealthy = 2;
    std::string path = "/health";
};

// One entry of the M4 "placements" object.
std::string checked(const std::string& name, const std::string& url, const Check& check = {}) {
    return "\"" + name + R"(": {"url": ")" + url + R"(", "health_check": {"path": ")" + check.path +
           R"(", "interval": ")" + check.interval + R"(", "timeout": ")" + check.timeout +
           R"(", "healthy_threshold": )" + std::to_string(check.healthy) +
           R"(, "unhealthy_threshold": )" + std::to_string(check.unhealthy) + "}}";
}

std::string unchecked(const std::string& name, const std::string& url) {
    return "\"" + name + R"(": {"url": ")" + url + "\"}";
}

class HealthCheckerTest : public ::testing::Test {
protected:
    // A table from M4 config text (through the real loader), sharing states across builds as a
    // running router does.
    routing::TableConstPtr table(const std::string& placements, const std::string& default_placement = "a") {
        const std::string text = R"({"version": "1", "routingTable": {}, "placements": {)" + placements +
                                 R"(}, "defaultPlacement": ")" + default_placement + "\"}";
        auto loaded = config::load_config(text);
        EXPECT_TRUE(loaded.ok()) << config::describe(loaded.errors) << "\n" << text;
        if (!loaded.ok()) {
            return nullptr;
        }
        return routing::Table::build(*loaded.config, config::ProxySettings{}, routing::TableOrigin{},
                                     &registry_);
    }

    static resilience::PlacementStatePtr state_of(const routing::TableConstPtr& table,
                                                  const std::string& name) {
        const auto* placement = table->find_placement(name);
        return placement == nullptr ? nullptr : placement->state;
    }

    resilience::PlacementStateRegistry registry_;
};

TEST_F(HealthCheckerTest, GoesUnhealthyAfterFailuresAndHealthyAgain) {
    TestServer server;
    const auto initial = table(checked("a", server.url()));
    ASSERT_TRUE(initial);
    const auto state = state_of(initial, "a");
    HealthChecker checker("");
    checker.start(initial);

    ASSERT_TRUE(eventually([&] { return state->health.status() == HealthStatus::healthy; }));
    EXPECT_EQ(state->health.snapshot().last_detail, "HTTP 200");

    server.set_status(503);
    ASSERT_TRUE(eventually([&] { return state->health.status() == HealthStatus::unhealthy; }));
    const auto down = state->health.snapshot();
    EXPECT_EQ(down.last_detail, "HTTP 503");
    EXPECT_GE(down.consecutive_failures, 2u);

    server.set_status(200);
    ASSERT_TRUE(eventually([&] { return state->health.status() == HealthStatus::healthy; }));
    EXPECT_GE(state->health.snapshot().consecutive_successes, 2u);
}

TEST_F(HealthCheckerTest, SendsGetWithHostUserAgentAndConnectionClose) {
    TestServer server;
    Check check;
    check.path = "/internal/ready?probe=1";
    const auto initial = table(checked("a", server.url(), check));
    ASSERT_TRUE(initial);
    HealthChecker checker("");
    checker.start(initial);

    ASSERT_TRUE(eventually([&] { return server.requests("/internal/ready?probe=1") >= 1; }));
    const auto request = server.last_request();
    EXPECT_EQ(request.at("method"), "GET");
    EXPECT_EQ(request.at("target"), "/internal/ready?probe=1");
    EXPECT_EQ(request.at("Host"), "127.0.0.1:" + std::to_string(server.port()));
    EXPECT_EQ(request.at("User-Agent"), "cell-router-health-check");
    EXPECT_EQ(request.at("Connection"), "close");
    EXPECT_EQ(server.requests("/health"), 0u);
}

TEST_F(HealthCheckerTest, RefusedConnectionCountsAsFailure) {
    const auto initial = table(checked("a", "http://127.0.0.1:" + std::to_string(refused_port())));
    ASSERT_TRUE(initial);
    const auto state = state_of(initial, "a");
    HealthChecker checker("");
    checker.start(initial);

    ASSERT_TRUE(eventually([&] { return state->health.status() == HealthStatus::unhealthy; }));
    const std::string detail = state->health.snapshot().last_detail;
    EXPECT_TRUE(detail.starts_with("connect: ")) << detail;
    EXPECT_NE(detail.find("refused"), std::string::npos) << detail;
}

TEST_F(HealthCheckerTest, SlowServerCountsAsTimeout) {
    TestServer server;
    server.set_delay(1s);
    Check check;
    check.timeout = "50ms";
    const auto initial = table(checked("a", server.url(), check));
    ASSERT_TRUE(initial);
    const auto state = state_of(initial, "a");
    HealthChecker checker("");
    checker.start(initial);

    ASSERT_TRUE(eventually([&] { return state->health.status() == HealthStatus::unhealthy; }));
    EXPECT_EQ(state->health.snapshot().last_detail, "timeout after 50ms");
}

// A 10s interval shortened to 100ms must not wait out the 10s; thresholds apply from the next
// probe, to the failures counted so far.
TEST_F(HealthCheckerTest, UpdateAppliesNewIntervalAndThresholds) {
    TestServer server;
    server.set_status(503);
    Check check;
    check.interval = "10s";
    check.timeout = "1s";
    check.unhealthy = 1000;
    const auto initial = table(checked("a", server.url(), check));
    ASSERT_TRUE(initial);
    const auto state = state_of(initial, "a");
    HealthChecker checker("");
    checker.start(initial);
    // The first probe comes within a second, the next one not before 9s.
    ASSERT_TRUE(eventually([&] { return state->health.snapshot().probes >= 1; }));

    check.interval = "100ms";
    check.timeout = "80ms";
    const auto faster = table(checked("a", server.url(), check));
    ASSERT_TRUE(faster);
    ASSERT_EQ(state_of(faster, "a"), state) << "same URL keeps the state";
    checker.update(faster);
    ASSERT_TRUE(eventually([&] { return state->health.snapshot().failed_probes >= 5; }));
    EXPECT_EQ(state->health.status(), HealthStatus::unknown) << "1000 failures needed";

    check.unhealthy = 3;
    const auto stricter = table(checked("a", server.url(), check));
    ASSERT_TRUE(stricter);
    checker.update(stricter);
    ASSERT_TRUE(eventually([&] { return state->health.status() == HealthStatus::unhealthy; }));
}

TEST_F(HealthCheckerTest, UpdateWithNewUrlProbesNewServerWithFreshState) {
    TestServer old_server;
    old_server.set_status(503);
    TestServer new_server;
    const auto initial = table(checked("a", old_server.url()));
    ASSERT_TRUE(initial);
    const auto old_state = state_of(initial, "a");
    HealthChecker checker("");
    checker.start(initial);
    ASSERT_TRUE(eventually([&] { return old_state->health.status() == HealthStatus::unhealthy; }));

    const auto moved = table(checked("a", new_server.url()));
    ASSERT_TRUE(moved);
    const auto new_state = state_of(moved, "a");
    ASSERT_NE(new_state, old_state);
    checker.update(moved);
    ASSERT_TRUE(eventually([&] { return new_state->health.status() == HealthStatus::healthy; }));
    EXPECT_GE(new_server.requests(), 2u);

    // Nothing more reaches the old server, and the old state hears nothing more.
    const auto old_requests = old_server.requests();
    const auto old_probes = old_state->health.snapshot().probes;
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(old_server.requests(), old_requests);
    EXPECT_EQ(old_state->health.snapshot().probes, old_probes);
    EXPECT_EQ(old_state->health.status(), HealthStatus::unhealthy);
}

class HealthCheckerStopsProbingTest : public HealthCheckerTest {
protected:
    // Probes "a" until `next` (built against `server`) is applied, then expects silence.
    void expect_probing_stops(TestServer& server, const std::string& next_placements) {
        const auto initial =
            table(checked("a", server.url()) + ", " + unchecked("b", server.url()), "b");
        ASSERT_TRUE(initial);
        const auto state = state_of(initial, "a");
        HealthChecker checker("");
        checker.start(initial);
        ASSERT_TRUE(eventually([&] { return state->health.snapshot().probes >= 2; }));

        const auto next = table(next_placements, "b");
        ASSERT_TRUE(next);
        checker.update(next);
        // Lets a probe that was in flight at the update reach the server.
        std::this_thread::sleep_for(200ms);
        const auto requests = server.total_requests();
        const auto probes = state->health.snapshot().probes;
        std::this_thread::sleep_for(600ms);
        EXPECT_EQ(server.total_requests(), requests);
        EXPECT_EQ(state->health.snapshot().probes, probes);
        EXPECT_EQ(state_of(initial, "b")->health.snapshot().probes, 0u) << "b has no health_check";
    }
};

TEST_F(HealthCheckerStopsProbingTest, WhenHealthCheckIsRemoved) {
    TestServer server;
    expect_probing_stops(server, unchecked("a", server.url()) + ", " + unchecked("b", server.url()));
}

TEST_F(HealthCheckerStopsProbingTest, WhenPlacementIsRemoved) {
    TestServer server;
    expect_probing_stops(server, unchecked("b", server.url()));
}

// The probe under way when its placement goes away must not be recorded when it completes.
TEST_F(HealthCheckerTest, ProbeInFlightAtRemovalIsNotRecorded) {
    TestServer server;
    server.set_delay(300ms);
    Check check;
    check.interval = "2s";
    check.timeout = "1s";
    const auto initial = table(checked("a", server.url(), check) + ", " + unchecked("b", server.url()), "b");
    ASSERT_TRUE(initial);
    const auto state = state_of(initial, "a");
    HealthChecker checker("");
    checker.start(initial);
    ASSERT_TRUE(eventually([&] { return server.requests() >= 1; }));

    const auto without_a = table(unchecked("b", server.url()), "b");
    ASSERT_TRUE(without_a);
    checker.update(without_a);
    std::this_thread::sleep_for(800ms);  // the answer came after 300ms
    EXPECT_EQ(state->health.snapshot().probes, 0u);
    EXPECT_EQ(server.requests(), 1u);
}

TEST_F(HealthCheckerTest, StopReturnsPromptlyWithProbeInFlight) {
    TestServer server;
    server.set_delay(10s);
    Check check;
    check.interval = "5s";
    check.timeout = "4s";
    const auto initial = table(checked("a", server.url(), check));
    ASSERT_TRUE(initial);
    const auto state = state_of(initial, "a");
    HealthChecker checker("");
    checker.start(initial);
    ASSERT_TRUE(eventually([&] { return server.requests() >= 1; }));

    const auto started = std::chrono::steady_clock::now();
    checker.stop();
    checker.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
    EXPECT_EQ(state->health.snapshot().probes, 0u) << "the probe in flight is never recorded";
    checker.update(initial);  // after stop: ignored, must not crash
}

TEST_F(HealthCheckerTest, DestructorStopsWithOrWithoutStart) {
    TestServer server;
    const auto initial = table(checked("a", server.url()));
    ASSERT_TRUE(initial);
    const auto state = state_of(initial, "a");
    {
        HealthChecker never_started("");
        never_started.update(initial);
    }
    EXPECT_EQ(server.requests(), 0u);
    {
        HealthChecker running("");
        running.start(initial);
        ASSERT_TRUE(eventually([&] { return state->health.snapshot().probes >= 1; }));
    }
    const auto probes = state->health.snapshot().probes;
    const auto requests = server.requests();
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(state->health.snapshot().probes, probes);
    EXPECT_EQ(server.requests(), requests);
}

}  // namespace
}  // namespace cell::health
