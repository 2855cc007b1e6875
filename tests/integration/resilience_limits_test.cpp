// M4 per-placement limits through the real router and demo cells: concurrency limit, rate
// limit, request body size (Content-Length and chunked), response and connect timeouts.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;

long long elapsed_ms(Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

// The seed's four cells behind a router whose config uses M4 placements with `policies`, and
// whose admin port is known.
class Rig {
public:
    explicit Rig(const Json& policies) : deployment_(Deployment::Options{.start_router = false}) {
        deployment_.write_config(with_placements(deployment_.config("1.0.0"), policies));
        deployment_.start_router({"--admin-port", std::to_string(free_port())});
        admin_ = admin_port_of(deployment_.router());
    }

    Deployment& deployment() { return deployment_; }
    unsigned short port() const { return deployment_.router_port(); }
    Json placement(const std::string& name) const {
        return request(admin_, "GET", "/debug/placements").json()["placements"][name];
    }
    Response send(const std::string& key, const std::string& target = "/") const {
        return request(port(), "GET", target, {{"X-Routing-Key", key}});
    }

    // Waits until the cells have logged a request sent after everything before it, so that
    // anything a cell was going to log about earlier requests has been logged.
    void sync_cells(const std::string& key) {
        const std::string path = "/sync-" + std::to_string(++syncs_);
        ASSERT_EQ(send(key, path).status, 200);
        ASSERT_TRUE(eventually([&] { return !cell_request_lines(deployment_, path).empty(); }, 5s));
        std::this_thread::sleep_for(200ms);
    }

private:
    Deployment deployment_;
    unsigned short admin_ = 0;
    int syncs_ = 0;
};

std::string chunk(const std::string& data) {
    std::ostringstream text;
    text << std::hex << data.size() << "\r\n" << data << "\r\n";
    return text.str();
}

// L + K simultaneous slow requests to a placement limited to L in flight: exactly K are refused
// at once with 429 concurrency_limited and Retry-After: 1, L are served; the count goes back
// to 0 afterwards.
TEST(ResilienceLimits, ConcurrencyLimitRefusesTheExcessAtOnce) {
    constexpr int limit = 4;
    constexpr int extra = 3;
    Rig rig(Json{{"tier1", {{"type", "shared"}, {"concurrency_limit", limit}}}});
    std::vector<std::unique_ptr<Connection>> connections;
    for (int i = 0; i < limit + extra; ++i) {
        connections.push_back(std::make_unique<Connection>(rig.port()));
    }
    std::latch start(limit + extra);
    std::vector<Response> responses(limit + extra);
    std::vector<long long> took_ms(limit + extra);
    std::vector<std::string> errors(limit + extra);
    std::vector<std::thread> clients;
    for (int i = 0; i < limit + extra; ++i) {
        clients.emplace_back([&, i] {
            try {
                start.arrive_and_wait();
                const auto sent = Clock::now();
                connections[i]->send(make_request("GET", "/slow?delay_ms=1000", {{"X-Routing-Key", "acme"}}));
                responses[i] = connections[i]->read_response();
                took_ms[i] = elapsed_ms(sent);
            } catch (const std::exception& error) {
                errors[i] = error.what();
            }
        });
    }
    // Sampled while the requests run: never more than the limit in flight.
    long long max_in_flight = 0;
    const auto sampling_since = Clock::now();
    while (elapsed_ms(sampling_since) < 700) {
        max_in_flight = std::max<long long>(max_in_flight, rig.placement("tier1")["in_flight"].get<long long>());
        std::this_thread::sleep_for(20ms);
    }
    for (auto& client : clients) {
        client.join();
    }

    int served = 0;
    int refused = 0;
    for (int i = 0; i < limit + extra; ++i) {
        ASSERT_TRUE(errors[i].empty()) << errors[i];
        const auto& response = responses[i];
        EXPECT_EQ(response.header("X-Routed-To"), "tier1");
        if (response.status == 200) {
            ++served;
            EXPECT_EQ(response.json()["cell"], "tier1");
        } else if (response.status == 429) {
            ++refused;
            EXPECT_EQ(response.header("Retry-After"), "1");
            const auto body = response.json();
            EXPECT_EQ(body["error"], "concurrency_limited") << response.body;
            EXPECT_EQ(body["limit"], "concurrency_limit") << response.body;
            EXPECT_EQ(body["placement"], "tier1") << response.body;
            EXPECT_LT(took_ms[i], 900) << "a refusal should not wait for a slot";
        } else {
            ADD_FAILURE() << "unexpected status " << response.status << ": " << response.body;
        }
    }
    EXPECT_EQ(served, limit);
    EXPECT_EQ(refused, extra);
    EXPECT_LE(max_in_flight, limit);
    EXPECT_TRUE(eventually([&] { return cell_request_lines(rig.deployment(), "/slow").size() >= limit; }, 5s));
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(cell_request_lines(rig.deployment(), "/slow").size(), static_cast<std::size_t>(limit))
        << "refused requests reached the cell";

    EXPECT_TRUE(eventually([&] { return rig.placement("tier1")["in_flight"] == 0; }, 5s))
        << rig.placement("tier1").dump();
    EXPECT_EQ(rig.send("acme").status, 200);
}

// A token bucket: the burst at once, then requests_per_second. Hammered for about 3 s, the
// number served is close to burst + rate * elapsed; the others get 429 rate_limited.
TEST(ResilienceLimits, RateLimitServesBurstThenSteadyRate) {
    constexpr double rate = 20;
    constexpr int burst = 5;
    Rig rig(Json{{"tier1", {{"type", "shared"}, {"rate_limit", {{"requests_per_second", rate}, {"burst", burst}}}}},
                 {"tier2", {{"type", "shared"}, {"rate_limit", {{"requests_per_second", 0.5}, {"burst", 1}}}}}});
    int served = 0;
    int limited = 0;
    int bad_refusals = 0;
    std::string first_bad;
    auto connection = std::make_unique<Connection>(rig.port());
    const auto started = Clock::now();
    while (elapsed_ms(started) < 3000) {
        Response response;
        try {
            connection->send(make_request("GET", "/rated", {{"X-Routing-Key", "acme"}}));
            response = connection->read_response();
        } catch (const std::exception&) {
            connection = std::make_unique<Connection>(rig.port());  // closed by the router: reconnect
            continue;
        }
        if (response.status == 200) {
            ++served;
        } else if (response.status == 429) {
            ++limited;
            const auto body = Json::parse(response.body, nullptr, false);
            const std::string retry_after = response.header("Retry-After");
            const bool good = !body.is_discarded() && body.value("error", "") == "rate_limited" &&
                              body.value("limit", "") == "rate_limit" && body.value("placement", "") == "tier1" &&
                              !retry_after.empty() &&
                              std::all_of(retry_after.begin(), retry_after.end(), ::isdigit) &&
                              std::stoi(retry_after) >= 1 && response.header("X-Routed-To") == "tier1";
            if (!good && bad_refusals++ == 0) {
                first_bad = "Retry-After: '" + retry_after + "' " + response.body;
            }
        } else {
            ADD_FAILURE() << "unexpected status " << response.status << ": " << response.body;
            break;
        }
    }
    const double seconds = static_cast<double>(elapsed_ms(started)) / 1000.0;
    const double expected = burst + rate * seconds;
    std::printf("[ rate limit ] %d served, %d refused in %.2f s (expected about %.1f served)\n", served, limited,
                seconds, expected);
    EXPECT_GE(served, static_cast<int>(std::floor(expected * 0.8)));
    EXPECT_LE(served, static_cast<int>(std::ceil(expected * 1.2)));
    EXPECT_GT(limited, 0);
    EXPECT_EQ(bad_refusals, 0) << first_bad;
    const auto state = rig.placement("tier1")["rate_limit"];
    EXPECT_EQ(state["requests_per_second"], rate);
    EXPECT_EQ(state["burst"], burst);
    EXPECT_LE(state["tokens"].get<double>(), burst);

    // Retry-After says how long until the next token: about 2 s at half a request per second.
    EXPECT_EQ(rig.send("globex").status, 200);
    const auto slow = rig.send("globex");
    EXPECT_EQ(slow.status, 429);
    const int retry_after = std::atoi(slow.header("Retry-After").c_str());
    EXPECT_GE(retry_after, 1) << slow.header("Retry-After");
    EXPECT_LE(retry_after, 2) << slow.header("Retry-After");
}

// A declared Content-Length over max_request_body_bytes is refused with 413 before the body is
// even sent, and the cell never hears of it; at the limit the request passes.
TEST(ResilienceLimits, ContentLengthOverBodyLimitIs413) {
    constexpr int limit = 1000;
    Rig rig(Json{{"tier1", {{"type", "shared"}, {"max_request_body_bytes", limit}}}});

    Connection connection(rig.port());
    connection.send(make_request("POST", "/too-big", {{"X-Routing-Key", "acme"}, {"Content-Length", "5000"}}, "",
                                 false));
    const auto refused = connection.read_response();  // answered without the body being sent
    ASSERT_EQ(refused.status, 413) << refused.body;
    EXPECT_EQ(refused.header("X-Routed-To"), "tier1");
    const auto body = refused.json();
    EXPECT_EQ(body["error"], "body_too_large") << refused.body;
    EXPECT_EQ(body["limit"], "max_request_body_bytes");
    EXPECT_EQ(body["placement"], "tier1");

    // With Expect: 100-continue the refusal comes instead of the 100 Continue.
    Connection expecting(rig.port());
    expecting.send(make_request("POST", "/too-big",
                                {{"X-Routing-Key", "acme"}, {"Content-Length", "5000"}, {"Expect", "100-continue"}}, "",
                                false));
    const auto refused_early = expecting.read_response();
    EXPECT_EQ(refused_early.status, 413) << refused_early.body;
    EXPECT_TRUE(refused_early.interim_statuses.empty()) << "100 Continue invited a body that will be refused";

    const auto with_body =
        request(rig.port(), "POST", "/too-big", {{"X-Routing-Key", "acme"}}, std::string(limit + 1, 'b'));
    EXPECT_EQ(with_body.status, 413);

    const auto at_limit = request(rig.port(), "POST", "/at-limit", {{"X-Routing-Key", "acme"}}, std::string(limit, 'a'));
    ASSERT_EQ(at_limit.status, 200) << at_limit.body;
    EXPECT_EQ(at_limit.json()["body_bytes"], limit);
    const auto small = request(rig.port(), "POST", "/small", {{"X-Routing-Key", "acme"}}, std::string(10, 's'));
    ASSERT_EQ(small.status, 200);
    EXPECT_EQ(small.json()["body_bytes"], 10);
    // The limit is tier1's: tier2 takes a larger body.
    EXPECT_EQ(request(rig.port(), "POST", "/other", {{"X-Routing-Key", "globex"}}, std::string(5000, 'o')).status,
              200);

    ASSERT_NO_FATAL_FAILURE(rig.sync_cells("acme"));
    EXPECT_TRUE(cell_request_lines(rig.deployment(), "/too-big").empty()) << "a refused body reached the cell";
    const auto logged = cell_request_lines(rig.deployment(), "/at-limit");
    ASSERT_EQ(logged.size(), 1u);
    EXPECT_EQ(logged[0]["body_bytes"], limit);
}

// A chunked body that crosses the limit mid-stream: the cell connection is closed mid-body, so
// the cell never completes a request with it, and the client gets 413 (or, racing its own
// writes, a closed connection). A chunked body within the limit passes whole.
TEST(ResilienceLimits, ChunkedBodyCrossingTheLimitNeverReachesTheCellWhole) {
    constexpr std::size_t limit = 1000;
    Rig rig(Json{{"tier1", {{"type", "shared"}, {"max_request_body_bytes", limit}}}});

    Connection connection(rig.port());
    connection.send(make_request("POST", "/chunked-too-big",
                                 {{"X-Routing-Key", "acme"}, {"Transfer-Encoding", "chunked"}}, "", false));
    std::size_t sent = 0;
    bool write_failed = false;
    for (int piece = 0; piece < 10 && !write_failed; ++piece) {  // 5000 bytes, five times the limit
        try {
            connection.send(chunk(std::string(500, static_cast<char>('a' + piece))));
            sent += 500;
        } catch (const std::exception&) {
            write_failed = true;
        }
        std::this_thread::sleep_for(20ms);
    }
    if (!write_failed) {
        try {
            connection.send("0\r\n\r\n");
        } catch (const std::exception&) {
            write_failed = true;
        }
    }
    std::optional<Response> answer;
    std::string read_error;
    try {
        answer = connection.read_response();
    } catch (const std::exception& error) {
        read_error = error.what();
    }
    std::printf("[ body limit ] sent %zu chunked bytes, write failed: %s, answer: %s\n", sent,
                write_failed ? "yes" : "no", answer ? std::to_string(answer->status).c_str() : read_error.c_str());
    if (answer) {
        EXPECT_EQ(answer->status, 413) << answer->body;
        EXPECT_EQ(answer->json()["error"], "body_too_large") << answer->body;
        EXPECT_EQ(answer->json()["limit"], "max_request_body_bytes") << answer->body;
        EXPECT_TRUE(connection.closed_by_peer(5s)) << "the connection should close after a cut-off body";
    }
    const auto access = rig.deployment().router().wait_for_line([](const Json& line) {
        return line.value("event", "") == "access" && line.value("path", "") == "/chunked-too-big";
    });
    ASSERT_TRUE(access.has_value());
    EXPECT_EQ((*access)["status_code"], 413) << access->dump();

    ASSERT_NO_FATAL_FAILURE(rig.sync_cells("acme"));
    for (const auto& line : cell_request_lines(rig.deployment(), "/chunked-too-big")) {
        EXPECT_LT(line["body_bytes"].get<std::size_t>(), limit) << "the cell got the body whole: " << line.dump();
    }
    EXPECT_TRUE(cell_request_lines(rig.deployment(), "/chunked-too-big").empty())
        << "the cell completed a request whose body was cut off";

    // Within the limit, in pieces: passes whole.
    Connection small(rig.port());
    small.send(make_request("POST", "/chunked-small", {{"X-Routing-Key", "acme"}, {"Transfer-Encoding", "chunked"}},
                            "", false));
    for (int piece = 0; piece < 3; ++piece) {
        small.send(chunk(std::string(300, 'c')));
        std::this_thread::sleep_for(20ms);
    }
    small.send("0\r\n\r\n");
    const auto passed = small.read_response();
    ASSERT_EQ(passed.status, 200) << passed.body;
    EXPECT_EQ(passed.json()["body_bytes"], 900);
    ASSERT_TRUE(eventually([&] { return cell_request_lines(rig.deployment(), "/chunked-small").size() == 1; }, 5s));
    EXPECT_EQ(cell_request_lines(rig.deployment(), "/chunked-small")[0]["body_bytes"], 900);
}

// response_timeout of a placement: a slow cell gets 504 well before it would answer; other
// placements keep the router-wide timeout. A refused connection gets 502.
TEST(ResilienceLimits, PerPlacementResponseTimeoutAndConnectFailure) {
    Rig rig(Json{{"visa", {{"type", "dedicated"}, {"response_timeout", "300ms"}}},
                 {"tier2",
                  {{"url", "http://127.0.0.1:" + std::to_string(free_port())},
                   {"type", "shared"},
                   {"connect_timeout", "500ms"}}}});
    const auto started = Clock::now();
    const auto slow = rig.send("visa", "/slow?delay_ms=2000");
    const auto took = elapsed_ms(started);
    EXPECT_EQ(slow.status, 504) << slow.body;
    EXPECT_EQ(slow.json()["error"], "upstream_timeout") << slow.body;
    EXPECT_EQ(slow.header("X-Routed-To"), "visa");
    EXPECT_LT(took, 1500) << "the 300ms response timeout was not applied";
    std::printf("[ response timeout ] 504 after %lld ms (response_timeout 300ms, cell delay 2000ms)\n", took);

    const auto patient = rig.send("acme", "/slow?delay_ms=600");  // tier1: the router-wide timeout
    EXPECT_EQ(patient.status, 200) << patient.body;
    EXPECT_EQ(patient.header("X-Routed-To"), "tier1");

    const auto unreachable = rig.send("globex");
    EXPECT_EQ(unreachable.status, 502) << unreachable.body;
    EXPECT_EQ(unreachable.json()["error"], "connect_failed") << unreachable.body;
    EXPECT_EQ(unreachable.header("X-Routed-To"), "tier2");
    EXPECT_TRUE(rig.deployment().router().running());
}

}  // namespace
}  // namespace cell::testing
