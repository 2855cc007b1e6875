// https:// cells: the router speaks TLS to them, verifies their certificate, and sends SNI.
// The cell here is `openssl s_server -WWW`, which serves files over TLS.

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>

#include "harness.hpp"

namespace cell::testing {
namespace {

class TlsUpstreamTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (std::system("command -v openssl > /dev/null 2>&1") != 0) {
            GTEST_SKIP() << "the openssl command is not installed";
        }
        const auto cert = dir_.file("cert.pem").string();
        const auto key = dir_.file("key.pem").string();
        const std::string make_cert = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
                                      "-addext subjectAltName=DNS:localhost -keyout " + key + " -out " + cert +
                                      " > " + dir_.file("req.log").string() + " 2>&1";
        ASSERT_EQ(std::system(make_cert.c_str()), 0) << read_file(dir_.file("req.log"));
        write_file(dir_.file("hello.txt"), "hello over tls\n");
        port_ = free_port();
        // s_server -WWW serves files relative to its working directory.
        server_ = std::make_unique<Process>(
            std::vector<std::string>{"/bin/sh", "-c", "cd " + dir_.path().string() + " && exec openssl s_server -quiet -WWW -accept " +
                                                          std::to_string(port_) + " -cert " + cert + " -key " + key},
            dir_.path(), "s_server");
        server_->expect_exit_code(128 + SIGTERM);  // s_server has no SIGTERM handler
        ASSERT_TRUE(eventually([&] {
            try {
                Connection probe(port_);
                return true;
            } catch (const std::exception&) {
                return false;
            }
        }));
    }

    Json config_with_tls_cell(const Deployment& deployment) const {
        auto config = deployment.config();
        config["cellEndpoints"]["secure"] = "https://localhost:" + std::to_string(port_);
        config["routingTable"] = Json{{"bank", "secure"}};
        return config;
    }

    TempDir dir_;
    unsigned short port_ = 0;
    std::unique_ptr<Process> server_;
};

// With the cell's CA trusted, the request reaches the https cell and the answer comes back.
TEST_F(TlsUpstreamTest, TrustedCellIsReached) {
    Deployment deployment(Deployment::Options{.cells = {"tier3"}, .start_router = false});
    deployment.write_config(config_with_tls_cell(deployment));
    deployment.start_router({"--upstream-ca-file", dir_.file("cert.pem").string()});
    const auto response = request(deployment.router_port(), "GET", "/hello.txt", {{"X-Routing-Key", "bank"}});
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "hello over tls\n");
    EXPECT_EQ(response.header("X-Routed-To"), "secure");
    EXPECT_EQ(response.header("X-Route-Reason"), "dedicated");
}

// A router started with plain-HTTP cells only has no TLS context yet; after a reload that brings
// an https:// cell, requests reach that cell over TLS, its certificate checked.
TEST_F(TlsUpstreamTest, ReloadThatAddsAnHttpsCellReachesIt) {
    Deployment deployment(Deployment::Options{.cells = {"tier3"}, .start_router = false});
    auto plain = deployment.config();
    plain["routingTable"] = Json{{"bank", "tier3"}};
    deployment.write_config(plain);
    deployment.start_router({"--upstream-ca-file", dir_.file("cert.pem").string()});
    const auto before = request(deployment.router_port(), "GET", "/hello.txt", {{"X-Routing-Key", "bank"}});
    EXPECT_EQ(before.header("X-Routed-To"), "tier3");
    deployment.write_config(config_with_tls_cell(deployment));
    // Every worker on the new table, whichever one the next connection lands on.
    ASSERT_TRUE(eventually([&] {
        const Json config = request(deployment.router_port(), "GET", "/debug/config").json();
        for (const auto& worker_generation : config["worker_generations"]) {
            if (worker_generation != config["generation"]) {
                return false;
            }
        }
        return config["reloads"]["applied"] == 1;
    }));
    const auto response = request(deployment.router_port(), "GET", "/hello.txt", {{"X-Routing-Key", "bank"}});
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "hello over tls\n");
}

// A certificate the router does not trust is refused: 502, never a silent plaintext fallback.
TEST_F(TlsUpstreamTest, UntrustedCertificateIs502) {
    Deployment deployment(Deployment::Options{.cells = {"tier3"}, .start_router = false});
    deployment.write_config(config_with_tls_cell(deployment));
    deployment.start_router();
    const auto response = request(deployment.router_port(), "GET", "/hello.txt", {{"X-Routing-Key", "bank"}});
    EXPECT_EQ(response.status, 502);
    EXPECT_EQ(response.json()["error"], "connect_failed");
}

// An unreadable CA file stops startup with exit 1 and says which flag.
TEST(TlsOptions, BadCaFileFailsStartup) {
    Deployment deployment(Deployment::Options{.cells = {"tier3"}, .start_router = false});
    auto config = deployment.config();
    config["routingTable"] = Json::object();
    deployment.write_config(config);
    Process router({CELL_ROUTER_BINARY, "--config", deployment.config_path().string(), "--port", "0", "--admin-port",
                    "0", "--upstream-ca-file", "/nonexistent/ca.pem"},
                   deployment.dir().path(), "router-bad-ca");
    router.expect_exit_code(1);
    EXPECT_EQ(router.wait_exit(10s), 1);
    EXPECT_NE(router.stderr_text().find("--upstream-ca-file"), std::string::npos) << router.stderr_text();
}

}  // namespace
}  // namespace cell::testing
