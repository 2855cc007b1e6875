// cellctl's command line: commands, positional arguments, global flags anywhere, the
// environment, and every usage error it must explain.

#include <gtest/gtest.h>

#include <map>

#include "cell/cellctl/http_client.hpp"
#include "cell/cellctl/options.hpp"

namespace cell::cellctl {
namespace {

using namespace std::chrono_literals;

ParsedInvocation parse(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}) {
    return parse_invocation(
        args,
        [env](const char* name) -> std::optional<std::string> {
            const auto it = env.find(name);
            return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
        },
        "alice@host1");
}

Invocation ok(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}) {
    auto parsed = parse(args, env);
    if (const auto* error = std::get_if<UsageError>(&parsed)) {
        ADD_FAILURE() << error->message;
        return {};
    }
    if (!std::holds_alternative<Invocation>(parsed)) {
        ADD_FAILURE() << "help instead of an invocation";
        return {};
    }
    return std::get<Invocation>(parsed);
}

std::string error_of(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}) {
    auto parsed = parse(args, env);
    const auto* error = std::get_if<UsageError>(&parsed);
    return error != nullptr ? error->message : "(no error)";
}

TEST(CellctlOptions, Defaults) {
    const auto invocation = ok({"status"});
    EXPECT_EQ(invocation.command, Command::status);
    EXPECT_EQ(invocation.global.control_planes, std::vector<std::string>{"http://127.0.0.1:8081"});
    EXPECT_FALSE(invocation.global.json);
    EXPECT_EQ(invocation.global.timeout, 30s);
    EXPECT_EQ(invocation.applied_by, "alice@host1");
}

TEST(CellctlOptions, GlobalFlagsAnywhere) {
    const auto before = ok({"--json", "--control-plane", "http://a:1,http://b:2", "--timeout=5s", "history"});
    const auto after = ok({"history", "--timeout", "5s", "--control-plane=http://a:1,http://b:2", "--json"});
    for (const auto& invocation : {before, after}) {
        EXPECT_EQ(invocation.command, Command::history);
        EXPECT_TRUE(invocation.global.json);
        EXPECT_EQ(invocation.global.timeout, 5s);
        EXPECT_EQ(invocation.global.control_planes, (std::vector<std::string>{"http://a:1", "http://b:2"}));
    }
}

TEST(CellctlOptions, EnvironmentNamesControlPlanesAndFlagWins) {
    EXPECT_EQ(ok({"status"}, {{"CELLCTL_CONTROL_PLANE", "http://cp1:8081,http://cp2:8081"}}).global.control_planes,
              (std::vector<std::string>{"http://cp1:8081", "http://cp2:8081"}));
    EXPECT_EQ(ok({"status", "--control-plane", "http://x:1"}, {{"CELLCTL_CONTROL_PLANE", "http://cp1:8081"}})
                  .global.control_planes,
              std::vector<std::string>{"http://x:1"});
    EXPECT_NE(error_of({"status"}, {{"CELLCTL_CONTROL_PLANE", "ftp://x"}})
                  .find("environment variable CELLCTL_CONTROL_PLANE=ftp://x: invalid control plane URL"),
              std::string::npos);
}

TEST(CellctlOptions, ApplyWithEveryFlag) {
    const auto invocation = ok({"apply", "routing.json", "--reason", "move acme", "--force", "--max-moved-keys", "25%",
                                "--expected-revision", "42", "--applied-by", "ci@runner"});
    EXPECT_EQ(invocation.command, Command::apply);
    EXPECT_EQ(invocation.file, "routing.json");
    EXPECT_EQ(invocation.reason, "move acme");
    EXPECT_TRUE(invocation.force);
    EXPECT_EQ(invocation.max_moved_keys, "25%");
    EXPECT_EQ(invocation.expected_revision, 42u);
    EXPECT_EQ(invocation.applied_by, "ci@runner");
}

TEST(CellctlOptions, RollbackAndHistory) {
    const auto rollback = ok({"rollback", "12", "--reason", "bad push"});
    EXPECT_EQ(rollback.command, Command::rollback);
    EXPECT_EQ(rollback.revision, 12u);
    EXPECT_EQ(ok({"history", "--limit", "5"}).limit, 5u);
    EXPECT_FALSE(ok({"history"}).limit.has_value());
}

TEST(CellctlOptions, ForceWithoutReasonIsRefused) {
    const auto message = error_of({"apply", "f.json", "--force"});
    EXPECT_NE(message.find("--force needs --reason"), std::string::npos) << message;
    EXPECT_NE(error_of({"rollback", "3", "--force"}).find("--force needs --reason"), std::string::npos);
}

TEST(CellctlOptions, UsageErrors) {
    EXPECT_NE(error_of({}).find("no command given"), std::string::npos);
    EXPECT_NE(error_of({"deploy"}).find("unknown command 'deploy'"), std::string::npos);
    EXPECT_NE(error_of({"apply"}).find("apply needs a config FILE"), std::string::npos);
    EXPECT_NE(error_of({"validate", "a", "b"}).find("unexpected argument 'b'"), std::string::npos);
    EXPECT_NE(error_of({"status", "--force"}).find("status does not take --force"), std::string::npos);
    EXPECT_NE(error_of({"diff", "f", "--limit", "3"}).find("diff does not take --limit"), std::string::npos);
    EXPECT_NE(error_of({"diff", "f", "--max-moved-keys", "lots"}).find("invalid moved-keys limit \"lots\""),
              std::string::npos);
    EXPECT_NE(error_of({"diff", "f", "--max-moved-keys"}).find("option --max-moved-keys needs a value"),
              std::string::npos);
    EXPECT_NE(error_of({"apply", "f", "--expected-revision", "-1"}).find("must be a revision number"), std::string::npos);
    EXPECT_NE(error_of({"rollback", "zero"}).find("REVISION must be a positive number"), std::string::npos);
    EXPECT_NE(error_of({"rollback", "0"}).find("REVISION must be a positive number"), std::string::npos);
    EXPECT_NE(error_of({"history", "--limit", "0"}).find("from 1 to 1000000"), std::string::npos);
    EXPECT_NE(error_of({"status", "--timeout", "never"}).find("positive duration"), std::string::npos);
    EXPECT_NE(error_of({"status", "--json=yes"}).find("--json takes no value"), std::string::npos);
    EXPECT_NE(error_of({"status", "--verbose"}).find("unknown option '--verbose' (see cellctl status --help)"),
              std::string::npos);
    EXPECT_NE(error_of({"status", "--control-plane", "http://a:1,"}).find("an empty URL"), std::string::npos);
    EXPECT_NE(error_of({"status", "--control-plane", "https://a:1"}).find("only http is supported"), std::string::npos);
    EXPECT_NE(error_of({"status", "--control-plane", "http://a:1/api"}).find("must not contain a path"),
              std::string::npos);
    EXPECT_NE(error_of({"status", "--control-plane", "a:1"}).find("only http is supported"), std::string::npos);
}

TEST(CellctlOptions, HelpForEachCommand) {
    auto parsed = parse({"--help"});
    ASSERT_TRUE(std::holds_alternative<HelpRequested>(parsed));
    const auto& general = std::get<HelpRequested>(parsed).text;
    EXPECT_NE(general.find("Exit codes:"), std::string::npos);
    EXPECT_NE(general.find("CELLCTL_CONTROL_PLANE"), std::string::npos);
    parsed = parse({"apply", "--help"});
    ASSERT_TRUE(std::holds_alternative<HelpRequested>(parsed));
    const auto& apply = std::get<HelpRequested>(parsed).text;
    EXPECT_NE(apply.find("Usage: cellctl apply FILE"), std::string::npos);
    EXPECT_NE(apply.find("--expected-revision N"), std::string::npos);
    EXPECT_NE(apply.find("--force"), std::string::npos);
    parsed = parse({"history", "-h"});
    ASSERT_TRUE(std::holds_alternative<HelpRequested>(parsed));
    EXPECT_NE(std::get<HelpRequested>(parsed).text.find("--limit N"), std::string::npos);
}

TEST(CellctlOptions, AppliedByFromUserAndHost) {
    const util::Environment with_user = [](const char* name) -> std::optional<std::string> {
        return std::string(name) == "USER" ? std::optional<std::string>("bob") : std::nullopt;
    };
    const util::Environment without = [](const char*) -> std::optional<std::string> { return std::nullopt; };
    EXPECT_EQ(applied_by_of(with_user, "ops-1"), "bob@ops-1");
    EXPECT_EQ(applied_by_of(without, ""), "unknown@unknown");
}

TEST(CellctlHttpClient, BaseUrlAndTargets) {
    const auto parsed = parse_base_url("http://127.0.0.1:8081/");
    ASSERT_TRUE(std::holds_alternative<BaseUrl>(parsed));
    const auto& base = std::get<BaseUrl>(parsed);
    EXPECT_EQ(base.text, "http://127.0.0.1:8081");
    EXPECT_EQ(base.host, "127.0.0.1");
    EXPECT_EQ(base.port, "8081");
    EXPECT_EQ(base.authority, "127.0.0.1:8081");
    const auto ipv6 = std::get<BaseUrl>(parse_base_url("http://[::1]"));
    EXPECT_EQ(ipv6.host, "::1");
    EXPECT_EQ(ipv6.port, "80");
    EXPECT_EQ(make_target("/status"), "/status");
    EXPECT_EQ(make_target("/config", {{"expected_revision", "7"}, {"reason", "a+b & 10% c=d/é"}}),
              "/config?expected_revision=7&reason=a%2Bb%20%26%2010%25%20c%3Dd%2F%C3%A9");
}

}  // namespace
}  // namespace cell::cellctl
