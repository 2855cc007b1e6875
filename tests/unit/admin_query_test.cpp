// Query parameters of admin requests (/debug/route?key=K).
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cell/admin/debug_endpoints.hpp"
#include "cell/config/load.hpp"

namespace cell::admin {
namespace {

TEST(QueryParameter, FindsAndDecodesTheValue) {
    EXPECT_EQ(query_parameter("key=acme", "key"), "acme");
    EXPECT_EQ(query_parameter("a=1&key=tenant%20one&b=2", "key"), "tenant one");
    EXPECT_EQ(query_parameter("key=", "key"), "");
    EXPECT_EQ(query_parameter("other=1", "key"), std::nullopt);
    EXPECT_EQ(query_parameter("", "key"), std::nullopt);
    EXPECT_EQ(query_parameter(std::string_view(), "key"), std::nullopt);
}

// The admin server hands over a slice of the request target: nothing after the slice may leak
// into the value.
TEST(QueryParameter, ReadsOnlyItsSlice) {
    const std::string target = "/debug/route?key=acme HTTP/1.1\r\nHost: x";
    const std::string_view query = std::string_view(target).substr(13, 8);
    ASSERT_EQ(query, "key=acme");
    EXPECT_EQ(query_parameter(query, "key"), "acme");
    const std::string_view last = std::string_view(target).substr(13, 4);  // "key="
    EXPECT_EQ(query_parameter(last, "key"), "");
}

// A key of arbitrary bytes (percent-decoded from the query) is echoed as U+FFFD where it is not
// UTF-8: the answer is still a JSON document, not an error.
TEST(RoutePreview, KeyThatIsNotUtf8) {
    const auto loaded = config::load_config(
        R"({"version": "1", "routingTable": {}, "cellEndpoints": {"tier3": "http://c:1"}, "defaultPlacement": "tier3"})");
    ASSERT_TRUE(loaded.ok());
    const auto table = routing::Table::build(*loaded.config, config::ProxySettings{}, routing::TableOrigin{});
    const auto document = nlohmann::json::parse(render_route_preview(*table, "k\xff\xfe"));
    EXPECT_EQ(document["routing_key"], "k\xef\xbf\xbd\xef\xbf\xbd");
    EXPECT_EQ(document["would_serve"], "tier3");
}

}  // namespace
}  // namespace cell::admin
