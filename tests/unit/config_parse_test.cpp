#include "cell/config/parse.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace cell::config {
namespace {

using Problems = std::vector<std::pair<std::string, std::string>>;

Problems problems(const ConfigErrors& errors) {
    Problems out;
    for (const ConfigError& error : errors) {
        out.emplace_back(error.pointer, error.message);
    }
    return out;
}

std::string read_repo_file(const std::string& relative) {
    std::ifstream in(std::string(CELLROUTER_SOURCE_DIR) + "/" + relative, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// A valid document whose members can be replaced one at a time by raw JSON text.
struct Doc {
    std::string version = R"("1.0.0")";
    std::string routing_table = R"({"acme": "tier1", "visa": "visa"})";
    std::string cell_endpoints = R"({"tier1": "http://cell-tier1:9001", "visa": "http://v:9004"})";
    std::string default_placement = R"("tier1")";
    std::string extra;  // further members, e.g. R"("proxy": {...})"

    std::string text() const {
        std::string out = "{\"version\": " + version + ", \"routingTable\": " + routing_table +
                          ", \"cellEndpoints\": " + cell_endpoints +
                          ", \"defaultPlacement\": " + default_placement;
        if (!extra.empty()) {
            out += ", " + extra;
        }
        return out + "}";
    }
};

Doc with_extra(std::string extra) {
    Doc doc;
    doc.extra = std::move(extra);
    return doc;
}

struct Case {
    std::string name;
    std::string text;
    std::string pointer;
    std::string message;
};

// Each case must fail with exactly one error, and produce no Config.
void expect_single_error(const std::vector<Case>& cases) {
    for (const Case& c : cases) {
        const ParseResult result = parse_config(c.text);
        EXPECT_FALSE(result.config.has_value()) << c.name;
        EXPECT_EQ(problems(result.errors), (Problems{{c.pointer, c.message}})) << c.name;
    }
}

// The seed's files and our local variant parse unchanged, with nothing to warn about.
TEST(ConfigParse, SeedFilesParse) {
    for (const char* file :
         {"config/routing.json", "config/routing-local.json", "config/dataplane-initial.json"}) {
        const ParseResult result = parse_config(read_repo_file(file));
        EXPECT_TRUE(result.config.has_value()) << file;
        EXPECT_EQ(problems(result.errors), Problems{}) << file;
        EXPECT_EQ(problems(result.warnings), Problems{}) << file;
    }
}

// Every member lands in Config; tables keep file order; parse stores only the endpoint URL.
TEST(ConfigParse, BuildsConfigInFileOrder) {
    const ParseResult result = parse_config(read_repo_file("config/routing.json"));
    ASSERT_TRUE(result.config.has_value());
    const Config& config = *result.config;
    EXPECT_EQ(config.version, "1.0.0");
    const std::vector<std::pair<std::string, std::string>> routing = {
        {"acme", "tier1"}, {"globex", "tier2"}, {"initech", "tier3"}, {"visa", "visa"}};
    EXPECT_EQ(config.routing_table, routing);
    ASSERT_EQ(config.placements.size(), 4u);
    EXPECT_EQ(config.placements[0].name, "tier1");
    EXPECT_EQ(config.placements[0].endpoint.url, "http://cell-tier1:9001");
    EXPECT_EQ(config.placements[0].endpoint.host, "");
    EXPECT_EQ(config.placements[3].name, "visa");
    EXPECT_EQ(config.placements[3].endpoint.url, "http://cell-visa:9004");
    EXPECT_EQ(config.default_placement, "tier3");
    EXPECT_FALSE(config.proxy.max_header_bytes.has_value());
    EXPECT_FALSE(config.proxy.header_timeout.has_value());
}

// An empty routing table is valid: every request goes to the default placement.
TEST(ConfigParse, AcceptsEmptyRoutingTable) {
    Doc doc;
    doc.routing_table = "{}";
    const ParseResult result = parse_config(doc.text());
    ASSERT_TRUE(result.config.has_value());
    EXPECT_TRUE(result.config->routing_table.empty());
}

// Every proxy setting is read: max_header_bytes as an integer, the rest as duration strings.
TEST(ConfigParse, ReadsProxySettings) {
    const ParseResult result = parse_config(with_extra(R"("proxy": {"max_header_bytes": 16384,
        "header_timeout": "10s", "idle_timeout": "1m", "connect_timeout": "500ms",
        "request_timeout": "30s", "drain_timeout": "1h", "max_connections": 5000})")
                                                .text());
    ASSERT_TRUE(result.config.has_value()) << describe(result.errors);
    const ProxySettingsOverrides& proxy = result.config->proxy;
    EXPECT_EQ(proxy.max_header_bytes, 16384u);
    EXPECT_EQ(proxy.header_timeout, std::chrono::seconds(10));
    EXPECT_EQ(proxy.idle_timeout, std::chrono::minutes(1));
    EXPECT_EQ(proxy.connect_timeout, std::chrono::milliseconds(500));
    EXPECT_EQ(proxy.request_timeout, std::chrono::seconds(30));
    EXPECT_EQ(proxy.drain_timeout, std::chrono::hours(1));
    EXPECT_EQ(proxy.max_connections, 5000u);
}

// Each proxy setting is optional on its own.
TEST(ConfigParse, ProxySettingsAreOptional) {
    const ParseResult result = parse_config(with_extra(R"("proxy": {"idle_timeout": "5s"})").text());
    ASSERT_TRUE(result.config.has_value());
    EXPECT_FALSE(result.config->proxy.max_header_bytes.has_value());
    EXPECT_EQ(result.config->proxy.idle_timeout, std::chrono::seconds(5));
    EXPECT_FALSE(result.config->proxy.drain_timeout.has_value());
}

// Unknown members are ignored with one warning each, at any level we define.
TEST(ConfigParse, WarnsAboutUnknownFields) {
    const ParseResult result = parse_config(
        with_extra(R"("foo": {"deep": [1, 2]}, "plecements": {}, "proxy": {"bogus": 1})").text());
    ASSERT_TRUE(result.config.has_value());
    EXPECT_EQ(problems(result.warnings), (Problems{{"/foo", "unknown field, ignored"},
                                                   {"/plecements", "unknown field, ignored"},
                                                   {"/proxy/bogus", "unknown field, ignored"}}));
}

// A control-plane snapshot's top-level "type" tag is accepted without a warning.
TEST(ConfigParse, AcceptsSnapshotTypeSilently) {
    const ParseResult result = parse_config(with_extra(R"("type": "config_snapshot")").text());
    ASSERT_TRUE(result.config.has_value());
    EXPECT_EQ(problems(result.warnings), Problems{});
}

// Each required member is reported by its own pointer when absent.
TEST(ConfigParse, ReportsMissingRequiredFields) {
    EXPECT_EQ(problems(parse_config("{}").errors),
              (Problems{{"/version", "required field is missing"},
                        {"/routingTable", "required field is missing"},
                        {"/cellEndpoints", R"(required field is missing (or "placements"))"},
                        {"/defaultPlacement", "required field is missing"}}));
    expect_single_error({
        {"no version", R"({"routingTable": {}, "cellEndpoints": {"a": "http://a"},
            "defaultPlacement": "a"})", "/version", "required field is missing"},
        {"no routingTable", R"({"version": "1", "cellEndpoints": {"a": "http://a"},
            "defaultPlacement": "a"})", "/routingTable", "required field is missing"},
        {"no cellEndpoints", R"({"version": "1", "routingTable": {}, "defaultPlacement": "a"})",
            "/cellEndpoints", R"(required field is missing (or "placements"))"},
    });
}

Doc doc_with(std::string Doc::*member, std::string value) {
    Doc doc;
    doc.*member = std::move(value);
    return doc;
}

// A value of the wrong JSON type names its pointer, the expected type and the actual one.
TEST(ConfigParse, RejectsWrongTypes) {
    expect_single_error({
        {"root array", "[]", "", "expected an object, got array"},
        {"root string", R"("x")", "", "expected an object, got string"},
        {"version number", doc_with(&Doc::version, "1").text(), "/version",
         "expected a string, got number"},
        {"version null", doc_with(&Doc::version, "null").text(), "/version",
         "expected a string, got null"},
        {"routingTable array", doc_with(&Doc::routing_table, "[]").text(), "/routingTable",
         "expected an object, got array"},
        {"routingTable string", doc_with(&Doc::routing_table, R"("x")").text(), "/routingTable",
         "expected an object, got string"},
        {"routing entry number", doc_with(&Doc::routing_table, R"({"acme": 1})").text(),
         "/routingTable/acme", "expected a string, got number"},
        {"routing entry object", doc_with(&Doc::routing_table, R"({"acme": {"a": 1}})").text(),
         "/routingTable/acme", "expected a string, got object"},
        {"routing entry array", doc_with(&Doc::routing_table, R"({"acme": ["tier1"]})").text(),
         "/routingTable/acme", "expected a string, got array"},
        {"cellEndpoints array", doc_with(&Doc::cell_endpoints, R"(["http://a"])").text(),
         "/cellEndpoints", "expected an object, got array"},
        {"endpoint boolean", doc_with(&Doc::cell_endpoints, R"({"tier1": true})").text(),
         "/cellEndpoints/tier1", "expected a string, got boolean"},
        {"defaultPlacement number", doc_with(&Doc::default_placement, "1.5").text(),
         "/defaultPlacement", "expected a string, got number"},
        {"proxy string", with_extra(R"("proxy": "fast")").text(), "/proxy",
         "expected an object, got string"},
        {"max_header_bytes string", with_extra(R"("proxy": {"max_header_bytes": "16k"})").text(),
         "/proxy/max_header_bytes", "expected an integer, got string"},
        {"max_header_bytes float", with_extra(R"("proxy": {"max_header_bytes": 2048.5})").text(),
         "/proxy/max_header_bytes", "expected an integer, got number"},
        {"max_connections string", with_extra(R"("proxy": {"max_connections": "many"})").text(),
         "/proxy/max_connections", "expected an integer, got string"},
        {"duration number", with_extra(R"("proxy": {"idle_timeout": 60})").text(),
         "/proxy/idle_timeout", "expected a string, got number"},
    });
}

// Values of the right type that cannot be represented are rejected at parse time.
TEST(ConfigParse, RejectsUnrepresentableProxyValues) {
    expect_single_error({
        {"negative bytes", with_extra(R"("proxy": {"max_header_bytes": -1})").text(),
         "/proxy/max_header_bytes", "must be between 1024 and 1048576, got -1"},
        {"bytes over 32 bits", with_extra(R"("proxy": {"max_header_bytes": 4294967296})").text(),
         "/proxy/max_header_bytes", "must be between 1024 and 1048576, got 4294967296"},
        {"negative connections", with_extra(R"("proxy": {"max_connections": -5})").text(),
         "/proxy/max_connections", "must be between 1 and 10000000, got -5"},
        {"connections over 32 bits", with_extra(R"("proxy": {"max_connections": 4294967296})").text(),
         "/proxy/max_connections", "must be between 1 and 10000000, got 4294967296"},
        {"duration without unit", with_extra(R"("proxy": {"header_timeout": "10"})").text(),
         "/proxy/header_timeout",
         R"(not a duration (e.g. "500ms", "10s", "1m", "1h"): "10")"},
    });
}

// A key repeated in any object is an error at the repeated key; its second value is dropped.
TEST(ConfigParse, RejectsDuplicateKeys) {
    expect_single_error({
        {"top level", with_extra(R"("version": 2)").text(), "/version",
         R"(duplicate key "version")"},
        {"routingTable", doc_with(&Doc::routing_table, R"({"acme": "a", "b": "b", "acme": 1})")
                             .text(),
         "/routingTable/acme", R"(duplicate key "acme")"},
        {"cellEndpoints",
         doc_with(&Doc::cell_endpoints, R"({"tier1": "http://a", "tier1": "http://b"})").text(),
         "/cellEndpoints/tier1", R"(duplicate key "tier1")"},
        {"proxy", with_extra(R"("proxy": {"idle_timeout": "1s", "idle_timeout": "2s"})").text(),
         "/proxy/idle_timeout", R"(duplicate key "idle_timeout")"},
        {"inside an ignored field", with_extra(R"("foo": [0, {"x": 1, "x": 2}])").text(),
         "/foo/1/x", R"(duplicate key "x")"},
    });
    // Inside the dropped value of a repeated routing key, pointers still lead through that key.
    EXPECT_EQ(problems(parse_config(doc_with(&Doc::routing_table,
                                             R"({"a": "t", "a": {"k": 1, "k": 2}})")
                                        .text())
                           .errors),
              (Problems{{"/routingTable/a", R"(duplicate key "a")"},
                        {"/routingTable/a/k", R"(duplicate key "k")"}}));
}

// Duplicate detection holds in a large table, where the key index has grown many times.
TEST(ConfigParse, FindsDuplicateInLargeRoutingTable) {
    constexpr int keys = 50'000;
    std::string table = "{";
    for (int i = 0; i < keys; ++i) {
        table += "\"tenant-" + std::to_string(i) + "\": \"tier1\",";
    }
    Doc doc = doc_with(&Doc::routing_table, table + "\"tenant-12345\": \"tier1\"}");
    expect_single_error({{"large", doc.text(), "/routingTable/tenant-12345",
                          R"(duplicate key "tenant-12345")"}});
    doc.routing_table = table + "\"last\": \"tier1\"}";
    const ParseResult result = parse_config(doc.text());
    ASSERT_TRUE(result.config.has_value());
    EXPECT_EQ(result.config->routing_table.size(), static_cast<std::size_t>(keys + 1));
}

// Pointers escape "~" as "~0" and "/" as "~1" (RFC 6901); messages quote the raw key.
TEST(ConfigParse, EscapesPointerTokens) {
    expect_single_error({
        {"type error", doc_with(&Doc::routing_table, R"({"a/b~c": 1})").text(),
         "/routingTable/a~1b~0c", "expected a string, got number"},
        {"duplicate", doc_with(&Doc::routing_table, R"({"a/b": "x", "a/b": "x"})").text(),
         "/routingTable/a~1b", R"(duplicate key "a/b")"},
        {"quote in key", doc_with(&Doc::routing_table, R"({"a\"b": "x", "a\"b": "x"})").text(),
         "/routingTable/a\"b", R"(duplicate key "a\"b")"},
    });
}

// Several independent problems are all reported, in document order.
TEST(ConfigParse, ReportsEveryErrorTogether) {
    Doc doc;
    doc.version = "1";
    doc.routing_table = R"({"acme": 1, "acme": "x", "b": null})";
    doc.extra = R"("proxy": {"drain_timeout": "soon"})";
    EXPECT_EQ(problems(parse_config(doc.text()).errors),
              (Problems{{"/version", "expected a string, got number"},
                        {"/routingTable/acme", "expected a string, got number"},
                        {"/routingTable/acme", R"(duplicate key "acme")"},
                        {"/routingTable/b", "expected a string, got null"},
                        {"/proxy/drain_timeout",
                         R"(not a duration (e.g. "500ms", "10s", "1m", "1h"): "soon")"}}));
}

// Malformed JSON is one error at the document, with the 0-based byte offset and the reason.
TEST(ConfigParse, ReportsSyntaxErrorsWithOffset) {
    expect_single_error({
        {"open brace", "{", "",
         "syntax error at byte 1 (line 1, column 2): while parsing object key - unexpected end "
         "of input; expected string literal"},
        {"missing colon", R"({"a" 1})", "",
         "syntax error at byte 5 (line 1, column 6): while parsing object separator - unexpected "
         "number literal; expected ':'"},
        {"bare word", "x", "",
         "syntax error at byte 0 (line 1, column 1): while parsing value - invalid literal; last "
         "read: 'x'"},
        {"trailing garbage", "{} x", "",
         "syntax error at byte 3 (line 1, column 4): while parsing value - invalid literal; last "
         "read: '{} x'; expected end of input"},
        {"number overflow", R"({"a": 1e999})", "",
         "syntax error at byte 10: number overflow parsing '1e999'"},
    });
}

// Errors found before a syntax error are dropped: the text is not JSON at all.
TEST(ConfigParse, SyntaxErrorReplacesEarlierErrors) {
    const ParseResult result = parse_config(R"({"version": 1, "foo": 2,)");
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_TRUE(result.errors[0].message.starts_with("syntax error at byte 24 ("));
    EXPECT_TRUE(result.warnings.empty());
}

// Strings must be valid UTF-8.
TEST(ConfigParse, RejectsInvalidUtf8) {
    const ParseResult result = parse_config(doc_with(&Doc::version, "\"\xff\"").text());
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_EQ(result.errors[0].pointer, "");
    EXPECT_TRUE(result.errors[0].message.starts_with("syntax error at byte 13 ("))
        << result.errors[0].message;
}

// An empty or blank text (a file caught while being rewritten) is a clean error.
TEST(ConfigParse, RejectsEmptyDocument) {
    expect_single_error({
        {"empty", "", "", "document is empty"},
        {"blank", " \r\n\t ", "", "document is empty"},
    });
}

// Every strict prefix of a valid file (a half-written file) is rejected cleanly.
TEST(ConfigParse, RejectsEveryTruncation) {
    std::string text = with_extra(R"("proxy": {"max_header_bytes": 16384, "idle_timeout": "1m"},
        "foo": [1, -2.5e3, true, false, null, {"k": "\u00e9\n"}])")
                           .text();
    ASSERT_TRUE(parse_config(text).config.has_value());
    for (std::size_t size = 0; size < text.size(); ++size) {
        const ParseResult result = parse_config(std::string_view(text).substr(0, size));
        EXPECT_FALSE(result.config.has_value()) << size;
        ASSERT_EQ(result.errors.size(), 1u) << size;
        EXPECT_EQ(result.errors[0].pointer, "") << size;
        const std::string& message = result.errors[0].message;
        EXPECT_TRUE(message == "document is empty" || message.starts_with("syntax error at byte "))
            << size << ": " << message;
    }
}

// Nesting is bounded, so hostile input cannot grow the parser's stack without limit.
TEST(ConfigParse, RejectsDeepNesting) {
    const ParseResult result =
        parse_config(with_extra("\"foo\": " + std::string(100, '[') + std::string(100, ']')).text());
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_EQ(result.errors[0].message, "nested deeper than 64 levels");
    EXPECT_TRUE(result.errors[0].pointer.starts_with("/foo/0/0/0/"));
}

// parse_config reads plain routing tables with a scanner and everything else with the general
// parser; whatever the text, the result must be the general parser's: the same rows in the same
// order, the same errors and warnings.
void expect_same_as_general_parser(const std::string& name, const std::string& text) {
    const ParseResult scanned = parse_config(text);
    const ParseResult general = parse_config_generally(text);
    EXPECT_EQ(problems(scanned.errors), problems(general.errors)) << name << ": " << text;
    EXPECT_EQ(problems(scanned.warnings), problems(general.warnings)) << name << ": " << text;
    ASSERT_EQ(scanned.config.has_value(), general.config.has_value()) << name << ": " << text;
    if (scanned.config) {
        EXPECT_EQ(scanned.config->routing_table, general.config->routing_table) << name;
        EXPECT_EQ(scanned.config->version, general.config->version) << name;
        EXPECT_EQ(scanned.config->default_placement, general.config->default_placement) << name;
        EXPECT_EQ(scanned.config->placements.size(), general.config->placements.size()) << name;
    }
}

TEST(ConfigParse, ScannedRoutingTableMatchesTheGeneralParser) {
    const std::vector<std::pair<std::string, std::string>> tables = {
        {"plain", R"({"acme": "tier1", "visa": "visa"})"},
        {"spacing", " {\n\t\"acme\"\r\n :  \"tier1\" ,\"visa\":\"visa\"\n} "},
        {"empty", "{}"},
        {"empty with space", "{ \n }"},
        {"one key", R"({"acme":"tier1"})"},
        {"empty key", R"({"": "tier1"})"},
        {"unknown placement", R"({"acme": "nowhere"})"},
        {"escaped quote in key", R"({"ac\"me": "tier1"})"},
        {"escape spelling a repeated key", R"({"a": "tier1", "\u0061": "visa"})"},
        {"escaped value", R"({"acme": "tier\u0031"})"},
        {"non-ASCII key", "{\"caf\xc3\xa9\": \"tier1\"}"},
        {"invalid UTF-8 key", "{\"caf\xc3\": \"tier1\"}"},
        {"raw control character", "{\"ac\tme\": \"tier1\"}"},
        {"repeated key", R"({"acme": "tier1", "visa": "visa", "acme": "visa"})"},
        {"number value", R"({"acme": 1, "visa": "visa"})"},
        {"null value", R"({"acme": null})"},
        {"object value", R"({"acme": {"x": "y"}, "visa": "visa"})"},
        {"array value", R"({"acme": ["tier1"]})"},
        {"trailing comma", R"({"acme": "tier1",})"},
        {"missing colon", R"({"acme" "tier1"})"},
        {"missing comma", R"({"acme": "tier1" "visa": "visa"})"},
        {"unterminated", R"({"acme": "tier1)"},
        {"array", R"(["acme", "tier1"])"},
        {"string", R"("acme")"},
        {"number", "42"},
    };
    for (const auto& [name, table] : tables) {
        Doc doc;
        doc.routing_table = table;
        expect_same_as_general_parser(name, doc.text());
    }
    const std::vector<std::pair<std::string, std::string>> documents = {
        {"routingTable twice", R"({"version": "1", "routingTable": {"a": "tier1"}, "cellEndpoints": {"tier1": "http://t:1"},
            "defaultPlacement": "tier1", "routingTable": {"b": "tier1"}})"},
        {"routingTable nested in an unknown field first",
         R"({"foo": {"routingTable": {"x": 1}, "y": ["routingTable", {"routingTable": "}"}]}, "version": "1",
            "routingTable": {"a": "tier1"}, "cellEndpoints": {"tier1": "http://t:1"}, "defaultPlacement": "tier1"})"},
        {"escaped member name spelling routingTable",
         R"({"version": "1", "rout\u0069ngTable": {"a": "tier1"}, "cellEndpoints": {"tier1": "http://t:1"},
            "defaultPlacement": "tier1"})"},
        {"strings with brackets and escapes before the table",
         R"({"version": "1.0.0 {[\"\\", "routingTable": {"a": "tier1"}, "cellEndpoints": {"tier1": "http://t:1"},
            "defaultPlacement": "tier1"})"},
        {"trailing comma after the table", R"({"version": "1", "routingTable": {"a": "tier1"},})"},
        {"garbage after the document", R"({"version": "1", "routingTable": {"a": "tier1"}, "cellEndpoints": {"tier1": "http://t:1"},
            "defaultPlacement": "tier1"} x)"},
        {"two documents", R"({"routingTable": {"a": "tier1"}}{})"},
        {"unclosed document", R"({"version": "1", "routingTable": {"a": "tier1"})"},
        {"missing fields", R"({"routingTable": {"a": "tier1", "b": "tier2"}})"},
        {"wrong types elsewhere", R"({"version": 1, "routingTable": {"a": "tier1"}, "cellEndpoints": [],
            "defaultPlacement": "tier1", "proxy": {"max_header_bytes": -1}})"},
        {"deep nesting after the table", R"({"version": "1", "routingTable": {"a": "tier1"}, "foo": )" +
                                              std::string(100, '[') + std::string(100, ']') + "}"},
        {"only the table", R"({"routingTable": {}})"},
        {"empty object", "{}"},
        {"snapshot frame", R"({"type":"config_snapshot","revision":7,"version":"1","routingTable":{"a":"tier1"},
            "cellEndpoints":{"tier1":"http://t:1"},"defaultPlacement":"tier1"})"},
    };
    for (const auto& [name, text] : documents) {
        expect_same_as_general_parser(name, text);
    }
    Doc doc;
    doc.extra = R"("proxy": {"idle_timeout": "1m"}, "foo": [1, true, null, {"k": "\u00e9"}])";
    const std::string text = doc.text();
    for (std::size_t size = 0; size <= text.size(); ++size) {
        expect_same_as_general_parser("prefix of " + std::to_string(size) + " bytes", text.substr(0, size));
    }
}

// A large plain table, with a repeated key at its end: the scanner reads it and then hands the
// whole text to the general parser, which names the key.
TEST(ConfigParse, ScannedLargeTableMatchesTheGeneralParser) {
    std::string table = "{";
    for (int i = 0; i < 20'000; ++i) {
        table += "\"tenant-" + std::to_string(i) + "\": \"tier" + std::to_string(1 + i % 3) + "\", ";
    }
    Doc doc;
    doc.cell_endpoints = R"({"tier1": "http://a:1", "tier2": "http://b:1", "tier3": "http://c:1"})";
    doc.routing_table = table + "\"last\": \"tier1\"}";
    expect_same_as_general_parser("20k keys", doc.text());
    const ParseResult parsed = parse_config(doc.text());
    ASSERT_TRUE(parsed.config.has_value());
    ASSERT_EQ(parsed.config->routing_table.size(), 20'001u);
    EXPECT_EQ(parsed.config->routing_table[12'345], (std::pair<std::string, std::string>{"tenant-12345", "tier1"}));
    doc.routing_table = table + "\"tenant-17\": \"tier1\"}";
    expect_same_as_general_parser("20k keys, one repeated", doc.text());
}

}  // namespace
}  // namespace cell::config
