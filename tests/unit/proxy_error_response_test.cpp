// Router-made responses: one place maps each outcome to its status and Proxy-Status.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cell/proxy/error_response.hpp"

namespace cell::proxy {
namespace {

RouteHeaders routed(std::string_view routed_to, std::string_view route_reason) {
    RouteHeaders route;
    route.request_id = "rid";
    route.routed_to = routed_to;
    route.route_reason = route_reason;
    return route;
}

// The status table of docs/observability.md.
TEST(ErrorResponse, StatusMapping) {
    EXPECT_EQ(status_for(Outcome::bad_request), http::status::bad_request);
    EXPECT_EQ(status_for(Outcome::header_too_large), http::status::request_header_fields_too_large);
    EXPECT_EQ(status_for(Outcome::version_not_supported), http::status::http_version_not_supported);
    EXPECT_EQ(status_for(Outcome::missing_key), http::status::bad_request);
    EXPECT_EQ(status_for(Outcome::conflicting_key), http::status::bad_request);
    EXPECT_EQ(status_for(Outcome::method_not_allowed), http::status::method_not_allowed);
    EXPECT_EQ(status_for(Outcome::expectation_failed), http::status::expectation_failed);
    EXPECT_EQ(status_for(Outcome::connect_failed), http::status::bad_gateway);
    EXPECT_EQ(status_for(Outcome::upstream_timeout), http::status::gateway_timeout);
    EXPECT_EQ(status_for(Outcome::upstream_reset), http::status::bad_gateway);
    EXPECT_EQ(status_for(Outcome::bad_upstream_response), http::status::bad_gateway);
    EXPECT_EQ(status_for(Outcome::circuit_open), http::status::service_unavailable);
    EXPECT_EQ(status_for(Outcome::rate_limited), http::status::too_many_requests);
    EXPECT_EQ(status_for(Outcome::concurrency_limited), http::status::too_many_requests);
    EXPECT_EQ(status_for(Outcome::body_too_large), http::status::payload_too_large);
    EXPECT_EQ(status_for(Outcome::too_many_connections), http::status::service_unavailable);
}

// Every error outcome has a registered RFC 9209 error type; the served ones have none.
TEST(ErrorResponse, ProxyErrorTypes) {
    for (const Outcome outcome : observability::all_outcomes()) {
        const bool error = !observability::is_served(outcome) && outcome != Outcome::debug_endpoint &&
                           outcome != Outcome::client_closed;
        EXPECT_EQ(proxy_error_for(outcome).empty(), !error) << observability::to_string(outcome);
    }
    EXPECT_EQ(proxy_error_for(Outcome::upstream_timeout), "http_response_timeout");
    EXPECT_EQ(proxy_error_for(Outcome::upstream_reset), "connection_terminated");
    EXPECT_EQ(proxy_error_for(Outcome::bad_upstream_response), "http_protocol_error");
    EXPECT_EQ(proxy_error_for(Outcome::missing_key), "http_request_error");
    EXPECT_EQ(proxy_error_for(Outcome::concurrency_limited), "connection_limit_reached");
}

TEST(ErrorResponse, ProxyStatusDetailsAreAnSfString) {
    EXPECT_EQ(proxy_status_value("connection_refused", "cannot connect: \"x\" \\ y"),
              R"(cellrouter; error=connection_refused; details="cannot connect: \"x\" \\ y")");
    EXPECT_EQ(proxy_status_value("dns_error", std::string("a\nb\x7f") + "\xc3\xa9"),
              R"(cellrouter; error=dns_error; details="a?b???")");
    EXPECT_EQ(proxy_status_value("http_request_error", ""), "cellrouter; error=http_request_error");
}

// A limit's refusal names the placement and the limit, says when to retry, and carries the
// failover headers when a fallback was the one refusing.
TEST(ErrorResponse, LimitRefusalNamesTheLimit) {
    RouteHeaders route = routed("tier3", "dedicated");
    route.failover_reason = "unhealthy";
    route.original_placement = "visa";
    const LocalAnswer answer = LocalAnswer(Outcome::concurrency_limited, "too many").refused_by("concurrency_limit", 1);
    const auto response = make_local_response(answer, route, 11, true);
    EXPECT_EQ(response.result(), http::status::too_many_requests);
    EXPECT_EQ(response["Retry-After"], "1");
    EXPECT_EQ(response["X-Routed-To"], "tier3");
    EXPECT_EQ(response["X-Route-Reason"], "dedicated");
    EXPECT_EQ(response["X-Failover-Reason"], "unhealthy");
    EXPECT_EQ(response["X-Original-Placement"], "visa");
    EXPECT_EQ(response["Proxy-Status"], R"(cellrouter; error=connection_limit_reached; details="too many")");
    const auto body = nlohmann::json::parse(response.body());
    EXPECT_EQ(body["error"], "concurrency_limited");
    EXPECT_EQ(body["limit"], "concurrency_limit");
    EXPECT_EQ(body["placement"], "tier3");
}

// Without a limit or failover, none of those fields or headers appear.
TEST(ErrorResponse, NoLimitFieldsWhenNoLimitRefused) {
    const auto response =
        make_local_response(LocalAnswer(Outcome::upstream_timeout, "slow"), routed("tier1", "tier"), 11, true);
    EXPECT_EQ(response.count("Retry-After"), 0u);
    EXPECT_EQ(response.count("X-Failover-Reason"), 0u);
    const auto body = nlohmann::json::parse(response.body());
    EXPECT_FALSE(body.contains("limit"));
}

// The body is JSON naming the outcome, with the request id; routing headers when routed; the
// answer's own error type wins over the outcome's usual one.
TEST(ErrorResponse, JsonBodyAndHeaders) {
    const auto response = make_local_response(
        LocalAnswer(Outcome::connect_failed, "slow \"cell\"", "connection_timeout"), routed("tier1", "tier"), 11, true);
    EXPECT_EQ(response.result(), http::status::bad_gateway);
    EXPECT_EQ(response[http::field::content_type], "application/json");
    EXPECT_EQ(response["X-Request-Id"], "rid");
    EXPECT_EQ(response["X-Routed-To"], "tier1");
    EXPECT_EQ(response["X-Route-Reason"], "tier");
    EXPECT_EQ(response["Proxy-Status"], R"(cellrouter; error=connection_timeout; details="slow \"cell\"")");
    EXPECT_EQ(response[http::field::content_length], std::to_string(response.body().size()));
    const auto body = nlohmann::json::parse(response.body());
    EXPECT_EQ(body["error"], "connect_failed");
    EXPECT_EQ(body["message"], "slow \"cell\"");
    EXPECT_EQ(body["request_id"], "rid");
}

// Before routing there are no routing headers; HTTP/1.0 gets a 1.0 status line and closes.
TEST(ErrorResponse, BeforeRoutingAndHttp10) {
    RouteHeaders route;
    route.request_id = "rid";
    const auto response = make_local_response(LocalAnswer(Outcome::missing_key, "missing"), route, 10, false);
    EXPECT_EQ(response.version(), 10u);
    EXPECT_FALSE(response.keep_alive());
    EXPECT_EQ(response.count("X-Routed-To"), 0u);
    EXPECT_EQ(response.count("X-Route-Reason"), 0u);
    EXPECT_EQ(nlohmann::json::parse(response.body())["error"], "missing_key");
}

}  // namespace
}  // namespace cell::proxy
