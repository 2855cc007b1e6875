// Router-made responses: one place maps each condition to its status.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cell/proxy/error_response.hpp"

namespace cell::proxy {
namespace {

LocalResponseContext make_context(unsigned version, bool keep_alive, std::string_view route_reason,
                                  std::string_view routed_to) {
    LocalResponseContext context;
    context.version = version;
    context.keep_alive = keep_alive;
    context.request_id = "rid";
    context.route_reason = route_reason;
    context.routed_to = routed_to;
    return context;
}

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
    EXPECT_EQ(status_for(LocalError::circuit_open), http::status::service_unavailable);
    EXPECT_EQ(status_for(LocalError::rate_limited), http::status::too_many_requests);
    EXPECT_EQ(status_for(LocalError::concurrency_limited), http::status::too_many_requests);
    EXPECT_EQ(status_for(LocalError::body_too_large), http::status::payload_too_large);
    EXPECT_EQ(status_for(LocalError::too_many_connections), http::status::service_unavailable);
    EXPECT_EQ(code_for(LocalError::too_many_connections), "too_many_connections");
}

// A limit's refusal names the placement and the limit, says when to retry, and carries the
// failover headers when a fallback was the one refusing.
TEST(ErrorResponse, LimitRefusalNamesTheLimit) {
    LocalResponseContext context = make_context(11, true, "dedicated", "tier3");
    context.failover_reason = "unhealthy";
    context.original_placement = "visa";
    context.limit = "concurrency_limit";
    context.retry_after_seconds = 1;
    const auto response = make_local_response(LocalError::concurrency_limited, "too many", context);
    EXPECT_EQ(response.result(), http::status::too_many_requests);
    EXPECT_EQ(response["Retry-After"], "1");
    EXPECT_EQ(response["X-Routed-To"], "tier3");
    EXPECT_EQ(response["X-Route-Reason"], "dedicated");
    EXPECT_EQ(response["X-Failover-Reason"], "unhealthy");
    EXPECT_EQ(response["X-Original-Placement"], "visa");
    const auto body = nlohmann::json::parse(response.body());
    EXPECT_EQ(body["error"], "concurrency_limited");
    EXPECT_EQ(body["limit"], "concurrency_limit");
    EXPECT_EQ(body["placement"], "tier3");
}

// Without a limit or failover, none of those fields or headers appear.
TEST(ErrorResponse, NoLimitFieldsWhenNoLimitRefused) {
    const auto response =
        make_local_response(LocalError::upstream_timeout, "slow", make_context(11, true, "tier", "tier1"));
    EXPECT_EQ(response.count("Retry-After"), 0u);
    EXPECT_EQ(response.count("X-Failover-Reason"), 0u);
    const auto body = nlohmann::json::parse(response.body());
    EXPECT_FALSE(body.contains("limit"));
}

// The body is JSON naming the error, with the request id; routing headers when routed.
TEST(ErrorResponse, JsonBodyAndHeaders) {
    const auto response = make_local_response(LocalError::upstream_timeout, "slow \"cell\"",
                                              make_context(11, true, "tier", "tier1"));
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
                                              make_context(10, false, {}, {}));
    EXPECT_EQ(response.version(), 10u);
    EXPECT_FALSE(response.keep_alive());
    EXPECT_EQ(response.count("X-Routed-To"), 0u);
    EXPECT_EQ(response.count("X-Route-Reason"), 0u);
}

}  // namespace
}  // namespace cell::proxy
