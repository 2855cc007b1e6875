// A real Prometheus (Debian's package) scrapes the router's admin port and the control plane,
// and its query API returns what the test sent; the example alert rules pass promtool.

#include <gtest/gtest.h>

#include <cstdio>

#include "harness.hpp"
#include "metrics_support.hpp"

namespace cell::testing {
namespace {

std::string url_encode(const std::string& text) {
    std::string out;
    for (const unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            char escaped[4];
            std::snprintf(escaped, sizeof escaped, "%%%02X", c);
            out += escaped;
        }
    }
    return out;
}

// The single value of an instant query, or nullopt while Prometheus has none (or is not up).
std::optional<double> query(unsigned short port, const std::string& promql) {
    try {
        const Response response = request(port, "GET", "/api/v1/query?query=" + url_encode(promql));
        if (response.status != 200) {
            return std::nullopt;
        }
        const Json body = response.json();
        const Json& result = body["data"]["result"];
        if (body["status"] != "success" || result.size() != 1) {
            return std::nullopt;
        }
        return std::stod(result[0]["value"][1].get<std::string>());
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::string prometheus_config(unsigned short router_admin, unsigned short control_plane) {
    return "global:\n"
           "  scrape_interval: 1s\n"
           "  scrape_timeout: 1s\n"
           "  evaluation_interval: 1s\n"
           "rule_files:\n"
           "  - " + alert_rules_path().string() + "\n"
           "scrape_configs:\n"
           "  - job_name: cellrouter\n"
           "    static_configs:\n"
           "      - targets: ['127.0.0.1:" + std::to_string(router_admin) + "']\n"
           "  - job_name: cell-control-plane\n"
           "    static_configs:\n"
           "      - targets: ['127.0.0.1:" + std::to_string(control_plane) + "']\n";
}

// Prometheus scrapes both binaries; its query API shows the requests sent and the fleet.
TEST(PrometheusTest, ScrapesRouterAndControlPlane) {
    const std::string prometheus = find_prometheus_tool("prometheus");
    ASSERT_FALSE(prometheus.empty()) << "prometheus " << prometheus_missing;
    Deployment deployment(Deployment::Options{.start_router = false});
    deployment.write_config(deployment.config("0.0.1"));
    const auto cp_config = deployment.dir().file("control-plane.json");
    write_file_atomically(cp_config, deployment.config("1.0.0").dump());
    ControlPlaneProcess cp(cp_config, deployment.dir().path());
    deployment.start_router({"--control-plane", cp.url(), "--config-cache", deployment.dir().file("cache.json").string(),
                             "--admin-port", std::to_string(free_port())});
    const unsigned short admin = admin_port_of(deployment.router());
    ASSERT_TRUE(eventually([&] { return request(deployment.router_port(), "GET", "/debug/config").json()["version"] == "1.0.0"; }));
    constexpr int sent = 5;
    for (int i = 0; i < sent; ++i) {
        ASSERT_EQ(request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "globex"}}).status, 200);
    }

    const auto config_path = deployment.dir().file("prometheus.yml");
    write_file(config_path, prometheus_config(admin, cp.port()));
    const unsigned short port = free_port();
    Process server({prometheus, "--config.file=" + config_path.string(),
                    "--storage.tsdb.path=" + deployment.dir().file("prometheus-data").string(),
                    "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
                   deployment.dir().path(), "prometheus");

    const std::string tier_requests = "sum(cellrouter_requests_total{placement=\"tier2\",reason=\"tier\",code=\"2xx\"})";
    EXPECT_TRUE(eventually([&] { return query(port, tier_requests) == double(sent); }, 30s))
        << "Prometheus never showed " << sent << " requests; last answer: "
        << query(port, tier_requests).value_or(-1) << "\n" << server.stderr_text();
    EXPECT_TRUE(eventually([&] { return query(port, "cellcp_routers_on_current_version") == 1.0; }, 30s))
        << server.stderr_text();
    EXPECT_EQ(query(port, "cellrouter_control_plane_connected"), 1.0);
    EXPECT_EQ(query(port, "sum(up)"), 2.0);
    // The rules loaded and evaluate: none of them fires here.
    EXPECT_EQ(query(port, "count(ALERTS{alertstate=\"firing\"}) or vector(0)"), 0.0);

    EXPECT_EQ(server.terminate(30s), 0) << server.stderr_text();
    deployment.stop_router();
    EXPECT_EQ(cp.process().terminate(), 0);
}

// The example rules are valid Prometheus rules.
TEST(PrometheusTest, AlertRulesPassPromtoolCheck) {
    const std::string promtool = find_prometheus_tool("promtool");
    ASSERT_FALSE(promtool.empty()) << "promtool " << prometheus_missing;
    const ToolRun run = run_tool({promtool, "check", "rules", alert_rules_path().string()});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_NE(run.output.find("SUCCESS: 7 rules found"), std::string::npos) << run.output;
}

// The rules fire when they should and not before (docs/alerts/cellrouter-rules.test.yml).
TEST(PrometheusTest, AlertRulesPassTheirUnitTests) {
    const std::string promtool = find_prometheus_tool("promtool");
    ASSERT_FALSE(promtool.empty()) << "promtool " << prometheus_missing;
    const auto tests = alert_rules_path().parent_path() / "cellrouter-rules.test.yml";
    const ToolRun run = run_tool({promtool, "test", "rules", tests.string()});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_NE(run.output.find("SUCCESS"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace cell::testing
