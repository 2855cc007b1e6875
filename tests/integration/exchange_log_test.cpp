// One exchange, one vocabulary: the outcome a request ended with is the same word in the
// access log and in the router's own answer, and the log carries the router's timings and the
// W3C trace id, while traceparent/tracestate reach the cell untouched.

#include <gtest/gtest.h>

#include "shared_deployment.hpp"

namespace cell::testing {
namespace {

class ExchangeLogTest : public SharedDeploymentTest<ExchangeLogTest> {
protected:
    // The access line of the request with this X-Request-Id.
    static Json access_line(const std::string& request_id) {
        const auto line = deployment_->router().wait_for_line([&](const Json& l) {
            return l.value("event", "") == "access" && l.value("request_id", "") == request_id;
        });
        EXPECT_TRUE(line.has_value()) << "no access line for " << request_id;
        return line.value_or(Json::object());
    }
};

// The value of `name` among the headers the cell received (all_headers: [[name, value], ...]).
std::string received_header(const Response& response, const std::string& name) {
    const Json body = response.json();
    for (const auto& field : body["all_headers"]) {
        if (field[0].get<std::string>() == name) {
            return field[1].get<std::string>();
        }
    }
    return "";
}

constexpr const char* traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST_F(ExchangeLogTest, ServedRequestLogsOutcomeTimingsAndTraceId) {
    const auto response = request(port(), "GET", "/orders?id=7",
                                  {{"X-Routing-Key", "acme"}, {"X-Request-Id", "exchange-served-1"},
                                   {"traceparent", traceparent}, {"tracestate", "vendor=a,other=b"}});
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(response.header("Proxy-Status"), "") << "a served response is not an error";
    EXPECT_EQ(received_header(response, "traceparent"), traceparent);
    EXPECT_EQ(received_header(response, "tracestate"), "vendor=a,other=b");

    const Json line = access_line("exchange-served-1");
    EXPECT_EQ(line.value("outcome", ""), response.header("X-Route-Reason"));
    EXPECT_EQ(line.value("route_reason", ""), response.header("X-Route-Reason"));
    EXPECT_EQ(line.value("placement_key", ""), response.header("X-Routed-To"));
    EXPECT_EQ(line.value("trace_id", ""), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(line.value("path", ""), "/orders");
    EXPECT_FALSE(line.contains("error_source")) << line.dump();
    for (const char* field : {"duration_ms", "router_ms", "route_ms", "connect_ms", "upstream_head_ms"}) {
        ASSERT_TRUE(line.contains(field)) << field << " missing: " << line.dump();
        EXPECT_GE(line[field].get<double>(), 0.0) << field;
    }
    const double total = line["duration_ms"].get<double>();
    EXPECT_LE(line["router_ms"].get<double>(), total);
    EXPECT_LE(line["route_ms"].get<double>(), total);
    EXPECT_LE(line["upstream_head_ms"].get<double>(), total);
}

// A traceparent that is not valid is still forwarded as it came, but no trace id is logged.
TEST_F(ExchangeLogTest, InvalidTraceparentIsForwardedButNotLogged) {
    const std::string broken = "00-not-a-trace-01";
    const auto response = request(port(), "GET", "/",
                                  {{"X-Routing-Key", "acme"}, {"X-Request-Id", "exchange-trace-2"},
                                   {"traceparent", broken}});
    ASSERT_EQ(response.status, 200);
    EXPECT_EQ(received_header(response, "traceparent"), broken);
    EXPECT_FALSE(access_line("exchange-trace-2").contains("trace_id"));
}

// A router-made answer: the JSON error, the log's outcome and Proxy-Status say the same thing.
TEST_F(ExchangeLogTest, RouterAnswerUsesTheSameWordEverywhere) {
    const auto response = request(port(), "GET", "/", {{"X-Request-Id", "exchange-missing-3"}});
    ASSERT_EQ(response.status, 400);
    EXPECT_EQ(response.json().value("error", ""), "missing_key");
    EXPECT_EQ(response.header("Proxy-Status"),
              "cellrouter; error=http_request_error; details=\"missing or empty X-Routing-Key header\"");
    const Json line = access_line("exchange-missing-3");
    EXPECT_EQ(line.value("outcome", ""), "missing_key");
    EXPECT_EQ(line.value("error_source", ""), "downstream");
    EXPECT_EQ(line.value("status_code", 0), 400);
    EXPECT_FALSE(line.contains("connect_ms")) << "no cell connection was made";
}

}  // namespace
}  // namespace cell::testing
