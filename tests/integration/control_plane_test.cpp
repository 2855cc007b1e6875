// cell-control-plane as a real process, with WebSocket test clients playing routers: snapshot on
// connect, propagation of file changes, invalid files, /status accounting, bad frames, slow and
// stuck routers, keepalive, periodic resend, SIGHUP and shutdown.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <thread>

#include "harness.hpp"
#include "raw_websocket.hpp"
#include "ws_client.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;

// A config the control plane accepts; the endpoints are never contacted.
Json routing_config(const std::string& version) {
    return Json{{"version", version},
                {"routingTable", {{"acme", "tier1"}, {"globex", "tier2"}, {"visa", "visa"}}},
                {"cellEndpoints",
                 {{"tier1", "http://127.0.0.1:9001"}, {"tier2", "http://127.0.0.1:9002"}, {"visa", "http://127.0.0.1:9004"}}},
                {"defaultPlacement", "tier2"}};
}

// A config of several MB: a router that stops reading cannot absorb one snapshot of it in its
// socket buffers, so the control plane's write to it stays pending.
Json huge_config(const std::string& version) {
    Json config = routing_config(version);
    const std::string padding(180, 'k');
    for (int i = 0; i < 36000; ++i) {
        config["routingTable"][padding + std::to_string(i)] = "tier1";
    }
    return config;
}

// cell-control-plane on an ephemeral loopback port, watching a file in its own directory.
class ControlPlane {
public:
    explicit ControlPlane(const std::vector<std::string>& flags = {}, const Json& config = routing_config("1.0.0")) {
        write_config(config);
        std::vector<std::string> argv{CELL_CONTROL_PLANE_BINARY, "--config", config_path().string(), "--port", "0",
                                      "--listen", "127.0.0.1", "--poll-interval", "100ms"};
        argv.insert(argv.end(), flags.begin(), flags.end());
        process_ = std::make_unique<Process>(argv, dir_.path(), "control-plane");
        port_ = control_plane_port_of(*process_);
    }
    ~ControlPlane() {
        // A crash during the test must fail it, not pass unnoticed.
        EXPECT_TRUE(process_->stop_requested() || process_->running()) << "control plane died: " << process_->stderr_text();
    }

    unsigned short port() const { return port_; }
    Process& process() { return *process_; }
    std::filesystem::path config_path() const { return dir_.file("routing.json"); }
    void write_config(const Json& config) const { write_file_atomically(config_path(), config.dump()); }
    Json status() const { return request(port_, "GET", "/status").json(); }

    // The /status entry of the router connected from `address`, or null.
    Json router(const std::string& address) const {
        const Json current = status();  // named: a temporary in the range expression would dangle
        for (const auto& entry : current["routers"]) {
            if (entry["address"] == address) {
                return entry;
            }
        }
        return nullptr;
    }

    std::size_t count_lines(const std::function<bool(const Json&)>& match) const {
        const auto lines = process_->json_lines();
        return static_cast<std::size_t>(std::count_if(lines.begin(), lines.end(), match));
    }

    std::optional<Json> wait_for_event(const std::string& event, const std::function<bool(const Json&)>& match = {},
                                       std::chrono::milliseconds timeout = 15s) {
        return process_->wait_for_line(
            [&](const Json& line) { return line.value("event", "") == event && (!match || match(line)); }, timeout);
    }

private:
    TempDir dir_;
    std::unique_ptr<Process> process_;
    unsigned short port_ = 0;
};

std::function<bool(const Json&)> from(const WsClient& client) {
    const std::string address = client.local_address();
    return [address](const Json& line) { return line.value("address", "") == address; };
}

long long elapsed_ms(Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

// A router that connects receives the current config at once: the file plus "type".
TEST(ControlPlane, SnapshotOnConnect) {
    ControlPlane cp;
    WsClient client(cp.port());
    const auto snapshot = client.wait_for_version("1.0.0");
    ASSERT_TRUE(snapshot.has_value());
    Json expected = routing_config("1.0.0");
    expected["type"] = "config_snapshot";
    EXPECT_EQ(*snapshot, expected);
    EXPECT_TRUE(cp.wait_for_event("router_connected", from(client)).has_value());
    ASSERT_TRUE(eventually([&] { return cp.router(client.local_address())["last_version_sent"] == "1.0.0"; }))
        << client.local_address() << " " << cp.status().dump();
    const auto status = cp.status();
    EXPECT_EQ(status["current_version"], "1.0.0");
    EXPECT_EQ(status["current_hash"], sha256_hex(client.last_frame()));
    EXPECT_EQ(status["routers_connected"], 1);
}

// Every valid change reaches every connected router, once, and is logged as a broadcast.
TEST(ControlPlane, ChangeReachesEveryRouter) {
    ControlPlane cp;
    std::vector<std::unique_ptr<WsClient>> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(std::make_unique<WsClient>(cp.port()));
        ASSERT_TRUE(clients.back()->wait_for_version("1.0.0").has_value());
    }
    for (const std::string version : {"2.0.0", "3.0.0"}) {
        const auto written = Clock::now();
        cp.write_config(routing_config(version));
        for (auto& client : clients) {
            ASSERT_TRUE(client->wait_for_version(version).has_value()) << version;
        }
        std::printf("[ propagation ] %s reached 3 routers %lld ms after the file was written (poll 100ms)\n",
                    version.c_str(), elapsed_ms(written));
        const auto broadcast = cp.wait_for_event("snapshot_broadcast",
                                                 [&](const Json& l) { return l.value("version", "") == version; });
        ASSERT_TRUE(broadcast.has_value());
        EXPECT_EQ((*broadcast)["recipients"], 3);
        EXPECT_EQ((*broadcast)["reason"], "config_change");
    }
    for (auto& client : clients) {
        EXPECT_EQ(client->received_count(), 3u);
    }
}

// An invalid file is logged and never sent; /status keeps the last valid version, and the next
// valid file is the next thing routers receive.
TEST(ControlPlane, InvalidFileIsNeverBroadcast) {
    ControlPlane cp;
    WsClient client(cp.port());
    ASSERT_TRUE(client.wait_for_version("1.0.0").has_value());
    auto unknown_placement = routing_config("bad-2");
    unknown_placement["routingTable"]["acme"] = "tier9";
    write_file_atomically(cp.config_path(), "{\"version\": \"bad-1\", ");
    ASSERT_TRUE(cp.wait_for_event("config_rejected").has_value());
    cp.write_config(unknown_placement);
    ASSERT_TRUE(cp.wait_for_event("config_rejected", [](const Json& l) {
                      return l.value("reason", "").find("tier9") != std::string::npos;
                  }).has_value());
    EXPECT_FALSE(client.next_message(500ms).has_value());
    EXPECT_EQ(cp.status()["current_version"], "1.0.0");
    EXPECT_EQ(cp.count_lines([](const Json& l) { return l.value("event", "") == "snapshot_broadcast"; }), 0u);

    cp.write_config(routing_config("3.0.0"));
    const auto next = client.next_message();
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(Json::parse(*next)["version"], "3.0.0");
    EXPECT_EQ(cp.status()["current_version"], "3.0.0");
}

// A missing or invalid file at startup: exit 1 with the reason on stderr. Bad flags: exit 2.
TEST(ControlPlane, StartupFailures) {
    TempDir dir;
    Process missing({CELL_CONTROL_PLANE_BINARY, "--config", dir.file("nope.json").string(), "--port", "0"}, dir.path(),
                    "missing");
    missing.expect_exit_code(1);
    EXPECT_EQ(missing.wait_exit(10s), 1);
    EXPECT_NE(missing.stderr_text().find("cannot open"), std::string::npos) << missing.stderr_text();

    auto bad = routing_config("1");
    bad["defaultPlacement"] = "nowhere";
    write_file(dir.file("bad.json"), bad.dump());
    Process invalid({CELL_CONTROL_PLANE_BINARY, "--config", dir.file("bad.json").string(), "--port", "0"}, dir.path(),
                    "invalid");
    invalid.expect_exit_code(1);
    EXPECT_EQ(invalid.wait_exit(10s), 1);
    EXPECT_NE(invalid.stderr_text().find("/defaultPlacement"), std::string::npos) << invalid.stderr_text();

    Process bad_flag({CELL_CONTROL_PLANE_BINARY, "--send-timeout", "soon"}, dir.path(), "bad-flag");
    bad_flag.expect_exit_code(2);
    EXPECT_EQ(bad_flag.wait_exit(10s), 2);
    EXPECT_NE(bad_flag.stderr_text().find("--send-timeout"), std::string::npos);

    Process help({CELL_CONTROL_PLANE_BINARY, "--help"}, dir.path(), "help");
    EXPECT_EQ(help.wait_exit(10s), 0);
    EXPECT_NE(help.stdout_text().find("--keepalive-timeout"), std::string::npos);
}

// /health, /status and the HTTP answers around /connect share the one port.
TEST(ControlPlane, HttpEndpoints) {
    ControlPlane cp;
    const auto health = request(cp.port(), "GET", "/health");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.json()["status"], "ok");
    EXPECT_EQ(request(cp.port(), "GET", "/status").status, 200);
    EXPECT_EQ(request(cp.port(), "GET", "/connect").status, 426);
    EXPECT_EQ(request(cp.port(), "GET", "/other").status, 404);
    EXPECT_EQ(request(cp.port(), "POST", "/status", {}, "x").status, 405);
}

// A config large enough to be read straight into its string arrives whole: after a 100 Continue
// when the client asks for one, with the next request on the same connection answered too, and
// a body cut short only closes its own connection.
TEST(ControlPlane, LargeBodiesArriveWholeAndTheConnectionStaysUsable) {
    ControlPlane cp;
    Json candidate = huge_config("2.0.0");  // several MB
    candidate["routingTable"]["acme"] = "tier2";
    const std::string body = candidate.dump();
    ASSERT_GT(body.size(), 1u << 20);

    Connection connection(cp.port());
    connection.send(make_request("POST", "/config/diff",
                                 {{"Expect", "100-continue"}, {"Content-Length", std::to_string(body.size())}}, "", false));
    EXPECT_EQ(read_until(connection, "\r\n\r\n").substr(0, 25), "HTTP/1.1 100 Continue\r\n\r\n");
    // The body's last bytes and the next request go in one write.
    connection.send(body.substr(0, body.size() - 10));
    connection.send(body.substr(body.size() - 10) + make_request("GET", "/health"));
    const auto diff = connection.read_response();
    ASSERT_EQ(diff.status, 200) << diff.body.substr(0, 300);
    EXPECT_EQ(diff.json()["diff"]["keys_moved"], 1) << diff.body.substr(0, 300);
    EXPECT_EQ(diff.json()["diff"]["keys_total_after"], candidate["routingTable"].size());
    const auto health = connection.read_response();
    EXPECT_EQ(health.status, 200);

    Connection cut(cp.port());
    cut.send(make_request("POST", "/config/diff", {}, body).substr(0, body.size() / 2));
    cut.shutdown_send();
    EXPECT_TRUE(cut.closed_by_peer(10s));
    EXPECT_EQ(request(cp.port(), "GET", "/health").status, 200);
}

// /status tells routers with and without hello apart, counts acks of the current snapshot
// (by hash when the ack has one, by version otherwise), and shows nacks with their error.
TEST(ControlPlane, StatusShowsHelloAcksAndNacks) {
    ControlPlane cp;
    WsClient ours(cp.port());
    WsClient seed(cp.port());
    WsClient failing(cp.port());
    ASSERT_TRUE(ours.send_json({{"type", "hello"}, {"node_id", "router-a"}, {"version", "0.0.1"}}));
    for (auto* client : {&ours, &seed, &failing}) {
        ASSERT_TRUE(client->wait_for_version("1.0.0").has_value());
    }
    ASSERT_TRUE(ours.ack_last(true));
    ASSERT_TRUE(seed.ack_last(false));
    ASSERT_TRUE(failing.send_json({{"type", "nack"}, {"version", "1.0.0"}, {"error", "/cellEndpoints/tier1: refused"},
                                   {"node_id", "router-c"}}));
    ASSERT_TRUE(eventually([&] { return cp.status()["acked_current"] == 2; }));

    const auto a = cp.router(ours.local_address());
    EXPECT_EQ(a["id"], "router-a");
    EXPECT_EQ(a["hello"], true);
    EXPECT_EQ(a["last_version_acked"], "1.0.0");
    EXPECT_TRUE(a["last_ack_at"].is_string());
    EXPECT_TRUE(a["last_nack"].is_null());
    const auto b = cp.router(seed.local_address());
    EXPECT_EQ(b["id"], seed.local_address());
    EXPECT_EQ(b["hello"], false);
    EXPECT_EQ(b["acked_current"], true);
    const auto c = cp.router(failing.local_address());
    EXPECT_EQ(c["id"], "router-c");
    EXPECT_EQ(c["hello"], false);
    EXPECT_TRUE(c["last_version_acked"].is_null());
    EXPECT_EQ(c["last_nack"]["version"], "1.0.0");
    EXPECT_EQ(c["last_nack"]["error"], "/cellEndpoints/tier1: refused");
    EXPECT_TRUE(cp.wait_for_event("router_nack", from(failing)).has_value());

    // A new version: nobody has acked it yet; an ack with a wrong hash does not count.
    cp.write_config(routing_config("2.0.0"));
    ASSERT_TRUE(ours.wait_for_version("2.0.0").has_value());
    ASSERT_TRUE(seed.wait_for_version("2.0.0").has_value());
    EXPECT_EQ(cp.status()["acked_current"], 0);
    ASSERT_TRUE(ours.send_json({{"type", "ack"}, {"version", "2.0.0"}, {"content_hash", "not-the-hash"}}));
    ASSERT_TRUE(seed.ack_last(false));
    ASSERT_TRUE(eventually([&] { return cp.router(seed.local_address())["last_version_acked"] == "2.0.0"; }));
    ASSERT_TRUE(eventually([&] { return cp.router(ours.local_address())["last_version_acked"] == "2.0.0"; }));
    EXPECT_EQ(cp.status()["acked_current"], 1);
    EXPECT_EQ(cp.router(ours.local_address())["acked_current"], false);
}

// Unknown types and malformed frames are logged and ignored; the connection keeps working.
TEST(ControlPlane, BadFramesDoNotBreakTheConnection) {
    ControlPlane cp;
    WsClient client(cp.port());
    ASSERT_TRUE(client.wait_for_version("1.0.0").has_value());
    ASSERT_TRUE(client.send_text("not json at all"));
    ASSERT_TRUE(client.send_text("[1,2,3]"));
    ASSERT_TRUE(client.send_text(R"({"type":"ack","version":5})"));
    ASSERT_TRUE(client.send_text(R"({"version":"1.0.0"})"));
    ASSERT_TRUE(client.send_binary(R"({"type":"ack","version":"1.0.0"})"));
    ASSERT_TRUE(client.send_text(R"({"type":"metrics","rps":10})"));
    ASSERT_TRUE(client.send_text(R"({"type":"config_snapshot","version":"9"})"));
    ASSERT_TRUE(client.ack_last(true));

    ASSERT_TRUE(eventually([&] { return cp.router(client.local_address())["last_version_acked"] == "1.0.0"; }));
    const auto malformed = [&](const Json& l) { return l.value("event", "") == "router_message_malformed"; };
    ASSERT_TRUE(eventually([&] { return cp.count_lines(malformed) == 5; }));
    EXPECT_TRUE(cp.wait_for_event("router_message_malformed", [](const Json& l) {
                      return l.value("reason", "") == "binary frame";
                  }).has_value());
    EXPECT_TRUE(cp.wait_for_event("router_message_ignored", [](const Json& l) {
                      return l.value("type", "") == "metrics";
                  }).has_value());
    EXPECT_FALSE(client.closed());
    cp.write_config(routing_config("2.0.0"));
    EXPECT_TRUE(client.wait_for_version("2.0.0").has_value());
}

// A WebSocket-level violation (a text frame that is not UTF-8) closes that connection only.
TEST(ControlPlane, ProtocolViolationClosesOnlyThatRouter) {
    ControlPlane cp;
    WsClient bad(cp.port());
    WsClient good(cp.port());
    ASSERT_TRUE(bad.wait_for_version("1.0.0").has_value());
    ASSERT_TRUE(good.wait_for_version("1.0.0").has_value());
    ASSERT_TRUE(bad.send_text("{\"type\":\"ack\",\"version\":\"\xff\xfe\"}"));
    EXPECT_TRUE(bad.wait_closed(10s));
    EXPECT_TRUE(cp.wait_for_event("router_disconnected", [&](const Json& l) {
                      return from(bad)(l) && l.value("reason", "") == "protocol_violation";
                  }).has_value());
    cp.write_config(routing_config("2.0.0"));
    EXPECT_TRUE(good.wait_for_version("2.0.0").has_value());
    EXPECT_EQ(cp.status()["routers_connected"], 1);
}

// A router that stops reading does not hold up the others: they get every change promptly
// while its own write stays pending (its send slot keeps only the newest snapshot).
TEST(ControlPlane, StuckRouterDoesNotDelayOthers) {
    ControlPlane cp({"--send-timeout", "60s", "--keepalive-timeout", "60s"}, huge_config("1.0.0"));
    WsClient::Options stuck_options;
    stuck_options.receive_buffer_bytes = 4096;
    stuck_options.start_reading = false;
    WsClient stuck(cp.port(), stuck_options);
    std::vector<std::unique_ptr<WsClient>> others;
    for (int i = 0; i < 3; ++i) {
        others.push_back(std::make_unique<WsClient>(cp.port()));
        ASSERT_TRUE(others.back()->wait_for_version("1.0.0", 30s).has_value());
    }
    for (const std::string version : {"2.0.0", "3.0.0", "4.0.0"}) {
        const auto written = Clock::now();
        cp.write_config(huge_config(version));
        for (auto& client : others) {
            ASSERT_TRUE(client->wait_for_version(version, 30s).has_value()) << version;
        }
        std::printf("[ propagation ] %s (%zu-byte snapshot) reached 3 routers in %lld ms beside a stuck one\n",
                    version.c_str(), others[0]->last_frame().size(), elapsed_ms(written));
    }
    // Its frames are still read while the write to it is pending.
    ASSERT_TRUE(stuck.send_json({{"type", "hello"}, {"node_id", "stuck-router"}, {"version", "0.0.1"}}));
    ASSERT_TRUE(eventually([&] { return cp.router(stuck.local_address())["id"] == "stuck-router"; }));
    // The stuck router is still connected, has not completed a single send, and its waiting
    // snapshot was replaced rather than queued behind.
    const auto entry = cp.router(stuck.local_address());
    ASSERT_FALSE(entry.is_null());
    EXPECT_EQ(entry["hello"], true);
    EXPECT_TRUE(entry["last_version_sent"].is_null()) << entry.dump();
    EXPECT_TRUE(cp.wait_for_event("snapshot_superseded", [&](const Json& l) {
                      return from(stuck)(l) && l.value("version", "") == "4.0.0";
                  }).has_value());
}

// A router whose socket does not take a snapshot within --send-timeout is disconnected.
TEST(ControlPlane, StuckRouterIsDisconnectedAfterSendTimeout) {
    ControlPlane cp({"--send-timeout", "500ms", "--keepalive-timeout", "60s"}, huge_config("1.0.0"));
    WsClient::Options stuck_options;
    stuck_options.receive_buffer_bytes = 4096;
    stuck_options.start_reading = false;
    WsClient stuck(cp.port(), stuck_options);
    WsClient healthy(cp.port());
    ASSERT_TRUE(healthy.wait_for_version("1.0.0", 30s).has_value());
    const auto dropped = cp.wait_for_event("router_disconnected", from(stuck));
    ASSERT_TRUE(dropped.has_value());
    EXPECT_EQ((*dropped)["reason"], "send_timeout");
    EXPECT_TRUE(eventually([&] { return cp.status()["routers_connected"] == 1; }));
    EXPECT_FALSE(healthy.closed());
}

// The send timeout is about progress, not the whole snapshot: a router that takes a big
// snapshot slowly but steadily, for longer than the timeout in all, gets it whole and stays
// connected (a deadline on the whole write cut it off, and every reconnect again).
TEST(ControlPlane, SlowButSteadyRouterGetsABigSnapshot) {
    const Json config = huge_config("1.0.0");
    ControlPlane cp({"--send-timeout", "1s", "--keepalive-timeout", "60s", "--ws-compression", "off"}, config);
    RawWebSocket slow(cp.port(), 4096);
    ASSERT_EQ(slow.handshake(), 101);
    const auto started = Clock::now();
    std::string text;
    for (;;) {
        const auto frame = slow.read_frame(10s);
        ASSERT_TRUE(frame.has_value()) << "the snapshot stopped after " << text.size() << " bytes";
        text += frame->payload;
        if (frame->fin) {
            break;
        }
        // The slowness under test: about 3 MB/s, so a 1 MiB piece takes a third of the timeout.
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_GT(elapsed_ms(started), 1500) << "not slower than the send timeout in all: the test proves nothing";
    Json expected = config;
    expected["type"] = "config_snapshot";
    EXPECT_EQ(Json::parse(text), expected);
    EXPECT_EQ(cp.count_lines([](const Json& l) { return l.value("event", "") == "router_disconnected"; }), 0u)
        << cp.process().stdout_text();
    EXPECT_EQ(cp.status()["routers_connected"], 1);
}

// A slow router gets the snapshot being written when it stalled and then only the newest one:
// the versions in between are dropped, never delivered as a backlog.
TEST(ControlPlane, SlowRouterGetsOnlyTheNewest) {
    ControlPlane cp({"--send-timeout", "60s", "--keepalive-timeout", "60s"}, huge_config("1.0.0"));
    WsClient::Options slow_options;
    slow_options.receive_buffer_bytes = 4096;
    slow_options.start_reading = false;
    WsClient slow(cp.port(), slow_options);
    ASSERT_TRUE(cp.wait_for_event("router_connected", from(slow)).has_value());
    for (const std::string version : {"2.0.0", "3.0.0", "4.0.0", "5.0.0"}) {
        cp.write_config(huge_config(version));
        ASSERT_TRUE(cp.wait_for_event("snapshot_broadcast", [&](const Json& l) {
                          return l.value("version", "") == version;
                      }, 30s).has_value());
    }
    slow.resume_reading();
    ASSERT_TRUE(slow.wait_for_version("5.0.0", 30s).has_value());
    EXPECT_FALSE(slow.next_message(500ms).has_value());
    std::vector<std::string> versions;
    for (const auto& frame : slow.received()) {
        versions.push_back(Json::parse(frame)["version"]);
    }
    EXPECT_EQ(versions, (std::vector<std::string>{"1.0.0", "5.0.0"}));
    EXPECT_EQ(cp.count_lines([&](const Json& l) {
                  return l.value("event", "") == "snapshot_superseded" && from(slow)(l);
              }),
              3u);
}

// Fifty routers at once all receive the change, ack it, and /status counts them all.
TEST(ControlPlane, FiftyRoutersConverge) {
    ControlPlane cp;
    std::vector<std::unique_ptr<WsClient>> clients;
    for (int i = 0; i < 50; ++i) {
        clients.push_back(std::make_unique<WsClient>(cp.port()));
    }
    for (auto& client : clients) {
        ASSERT_TRUE(client->wait_for_version("1.0.0").has_value());
    }
    ASSERT_TRUE(eventually([&] { return cp.status()["routers_connected"] == 50; }));
    const auto written = Clock::now();
    cp.write_config(routing_config("2.0.0"));
    for (auto& client : clients) {
        ASSERT_TRUE(client->wait_for_version("2.0.0").has_value());
    }
    std::printf("[ propagation ] 2.0.0 reached 50 routers %lld ms after the file was written (poll 100ms)\n",
                elapsed_ms(written));
    for (auto& client : clients) {
        ASSERT_TRUE(client->ack_last(true));
    }
    ASSERT_TRUE(eventually([&] { return cp.status()["acked_current"] == 50; }));
    EXPECT_EQ(cp.status()["current_version"], "2.0.0");
}

// Every --resend-interval the current snapshot goes to every router again.
TEST(ControlPlane, PeriodicResend) {
    ControlPlane cp({"--resend-interval", "300ms"});
    WsClient client(cp.port());
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(client.wait_for_version("1.0.0", 5s).has_value()) << "snapshot " << i;
    }
    const auto resend = cp.wait_for_event("snapshot_broadcast", [](const Json& l) { return l.value("reason", "") == "resend"; });
    ASSERT_TRUE(resend.has_value());
    EXPECT_EQ((*resend)["version"], "1.0.0");
}

// A router that answers no pings is dropped after --keepalive-timeout; one that reads (and so
// answers pings) stays connected through many ping rounds.
TEST(ControlPlane, KeepaliveDropsSilentRouter) {
    ControlPlane cp({"--keepalive-timeout", "1s"});
    WsClient::Options silent_options;
    silent_options.start_reading = false;
    WsClient silent(cp.port(), silent_options);
    WsClient alive(cp.port());
    ASSERT_TRUE(alive.wait_for_version("1.0.0").has_value());
    const auto dropped = cp.wait_for_event("router_disconnected", from(silent));
    ASSERT_TRUE(dropped.has_value());
    EXPECT_EQ((*dropped)["reason"], "keepalive_timeout");
    // Three more keepalive periods: the reading client must still be there.
    std::this_thread::sleep_for(3s);
    EXPECT_FALSE(alive.closed()) << alive.close_reason();
    EXPECT_FALSE(cp.router(alive.local_address()).is_null());
    EXPECT_EQ(cp.status()["routers_connected"], 1);
}

// SIGHUP checks the file at once, without waiting for the poll interval. The writer keeps the
// file open, so inotify (which waits for the close) has nothing to report yet.
TEST(ControlPlane, SighupReloadsAtOnce) {
    ControlPlane cp({"--poll-interval", "3600"});
    WsClient client(cp.port());
    ASSERT_TRUE(client.wait_for_version("1.0.0").has_value());
    const std::string text = routing_config("2.0.0").dump();
    const int writer = ::open(cp.config_path().c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(writer, 0);
    ASSERT_EQ(::write(writer, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    EXPECT_FALSE(client.next_message(300ms).has_value());
    cp.process().send_signal(SIGHUP);
    EXPECT_TRUE(client.wait_for_version("2.0.0", 5s).has_value());
    ::close(writer);
}

// A saved file reaches the routers at once, though the poll interval is an hour: the control
// plane watches its file with inotify too.
TEST(ControlPlane, SavedFileIsPushedWithoutWaitingForThePollInterval) {
    ControlPlane cp({"--poll-interval", "3600"});
    WsClient client(cp.port());
    ASSERT_TRUE(client.wait_for_version("1.0.0").has_value());
    ASSERT_TRUE(cp.wait_for_event("config_watch").has_value());
    const auto saved_at = Clock::now();
    cp.write_config(routing_config("2.0.0"));
    ASSERT_TRUE(client.wait_for_version("2.0.0", 5s).has_value());
    std::printf("[ measure  ] control plane: file saved -> snapshot at the router: %lld ms (poll interval 1 h)\n",
                elapsed_ms(saved_at));
}

// SIGTERM closes every router connection with "going away" and exits 0.
TEST(ControlPlane, ShutdownClosesRouters) {
    ControlPlane cp;
    WsClient client(cp.port());
    ASSERT_TRUE(client.wait_for_version("1.0.0").has_value());
    cp.process().send_signal(SIGTERM);
    EXPECT_EQ(cp.process().wait_exit(10s), 0);
    EXPECT_TRUE(client.wait_closed(5s));
    EXPECT_NE(client.close_reason().find("1001"), std::string::npos) << client.close_reason();
    const auto line = cp.wait_for_event("router_disconnected", from(client));
    ASSERT_TRUE(line.has_value());
    EXPECT_EQ((*line)["reason"], "server_shutdown");
}

// End to end with the real router: it says hello, acks with the frame's hash (so /status counts
// it by hash), and routes by each pushed config; an invalid push never reaches it.
TEST(ControlPlane, RealRouterFollowsPushes) {
    Deployment deployment(Deployment::Options{.start_router = false});
    deployment.write_config(deployment.config("0.0.1"));  // the router's bootstrap file
    ControlPlane cp({}, deployment.config("1.0.0"));
    deployment.start_router({"--control-plane", "ws://127.0.0.1:" + std::to_string(cp.port()) + "/connect",
                             "--node-id", "router-1", "--config-cache", deployment.dir().file("cache.json").string()});
    const auto routed_to = [&](const std::string& key) {
        return request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", key}}).header("X-Routed-To");
    };
    ASSERT_TRUE(eventually([&] { return cp.status()["acked_current"] == 1; })) << cp.status().dump();
    const auto entry = cp.status()["routers"][0];
    EXPECT_EQ(entry["id"], "router-1");
    EXPECT_EQ(entry["hello"], true);
    EXPECT_EQ(routed_to("acme"), "tier1");

    auto moved = deployment.config("2.0.0");
    moved["routingTable"]["acme"] = "visa";
    cp.write_config(moved);
    ASSERT_TRUE(eventually([&] { return routed_to("acme") == "visa"; }));
    ASSERT_TRUE(eventually([&] {
        const auto status = cp.status();
        return status["current_version"] == "2.0.0" && status["acked_current"] == 1;
    }));

    auto broken = deployment.config("3.0.0");
    broken["defaultPlacement"] = "nowhere";
    cp.write_config(broken);
    ASSERT_TRUE(cp.wait_for_event("config_rejected").has_value());
    EXPECT_EQ(routed_to("acme"), "visa");
    const auto status = cp.status();
    EXPECT_EQ(status["current_version"], "2.0.0");
    EXPECT_EQ(status["acked_current"], 1);
    EXPECT_TRUE(status["routers"][0]["last_nack"].is_null());
}

}  // namespace
}  // namespace cell::testing
