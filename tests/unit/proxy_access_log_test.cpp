// The access log line of an exchange: what it takes from the exchange and how it reads.
#include "cell/proxy/access_log.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cell/config/load.hpp"

namespace cell::proxy {
namespace {

using namespace std::chrono_literals;

const char* const config_text = R"({
    "version": "1", "routingTable": {"visa": "visa"},
    "placements": {"visa": {"url": "http://v:1", "fallback": "tier3"}, "tier3": {"url": "http://c:1"}},
    "defaultPlacement": "tier3"})";

routing::TableConstPtr make_table() {
    const auto loaded = config::load_config(config_text);
    EXPECT_TRUE(loaded.ok());
    return routing::Table::build(*loaded.config, config::ProxySettings{}, routing::TableOrigin{});
}

nlohmann::json line_of(const AccessRecord& record) {
    return nlohmann::json::parse(std::move(format_access_line(record)).finish());
}

// A request that failed over and was served: its words, the fallback and the timings.
TEST(AccessLog, ServedByAFallback) {
    const auto table = make_table();
    Exchange exchange(table, "127.0.0.1");
    exchange.request_id = "rid-1";
    exchange.method = "GET";
    exchange.path = "/orders";
    exchange.routing_key = "visa";
    exchange.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    const routing::RouteDecision decision = table->route("visa");
    routing::PlacementChoice choice;
    choice.serving = table->find_placement("tier3");
    choice.failover = routing::FailoverReason::unhealthy;
    exchange.route(decision, choice);
    exchange.at.routed = exchange.at.started + 1ms;
    exchange.at.connect_started = exchange.at.started + 1ms;
    exchange.at.connected = exchange.at.started + 3ms;
    exchange.at.request_head_sent = exchange.at.started + 4ms;
    exchange.at.response_head_received = exchange.at.started + 9ms;
    exchange.at.response_head_sent = exchange.at.started + 10ms;
    exchange.status = 200;
    exchange.bytes_out = 42;
    exchange.finish(exchange.served_outcome());
    exchange.at.finished = exchange.at.started + 12ms;

    const AccessRecord record = AccessRecord::take_from(exchange);
    EXPECT_TRUE(exchange.request_id.empty()) << "the strings are moved, not copied";
    const auto line = line_of(record);
    EXPECT_EQ(line["event"], "access");
    EXPECT_EQ(line["request_id"], "rid-1");
    EXPECT_EQ(line["client"], "127.0.0.1");
    EXPECT_EQ(line["path"], "/orders");
    EXPECT_EQ(line["placement_key"], "tier3");
    EXPECT_EQ(line["upstream_url"], "http://c:1");
    EXPECT_EQ(line["route_reason"], "dedicated");
    EXPECT_EQ(line["outcome"], "failover_unhealthy");
    EXPECT_EQ(line["failover_reason"], "unhealthy");
    EXPECT_EQ(line["original_placement"], "visa");
    EXPECT_EQ(line["status_code"], 200);
    EXPECT_EQ(line["bytes_out"], 42);
    EXPECT_EQ(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_DOUBLE_EQ(line["duration_ms"].get<double>(), 12.0);
    EXPECT_DOUBLE_EQ(line["route_ms"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(line["connect_ms"].get<double>(), 2.0);
    EXPECT_DOUBLE_EQ(line["upstream_head_ms"].get<double>(), 5.0);
    // 4 ms to send the head, less 2 ms of connect, plus 1 ms to turn the response head around.
    EXPECT_DOUBLE_EQ(line["router_ms"].get<double>(), 3.0);
    EXPECT_FALSE(line.contains("error_source"));
}

// A router-made answer before routing: no placement, the error's source and message, and none
// of the timings of a forwarded request.
TEST(AccessLog, AnsweredLocally) {
    Exchange exchange(make_table(), "::1");
    exchange.request_id = "rid-2";
    exchange.status = 400;
    exchange.error = "missing or empty X-Routing-Key header";
    exchange.finish(Outcome::missing_key);
    const auto line = line_of(AccessRecord::take_from(exchange));
    EXPECT_EQ(line["outcome"], "missing_key");
    EXPECT_EQ(line["error_source"], "downstream");
    EXPECT_EQ(line["error"], "missing or empty X-Routing-Key header");
    EXPECT_EQ(line["placement_key"], "");
    EXPECT_EQ(line["route_reason"], "");
    EXPECT_FALSE(line.contains("connect_ms"));
    EXPECT_FALSE(line.contains("route_ms"));
    EXPECT_FALSE(line.contains("trace_id"));
    EXPECT_DOUBLE_EQ(line["router_ms"].get<double>(), line["duration_ms"].get<double>());
}

// With the access log off a worker takes nothing from the exchange.
TEST(AccessLog, DisabledShardTakesNothing) {
    AccessLog log(false, 1);
    Exchange exchange(make_table(), "127.0.0.1");
    exchange.request_id = "rid-3";
    exchange.finish(Outcome::missing_key);
    log.shard(0).record(exchange);
    EXPECT_EQ(exchange.request_id, "rid-3");
    EXPECT_FALSE(log.shard(0).enabled());
}

}  // namespace
}  // namespace cell::proxy
