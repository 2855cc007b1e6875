#include "cell/config/load.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
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

std::filesystem::path repo_path(const std::string& relative) {
    return std::filesystem::path(CELLROUTER_SOURCE_DIR) / relative;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

const Placement* find_placement(const Config& config, const std::string& name) {
    for (const Placement& placement : config.placements) {
        if (placement.name == name) {
            return &placement;
        }
    }
    return nullptr;
}

// The seed's files load unchanged: every placement gets its endpoint split and its kind.
TEST(ConfigLoad, LoadsSeedFiles) {
    for (const char* file :
         {"config/routing.json", "config/routing-local.json", "config/dataplane-initial.json", "config/dataplane-initial-local.json"}) {
        const LoadResult result = load_config(read_file(repo_path(file)));
        ASSERT_TRUE(result.ok()) << file << ": " << describe(result.errors);
        EXPECT_EQ(problems(result.errors), Problems{}) << file;
        EXPECT_EQ(problems(result.warnings), Problems{}) << file;
        EXPECT_EQ(result.config->placements.size(), 4u) << file;
        EXPECT_EQ(result.config->routing_table.size(), 4u) << file;
        EXPECT_EQ(result.config->default_placement, "tier3") << file;
    }
}

// The router's bootstrap file is the seed's, version 0.0.1, until the control plane pushes.
TEST(ConfigLoad, DataplaneInitialIsTheBootstrapVersion) {
    const LoadResult result = load_config(read_file(repo_path("config/dataplane-initial.json")));
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result.config->version, "0.0.1");
}

// load fills scheme, host and port of each endpoint from its URL.
TEST(ConfigLoad, FillsEndpoints) {
    const LoadResult result = load_config(read_file(repo_path("config/routing.json")));
    ASSERT_TRUE(result.ok());
    const Placement* visa = find_placement(*result.config, "visa");
    ASSERT_NE(visa, nullptr);
    EXPECT_EQ(visa->endpoint.url, "http://cell-visa:9004");
    EXPECT_EQ(visa->endpoint.scheme, "http");
    EXPECT_EQ(visa->endpoint.host, "cell-visa");
    EXPECT_EQ(visa->endpoint.port, 9004);
}

// IPv6 literals lose their brackets; https without a port defaults to 443.
TEST(ConfigLoad, FillsIpv6AndHttpsEndpoints) {
    const LoadResult result = load_config(R"({"version": "1", "routingTable": {},
        "cellEndpoints": {"tier1": "http://[::1]:9001", "secure": "https://cell-secure"},
        "defaultPlacement": "tier1"})");
    ASSERT_TRUE(result.ok()) << describe(result.errors);
    const Placement& v6 = result.config->placements[0];
    EXPECT_EQ(v6.endpoint.host, "::1");
    EXPECT_EQ(v6.endpoint.port, 9001);
    const Placement& secure = result.config->placements[1];
    EXPECT_EQ(secure.endpoint.scheme, "https");
    EXPECT_EQ(secure.endpoint.port, 443);
}

// A placement is a shared tier when its name starts with "tier" (case-sensitive), else dedicated.
TEST(ConfigLoad, AssignsPlacementKinds) {
    const LoadResult result = load_config(R"({"version": "1", "routingTable": {},
        "cellEndpoints": {"tier1": "http://a", "tier": "http://b", "visa": "http://c",
                          "Tier2": "http://d", "my-tier": "http://e"},
        "defaultPlacement": "tier1"})");
    ASSERT_TRUE(result.ok()) << describe(result.errors);
    const std::map<std::string, PlacementKind> expected = {
        {"tier1", PlacementKind::shared_tier}, {"tier", PlacementKind::shared_tier},
        {"visa", PlacementKind::dedicated},    {"Tier2", PlacementKind::dedicated},
        {"my-tier", PlacementKind::dedicated}};
    for (const auto& [name, kind] : expected) {
        const Placement* placement = find_placement(*result.config, name);
        ASSERT_NE(placement, nullptr) << name;
        EXPECT_EQ(placement->kind, kind) << name;
    }
}

// A control-plane snapshot (top-level "type") loads like a file.
TEST(ConfigLoad, LoadsControlPlaneSnapshot) {
    const LoadResult result = load_config(R"({"type": "config_snapshot", "version": "7",
        "routingTable": {"acme": "tier1"}, "cellEndpoints": {"tier1": "http://a:1"},
        "defaultPlacement": "tier1"})");
    ASSERT_TRUE(result.ok()) << describe(result.errors);
    EXPECT_EQ(result.config->version, "7");
    EXPECT_TRUE(result.warnings.empty());
}

// Warnings of a valid document are returned alongside its Config.
TEST(ConfigLoad, KeepsWarningsOnSuccess) {
    const LoadResult result = load_config(R"({"version": "1", "routingTable": {},
        "cellEndpoints": {"tier1": "http://a"}, "defaultPlacement": "tier1", "extra": 1})");
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(problems(result.warnings), (Problems{{"/extra", "unknown field, ignored"}}));
}

// Semantic errors leave no Config, and the parser's warnings are still reported.
TEST(ConfigLoad, ValidationErrorsLeaveNoConfig) {
    const LoadResult result = load_config(R"({"version": "", "routingTable": {"a": "tier9"},
        "cellEndpoints": {"tier1": "http://a"}, "defaultPlacement": "tier1", "extra": 1})");
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(problems(result.errors), (Problems{{"/version", "must not be empty"},
                                                 {"/routingTable/a", R"(unknown placement "tier9")"}}));
    EXPECT_EQ(problems(result.warnings), (Problems{{"/extra", "unknown field, ignored"}}));
}

// Parse errors stop before validation: a wrong type is not also reported as a semantic error.
TEST(ConfigLoad, ParseErrorsSkipValidation) {
    const LoadResult result = load_config(R"({"version": 1, "routingTable": {"a": "tier9"},
        "cellEndpoints": {"tier1": "http://a"}, "defaultPlacement": "tier1"})");
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(problems(result.errors), (Problems{{"/version", "expected a string, got number"}}));
}

// describe() renders "<pointer>: <message>" and joins several errors with "; ".
TEST(ConfigLoad, DescribesErrors) {
    const LoadResult result = load_config(R"({"version": "", "routingTable": {},
        "cellEndpoints": {"tier1": "http://a"}, "defaultPlacement": "tier2"})");
    EXPECT_EQ(describe(result.errors),
              R"(/version: must not be empty; /defaultPlacement: unknown placement "tier2")");
    EXPECT_EQ(describe(ConfigError{"", "document is empty"}), "document is empty");
}

// Each example in config/invalid/ is rejected, and its first error is the one it was made for.
TEST(ConfigLoad, RejectsEveryInvalidExample) {
    const std::map<std::string, std::pair<std::string, std::string>> expected = {
        {"bad-json.json",
         {"", "syntax error at byte 75 (line 5, column 12): while parsing object - unexpected "
              "string literal; expected '}'"}},
        {"truncated.json",
         {"", "syntax error at byte 88 (line 6, column 1): while parsing object key - "
              "unexpected end of input; expected string literal"}},
        {"empty.json", {"", "document is empty"}},
        {"unknown-placement.json", {"/routingTable/globex", R"(unknown placement "tier9")"}},
        {"unknown-default.json", {"/defaultPlacement", R"(unknown placement "tier3")"}},
        {"bad-url.json",
         {"/cellEndpoints/tier2",
          R"(not an absolute http(s) URL with a host: "ftp://cell-tier2:9002")"}},
        {"url-with-path.json",
         {"/cellEndpoints/tier1", R"(URL path must be empty or "/": "http://cell-tier1:9001/api")"}},
        {"bad-port.json",
         {"/cellEndpoints/tier1", R"(port must be between 1 and 65535: "http://cell-tier1:70000")"}},
        {"duplicate-key.json", {"/routingTable/acme", R"(duplicate key "acme")"}},
        {"wrong-type.json", {"/cellEndpoints/tier1", "expected a string, got number"}},
        {"empty-version.json", {"/version", "must not be empty"}},
        {"missing-default.json", {"/defaultPlacement", "required field is missing"}},
        {"no-endpoints.json", {"/cellEndpoints", "must define at least one placement"}},
        {"bad-proxy.json",
         {"/proxy/header_timeout", R"(not a duration (e.g. "500ms", "10s", "1m", "1h"): "10")"}},
    };
    std::size_t checked = 0;
    for (const auto& entry : std::filesystem::directory_iterator(repo_path("config/invalid"))) {
        const std::string name = entry.path().filename().string();
        if (entry.path().extension() != ".json") {
            continue;
        }
        const auto it = expected.find(name);
        ASSERT_NE(it, expected.end()) << "no expectation for config/invalid/" << name;
        const LoadResult result = load_config(read_file(entry.path()));
        EXPECT_FALSE(result.ok()) << name;
        ASSERT_FALSE(result.errors.empty()) << name;
        EXPECT_EQ(result.errors[0].pointer, it->second.first) << name;
        EXPECT_EQ(result.errors[0].message, it->second.second) << name;
        ++checked;
    }
    EXPECT_EQ(checked, expected.size()) << "an expected file is missing from config/invalid/";
}

}  // namespace
}  // namespace cell::config
