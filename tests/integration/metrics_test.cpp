// GET /metrics on the router's admin port and on the control plane, against the real binaries:
// exact request counts by placement, reason and code; reload counters; control-plane counters;
// and promtool's verdict on both expositions.

#include <gtest/gtest.h>

#include <functional>

#include "fake_control_plane.hpp"
#include "harness.hpp"
#include "metrics_support.hpp"
#include "ws_client.hpp"

namespace cell::testing {
namespace {

std::string requests_series(const std::string& placement, const std::string& reason, const std::string& code) {
    return "cellrouter_requests_total{placement=\"" + placement + "\",reason=\"" + reason + "\",code=\"" + code + "\"}";
}

// The admin listener is off unless given a port.
std::vector<std::string> admin_flags() { return {"--admin-port", std::to_string(free_port())}; }

// Requests are counted just after their response is sent: scrape until `done` holds (or the
// deadline passes), and return the last body.
std::string scrape_until(unsigned short port, const std::function<bool(const std::string&)>& done) {
    std::string body;
    eventually([&] {
        body = scrape_metrics(port);
        return done(body);
    });
    return body;
}

double total_requests(const std::string& body) {
    double total = 0;
    for (const auto& [series, value] : parse_exposition(body)) {
        if (series.starts_with("cellrouter_requests_total{")) {
            total += value;
        }
    }
    return total;
}

// promtool's lint of a scraped body: exit 0, nothing to say.
void expect_promtool_accepts(const std::string& body, const TempDir& dir, const std::string& name) {
    const std::string promtool = find_prometheus_tool("promtool");
    ASSERT_FALSE(promtool.empty()) << "promtool " << prometheus_missing;
    const auto path = dir.file(name + ".prom");
    write_file(path, body);
    const ToolRun run = run_tool({promtool, "check", "metrics"}, path);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(run.output, "") << "promtool has remarks on the " << name << " exposition";
}

// After requests of known outcomes, /metrics counts each under its placement, reason and code.
TEST(MetricsTest, RouterCountsRequestsByOutcome) {
    Deployment deployment(Deployment::Options{.router_flags = admin_flags()});
    const unsigned short admin = admin_port_of(deployment.router());
    deployment.stop_cell("visa");  // visa's requests now fail to connect
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "acme"}}).status, 200);
    }
    for (int i = 0; i < 2; ++i) {
        ASSERT_EQ(request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "visa"}}).status, 502);
    }
    ASSERT_EQ(request(deployment.router_port(), "GET", "/").status, 400);
    ASSERT_EQ(request(deployment.router_port(), "POST", "/", {{"X-Routing-Key", "unknown-tenant"}}, "12345").status, 200);

    const std::string body = scrape_until(admin, [](const std::string& b) { return total_requests(b) >= 7; });
    EXPECT_EQ(metric_value(body, requests_series("tier1", "tier", "2xx")), 3.0) << body;
    EXPECT_EQ(metric_value(body, requests_series("visa", "connect_failed", "5xx")), 2.0);
    EXPECT_EQ(metric_value(body, requests_series("none", "missing_key", "4xx")), 1.0);
    EXPECT_EQ(metric_value(body, requests_series("tier3", "default", "2xx")), 1.0);
    EXPECT_EQ(metric_value(body, "cellrouter_request_body_bytes_total{placement=\"tier3\"}"), 5.0);
    EXPECT_GT(*metric_value(body, "cellrouter_response_body_bytes_total{placement=\"tier1\"}"), 0.0);
    // Every request is in its placement's histograms, once.
    EXPECT_EQ(metric_value(body, "cellrouter_request_duration_seconds_count{placement=\"tier1\"}"), 3.0);
    EXPECT_EQ(metric_value(body, "cellrouter_request_duration_seconds_bucket{placement=\"tier1\",le=\"+Inf\"}"), 3.0);
    EXPECT_EQ(metric_value(body, "cellrouter_router_duration_seconds_count{placement=\"visa\"}"), 2.0);
    EXPECT_EQ(metric_value(body, "cellrouter_request_duration_seconds_count{placement=\"none\"}"), 1.0);
    // Nothing counted twice or elsewhere: 7 requests in all.
    EXPECT_EQ(total_requests(body), 7.0);
    EXPECT_EQ(metric_value(body, "cellrouter_config_info{version=\"1.0.0\",source=\"file\"}"), 1.0);
    EXPECT_EQ(metric_value(body, "cellrouter_max_connections"), 100000.0);
    EXPECT_GE(*metric_value(body, "cellrouter_open_connections"), 0.0);
    EXPECT_GT(*metric_value(body, "process_resident_memory_bytes"), 0.0);
    EXPECT_GT(*metric_value(body, "process_open_fds"), 0.0);
    expect_promtool_accepts(body, deployment.dir(), "router");
}

// Placement state: breaker and health gauges only where configured, limits where set; a
// failover counts on the routed placement.
TEST(MetricsTest, RouterShowsPlacementStateAndFailovers) {
    Deployment deployment(Deployment::Options{.start_router = false});
    const Json policies = {{"visa",
                            {{"type", "dedicated"},
                             {"fallback", "tier3"},
                             {"concurrency_limit", 7},
                             {"circuit_breaker", {{"failure_threshold", 2}, {"timeout", "30s"}}}}}};
    deployment.write_config(with_placements(deployment.config(), policies));
    deployment.start_router(admin_flags());
    const unsigned short admin = admin_port_of(deployment.router());
    deployment.stop_cell("visa");
    // Two connect failures open visa's breaker; the third request fails over to tier3.
    for (int i = 0; i < 2; ++i) {
        ASSERT_EQ(request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "visa"}}).status, 502);
    }
    const std::string open = "cellrouter_circuit_breaker_state{placement=\"visa\",state=\"open\"}";
    scrape_until(admin, [&](const std::string& b) { return metric_value(b, open) == 1.0; });
    const Response failed_over = request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "visa"}});
    ASSERT_EQ(failed_over.status, 200);
    ASSERT_EQ(failed_over.header("X-Failover-Reason"), "circuit_open");

    const std::string body = scrape_until(admin, [](const std::string& b) { return total_requests(b) >= 3; });
    EXPECT_EQ(metric_value(body, open), 1.0) << body;
    EXPECT_EQ(metric_value(body, "cellrouter_circuit_breaker_state{placement=\"visa\",state=\"closed\"}"), 0.0);
    EXPECT_FALSE(metric_value(body, "cellrouter_circuit_breaker_state{placement=\"tier1\",state=\"closed\"}"));
    EXPECT_EQ(metric_value(body, "cellrouter_concurrency_limit{placement=\"visa\"}"), 7.0);
    EXPECT_FALSE(metric_value(body, "cellrouter_concurrency_limit{placement=\"tier1\"}"));
    EXPECT_EQ(metric_value(body, "cellrouter_failovers_total{placement=\"visa\",reason=\"circuit_open\"}"), 1.0);
    EXPECT_EQ(metric_value(body, requests_series("tier3", "failover_circuit_open", "2xx")), 1.0);
    EXPECT_EQ(metric_value(body, "cellrouter_in_flight_requests{placement=\"visa\"}"), 0.0);
    expect_promtool_accepts(body, deployment.dir(), "router-placements");
}

// A file reload and a rejected file each move their counter, and config_info follows.
TEST(MetricsTest, ReloadCountersMove) {
    Deployment deployment(Deployment::Options{.router_flags = admin_flags()});
    const unsigned short admin = admin_port_of(deployment.router());
    const std::string applied = "cellrouter_config_reloads_total{source=\"file\",result=\"applied\"}";
    const std::string rejected = "cellrouter_config_reloads_total{source=\"file\",result=\"rejected\"}";
    EXPECT_EQ(metric_value(scrape_metrics(admin), applied), 0.0);
    deployment.write_config(deployment.config("2.0.0"));
    ASSERT_TRUE(eventually([&] { return metric_value(scrape_metrics(admin), applied) == 1.0; }));
    write_file_atomically(deployment.config_path(), R"({"version": "3.0.0", "routingTable": )");
    ASSERT_TRUE(eventually([&] { return metric_value(scrape_metrics(admin), rejected) == 1.0; }));
    const std::string body = scrape_metrics(admin);
    EXPECT_EQ(metric_value(body, applied), 1.0);
    EXPECT_EQ(metric_value(body, "cellrouter_config_info{version=\"2.0.0\",source=\"file\"}"), 1.0);
    EXPECT_LT(*metric_value(body, "cellrouter_config_age_seconds"), 60.0);
}

// A router on the real control plane: pushes and acks on both sides, a rejected file on the
// control plane's, and a nack from a router counted there.
TEST(MetricsTest, ControlPlaneCountersMove) {
    Deployment deployment(Deployment::Options{.start_router = false});
    deployment.write_config(deployment.config("0.0.1"));
    const auto cp_config = deployment.dir().file("control-plane.json");
    write_file_atomically(cp_config, deployment.config("1.0.0").dump());
    ControlPlaneProcess cp(cp_config, deployment.dir().path());
    deployment.start_router({"--control-plane", cp.url(), "--node-id", "metrics-router", "--config-cache",
                             deployment.dir().file("cache.json").string(), "--admin-port",
                             std::to_string(free_port())});
    const unsigned short admin = admin_port_of(deployment.router());
    ASSERT_TRUE(eventually([&] {
        const std::string body = scrape_metrics(cp.port());
        return metric_value(body, "cellcp_routers_on_current_version") == 1.0;
    }));
    std::string router_body = scrape_metrics(admin);
    EXPECT_EQ(metric_value(router_body, "cellrouter_control_plane_connected"), 1.0) << router_body;
    EXPECT_EQ(metric_value(router_body, "cellrouter_control_plane_snapshots_applied_total"), 1.0);
    EXPECT_GE(*metric_value(router_body, "cellrouter_control_plane_acks_total"), 1.0);
    EXPECT_EQ(metric_value(router_body, "cellrouter_control_plane_nacks_total"), 0.0);
    EXPECT_EQ(metric_value(router_body, "cellrouter_control_plane_reconnects_total"), 0.0);
    EXPECT_EQ(metric_value(router_body, "cellrouter_config_info{version=\"1.0.0\",source=\"control_plane\"}"), 1.0);
    EXPECT_EQ(metric_value(router_body, "cellrouter_config_reloads_total{source=\"control_plane\",result=\"applied\"}"), 1.0);

    // A rejected file on the control plane: counted, nothing pushed.
    write_file_atomically(cp_config, R"({"version": "2.0.0"})");
    ASSERT_TRUE(eventually([&] { return metric_value(scrape_metrics(cp.port()), "cellcp_config_rejections_total") == 1.0; }));

    // A router that nacks.
    WsClient nacking(cp.port());
    ASSERT_TRUE(nacking.wait_for_version("1.0.0"));
    ASSERT_TRUE(nacking.send_json({{"type", "nack"}, {"version", "1.0.0"}, {"error", "test"}, {"serving_version", "0"}}));
    ASSERT_TRUE(eventually([&] { return metric_value(scrape_metrics(cp.port()), "cellcp_nacks_total") == 1.0; }));

    const std::string cp_body = scrape_metrics(cp.port());
    EXPECT_EQ(metric_value(cp_body, "cellcp_connected_routers"), 2.0) << cp_body;
    EXPECT_EQ(metric_value(cp_body, "cellcp_config_info{version=\"1.0.0\"}"), 1.0);
    EXPECT_GE(*metric_value(cp_body, "cellcp_pushes_total"), 2.0);
    EXPECT_GE(*metric_value(cp_body, "cellcp_acks_total"), 1.0);
    EXPECT_GE(*metric_value(cp_body, "cellcp_push_to_ack_seconds_count"), 1.0);
    EXPECT_GT(*metric_value(cp_body, "process_resident_memory_bytes"), 0.0);
    expect_promtool_accepts(cp_body, deployment.dir(), "control-plane");
    router_body = scrape_metrics(admin);
    expect_promtool_accepts(router_body, deployment.dir(), "router-with-control-plane");

    deployment.stop_router();
    EXPECT_EQ(cp.process().terminate(), 0);
}

// A router nacking an invalid snapshot counts it.
TEST(MetricsTest, RouterCountsNacks) {
    Deployment deployment(Deployment::Options{.start_router = false});
    deployment.write_config(deployment.config("0.0.1"));
    FakeControlPlane fake;
    auto bad = deployment.config("2.0.0");
    bad["type"] = "config_snapshot";
    bad["routingTable"]["acme"] = "tier9";
    fake.set_greeting({bad.dump()});
    deployment.start_router({"--control-plane", fake.url(), "--config-cache", deployment.dir().file("cache.json").string(),
                             "--admin-port", std::to_string(free_port())});
    const unsigned short admin = admin_port_of(deployment.router());
    ASSERT_FALSE(fake.wait_for_frame("\"nack\"", 10s).empty());
    const std::string nacks = "cellrouter_control_plane_nacks_total";
    const std::string body = scrape_until(admin, [&](const std::string& b) { return metric_value(b, nacks) == 1.0; });
    EXPECT_EQ(metric_value(body, "cellrouter_control_plane_nacks_total"), 1.0) << body;
    EXPECT_EQ(metric_value(body, "cellrouter_config_reloads_total{source=\"control_plane\",result=\"rejected\"}"), 1.0);
}

// The 404 bodies list /metrics among the endpoints.
TEST(MetricsTest, NotFoundListsMetrics) {
    Deployment deployment(Deployment::Options{.router_flags = admin_flags()});
    const Response router = request(admin_port_of(deployment.router()), "GET", "/nope");
    EXPECT_EQ(router.status, 404);
    EXPECT_NE(router.body.find("\"/metrics\""), std::string::npos) << router.body;
    const auto cp_config = deployment.dir().file("control-plane.json");
    write_file_atomically(cp_config, deployment.config("1.0.0").dump());
    ControlPlaneProcess cp(cp_config, deployment.dir().path());
    const Response control_plane = request(cp.port(), "GET", "/nope");
    EXPECT_EQ(control_plane.status, 404);
    EXPECT_NE(control_plane.body.find("\"/metrics\""), std::string::npos) << control_plane.body;
    EXPECT_EQ(cp.process().terminate(), 0);
}

}  // namespace
}  // namespace cell::testing
