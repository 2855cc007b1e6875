// M2 hot reload through the real router: valid, invalid and half-written files, SIGHUP, saves
// seen at once through inotify, and continuous traffic across many swaps.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "harness.hpp"

namespace cell::testing {
namespace {

std::string routed_to(unsigned short port, const std::string& key) {
    return request(port, "GET", "/", {{"X-Routing-Key", key}}).header("X-Routed-To");
}

Json debug_config(unsigned short port) { return request(port, "GET", "/debug/config").json(); }

bool serves_version(unsigned short port, const std::string& version) {
    return debug_config(port)["version"] == version;
}

// A valid change is applied within a few reload intervals; routes change with it.
TEST(HotReload, ValidChangeIsApplied) {
    Deployment deployment;
    auto config = deployment.config("2.0.0");
    config["routingTable"]["acme"] = "visa";
    deployment.write_config(config);
    ASSERT_TRUE(eventually([&] { return serves_version(deployment.router_port(), "2.0.0"); }));
    EXPECT_EQ(routed_to(deployment.router_port(), "acme"), "visa");
    const auto status = debug_config(deployment.router_port());
    EXPECT_EQ(status["reloads"]["applied"], 1);
    EXPECT_EQ(status["generation"], 2);
    const auto applied = deployment.router().wait_for_line(
        [](const Json& line) { return line.value("event", "") == "config_reloaded"; });
    ASSERT_TRUE(applied.has_value());
    EXPECT_EQ((*applied)["version"], "2.0.0");
    EXPECT_EQ((*applied)["previous_version"], "1.0.0");
}

// Each kind of invalid file is rejected with a JSON log line naming the reason, and the last
// good table keeps serving.
TEST(HotReload, InvalidFilesAreRejected) {
    Deployment deployment;
    const auto port = deployment.router_port();
    auto unknown_placement = deployment.config("bad-1");
    unknown_placement["routingTable"]["acme"] = "tier9";
    auto bad_url = deployment.config("bad-2");
    bad_url["cellEndpoints"]["tier1"] = "ftp://nowhere";
    auto empty_version = deployment.config("");
    const std::vector<std::pair<std::string, std::string>> cases{
        {"{\"version\": \"x\", ", "syntax error"},
        {unknown_placement.dump(), "/routingTable/acme: unknown placement \"tier9\""},
        {bad_url.dump(), "/cellEndpoints/tier1"},
        {empty_version.dump(), "/version"},
        {R"({"version":"d","routingTable":{"a":"tier1","a":"tier2"},"cellEndpoints":{"tier1":"http://127.0.0.1:1","tier2":"http://127.0.0.1:2"},"defaultPlacement":"tier1"})",
         "duplicate key"},
        {R"({"version":1,"routingTable":{},"cellEndpoints":{"t":"http://127.0.0.1:1"},"defaultPlacement":"t"})",
         "/version"},
    };
    int rejected = 0;
    for (const auto& [text, reason] : cases) {
        write_file_atomically(deployment.config_path(), text);
        ++rejected;
        ASSERT_TRUE(eventually([&] { return debug_config(port)["reloads"]["rejected"] == rejected; })) << text;
        const auto status = debug_config(port);
        EXPECT_EQ(status["version"], "1.0.0");
        const std::string last_reason = status["last_rejected"]["reason"];
        EXPECT_NE(last_reason.find(reason), std::string::npos) << last_reason;
        EXPECT_EQ(routed_to(port, "acme"), "tier1");
    }
    const auto logged = deployment.router().wait_for_line([](const Json& line) {
        return line.value("event", "") == "config_rejected" &&
               line.value("reason", "").find("unknown placement") != std::string::npos;
    });
    EXPECT_TRUE(logged.has_value());
}

// A half-written file (written in place, in two steps) is rejected, then the complete file
// is applied.
TEST(HotReload, HalfWrittenFileThenComplete) {
    Deployment deployment;
    const auto port = deployment.router_port();
    const std::string full = deployment.config("3.0.0").dump(2);
    write_file(deployment.config_path(), full.substr(0, full.size() / 2));
    ASSERT_TRUE(eventually([&] { return debug_config(port)["reloads"]["rejected"] == 1; }));
    EXPECT_EQ(debug_config(port)["version"], "1.0.0");
    write_file(deployment.config_path(), full);
    EXPECT_TRUE(eventually([&] { return serves_version(port, "3.0.0"); }));
}

// SIGHUP reloads at once, without waiting for the interval. The new config is written by a
// writer that keeps the file open: no IN_CLOSE_WRITE yet, so inotify has nothing to report and
// only the signal (or the hour-long interval) can bring it in.
TEST(HotReload, SighupReloadsImmediately) {
    Deployment deployment(Deployment::Options{.router_flags = {"--reload-interval", "3600"}});
    const std::string text = deployment.config("4.0.0").dump();
    const int writer = ::open(deployment.config_path().c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(writer, 0);
    ASSERT_EQ(::write(writer, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(debug_config(deployment.router_port())["version"], "1.0.0");  // the interval is an hour
    deployment.router().send_signal(SIGHUP);
    EXPECT_TRUE(eventually([&] { return serves_version(deployment.router_port(), "4.0.0"); }, 5s));
    ::close(writer);
    EXPECT_TRUE(deployment.router().running());
}

// With a reload interval of a minute, a saved file is served within milliseconds: inotify wakes
// the poller. Each way of saving is timed from the save to the first answer from the new table
// (printed, not asserted: the bound is the 60 s interval the change did not wait for).
TEST(HotReload, SavedChangeIsServedWithoutWaitingForTheInterval) {
    Deployment deployment(Deployment::Options{.router_flags = {"--reload-interval", "60s"}});
    const auto port = deployment.router_port();
    ASSERT_EQ(debug_config(port)["reloads"]["watch_mode"], "inotify") << debug_config(port).dump();

    const auto save_and_time = [&](const std::string& how, const std::string& version, const std::string& acme_to,
                                   const std::function<void(const std::string&)>& save) {
        auto config = deployment.config(version);
        config["routingTable"]["acme"] = acme_to;
        const auto saved_at = std::chrono::steady_clock::now();
        save(config.dump(2));
        const auto deadline = saved_at + 5s;
        bool served = false;
        while (!(served = routed_to(port, "acme") == acme_to) && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(1ms);
        }
        ASSERT_TRUE(served) << how << ": acme still routed to " << routed_to(port, "acme");
        std::printf("[ measure  ] %s -> served by the router: %.1f ms (reload interval 60 s)\n", how.c_str(),
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - saved_at).count());
        EXPECT_EQ(debug_config(port)["version"], version);
    };
    save_and_time("write in place", "2.0.0", "visa", [&](const std::string& text) { write_file(deployment.config_path(), text); });
    save_and_time("rename into place", "3.0.0", "tier2",
                  [&](const std::string& text) { write_file_atomically(deployment.config_path(), text); });
    save_and_time("delete and recreate", "4.0.0", "tier3", [&](const std::string& text) {
        std::filesystem::remove(deployment.config_path());
        write_file(deployment.config_path(), text);
    });
    const auto status = debug_config(port);
    EXPECT_EQ(status["reloads"]["applied"], 3);
    EXPECT_EQ(status["reloads"]["rejected"], 0);
    EXPECT_EQ(status["reloads"]["watch_mode"], "inotify");
}

// Requests keep flowing during 50 swaps between two tables: zero errors, and every answer comes
// wholly from one table. Table B swaps both the keys' placements and the placements' endpoints,
// so each key reaches the same cell under either table but under a different placement name; a
// request served by A's key map with B's endpoints (or the reverse) reaches the other cell.
TEST(HotReload, ContinuousTrafficAcrossFiftyReloads) {
    Deployment deployment(Deployment::Options{.router_flags = {"--reload-interval", "50ms"}});
    const auto port = deployment.router_port();
    const auto table_a = deployment.config("A");
    auto table_b = deployment.config("B");
    table_b["routingTable"]["acme"] = "tier2";
    table_b["routingTable"]["globex"] = "tier1";
    table_b["cellEndpoints"]["tier1"] = table_a["cellEndpoints"]["tier2"];
    table_b["cellEndpoints"]["tier2"] = table_a["cellEndpoints"]["tier1"];
    // key -> the cell that must answer it, and the placement each table names for it.
    struct Expected {
        std::string key, cell, placement_a, placement_b;
    };
    const std::vector<Expected> expected{{"acme", "tier1", "tier1", "tier2"}, {"globex", "tier2", "tier2", "tier1"}};

    std::atomic<bool> stop{false};
    std::atomic<long> ok{0};
    std::atomic<long> errors{0};
    std::atomic<long> mismatches{0};
    std::atomic<long> served_by_a{0};
    std::atomic<long> served_by_b{0};
    std::mutex first_mismatch_mutex;
    std::string first_mismatch;
    std::vector<std::thread> clients;
    for (int c = 0; c < 4; ++c) {
        clients.emplace_back([&] {
            while (!stop) {
                try {
                    Connection connection(port);
                    for (int i = 0; i < 50 && !stop; ++i) {
                        const auto& want = expected[static_cast<std::size_t>(i % 2)];
                        connection.send(make_request("GET", "/", {{"X-Routing-Key", want.key}}));
                        const auto response = connection.read_response();
                        if (response.status != 200) {
                            ++errors;
                            continue;
                        }
                        const auto placement = response.header("X-Routed-To");
                        const std::string cell = response.json().value("cell", "");
                        if (cell == want.cell && placement == want.placement_a) {
                            ++served_by_a;
                            ++ok;
                        } else if (cell == want.cell && placement == want.placement_b) {
                            ++served_by_b;
                            ++ok;
                        } else {
                            ++mismatches;
                            const std::lock_guard lock(first_mismatch_mutex);
                            if (first_mismatch.empty()) {
                                first_mismatch = want.key + " -> placement " + placement + ", cell " + cell;
                            }
                        }
                    }
                } catch (const std::exception&) {
                    ++errors;
                }
            }
        });
    }
    for (int reload = 1; reload <= 50; ++reload) {
        const auto& next = reload % 2 ? table_b : table_a;
        deployment.write_config(next);
        ASSERT_TRUE(eventually([&] { return debug_config(port)["reloads"]["applied"] == reload; }, 5s))
            << "reload " << reload;
    }
    stop = true;
    for (auto& client : clients) {
        client.join();
    }
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(mismatches.load(), 0) << "first: " << first_mismatch;
    EXPECT_GT(ok.load(), 100);
    // Both tables really served traffic, so the swaps happened under load.
    EXPECT_GT(served_by_a.load(), 0);
    EXPECT_GT(served_by_b.load(), 0);
    EXPECT_EQ(debug_config(port)["version"], "A");
}

}  // namespace
}  // namespace cell::testing
