// Router-made responses: one place maps each condition to its status.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cell/proxy/error_response.hpp"

namespace cell::proxy {
namespace {

// The status table of docs/architecture.md.
TEST(ErrorResponse, StatusMapping) {
    EXPECT_EQ(status_for(LocalError::bad_request), http::status::bad_request);
    EXPECT_EQ(status_for(LocalError::header_too_large), http::status::request_header_fields_too_large);
    EXPECT_EQ(status_for(LocalError::missing_routing_key), http::status::bad_request);
    EXPECT_EQ(status_for(LocalError::conflicting_routing_key), http::status::bad_request);
    EXPECT_EQ(status_for(LocalError::method_not_allowed), http::status::method_not_allowed);
    EXPECT_EQ(status_for(LocalError::expectation_failed), http::status::expectation_failed);
    EXPECT_EQ(status_for(LocalError::no_endpoint), http::status::internal_server_error);
    EXPECT_EQ(status_for(LocalError::upstream_unreachable), http::status::bad_gateway);
    EXPECT_EQ(status_for(LocalError::upstream_timeout), http::status::gateway_timeout);
    EXPECT_EQ(status_for(LocalError::upstream_bad_response), http::status::bad_gateway);
}

// The body is JSON naming the error, with the request id; routing headers when routed.
TEST(ErrorResponse, JsonBodyAndHeaders) {
    const auto response = make_local_response(LocalError::upstream_timeout, "slow \"cell\"",
                                              LocalResponseContext{11, true, "rid", "tier", "tier1"});
    EXPECT_EQ(response.result(), http::status::gateway_timeout);
    EXPECT_EQ(response[http::field::content_type], "application/json");
    EXPECT_EQ(response["X-Request-Id"], "rid");
    EXPECT_EQ(response["X-Routed-To"], "tier1");
    EXPECT_EQ(response["X-Route-Reason"], "tier");
    EXPECT_EQ(response[http::field::content_length], std::to_string(response.body().size()));
    const auto body = nlohmann::json::parse(response.body());
    EXPECT_EQ(body["error"], "upstream_timeout");
    EXPECT_EQ(body["message"], "slow \"cell\"");
    EXPECT_EQ(body["request_id"], "rid");
}

// Before routing there are no routing headers; HTTP/1.0 gets a 1.0 status line and closes.
TEST(ErrorResponse, BeforeRoutingAndHttp10) {
    const auto response = make_local_response(LocalError::missing_routing_key, "missing",
                                              LocalResponseContext{10, false, "rid", {}, {}});
    EXPECT_EQ(response.version(), 10u);
    EXPECT_FALSE(response.keep_alive());
    EXPECT_EQ(response.count("X-Routed-To"), 0u);
    EXPECT_EQ(response.count("X-Route-Reason"), 0u);
}

}  // namespace
}  // namespace cell::proxy
