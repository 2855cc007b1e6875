#pragma once
// A test suite whose tests share one Deployment (the four demo cells and a router), started once
// for the suite: for the many short wire-level checks that need no state of their own.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness.hpp"

namespace cell::testing {

// `Suite` only gives each suite a deployment of its own.
template <class Suite>
class SharedDeploymentTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { deployment_ = new Deployment(); }
    static void TearDownTestSuite() {
        delete deployment_;
        deployment_ = nullptr;
    }
    // Whatever a test sent, the shared router must still be running after it.
    void TearDown() override {
        EXPECT_TRUE(deployment_->router().running()) << "router exited; stderr: " << deployment_->router().stderr_text();
    }
    static unsigned short port() { return deployment_->router_port(); }

    // `raw` on a fresh connection gets `status` with a JSON body, the connection is then closed,
    // and no cell ever logs a request for any of `paths`.
    static void expect_refused(const std::string& raw, const std::vector<std::string>& paths, int status = 400) {
        Connection connection(port());
        connection.send(raw);
        const auto response = connection.read_response();
        EXPECT_EQ(response.status, status) << response.body;
        EXPECT_EQ(response.header("Content-Type"), "application/json");
        EXPECT_TRUE(connection.closed_by_peer()) << "connection left open after " << status;
        for (const auto& path : paths) {
            EXPECT_TRUE(never_reaches_a_cell(*deployment_, path)) << path << " reached a cell";
        }
    }

    static inline Deployment* deployment_ = nullptr;
};

}  // namespace cell::testing
