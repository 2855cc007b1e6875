#include "cell_options.hpp"

#include <gtest/gtest.h>

#include <map>

namespace cell::demo {
namespace {

EnvLookup fake_env(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    if (const auto it = values.find(name); it != values.end()) {
      return it->second;
    }
    return std::nullopt;
  };
}

OptionsResult parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  return parse_options(args, fake_env(std::move(env)));
}

TEST(CellOptions, DefaultsWithoutFlagsOrEnvironment) {
  const auto result = parse({});
  ASSERT_EQ(result.action, OptionsAction::run);
  EXPECT_EQ(result.options.name, "cell");
  EXPECT_EQ(result.options.port, 9000);
  EXPECT_EQ(result.options.listen_address, "0.0.0.0");
  EXPECT_DOUBLE_EQ(result.options.fail_rate, 0.0);
  EXPECT_EQ(result.options.threads, 1u);
}

TEST(CellOptions, ParsesEveryFlagInBothForms) {
  const auto result = parse({"--name", "cell-a", "--port=0", "--listen", "::1", "--fail-rate=0.25",
                             "--threads", "4"});
  ASSERT_EQ(result.action, OptionsAction::run) << result.error;
  EXPECT_EQ(result.options.name, "cell-a");
  EXPECT_EQ(result.options.port, 0);
  EXPECT_EQ(result.options.listen_address, "::1");
  EXPECT_DOUBLE_EQ(result.options.fail_rate, 0.25);
  EXPECT_EQ(result.options.threads, 4u);
}

TEST(CellOptions, EnvironmentFillsNameAndPort) {
  const auto result = parse({}, {{"CELL_NAME", "from-env"}, {"PORT", "8081"}});
  ASSERT_EQ(result.action, OptionsAction::run) << result.error;
  EXPECT_EQ(result.options.name, "from-env");
  EXPECT_EQ(result.options.port, 8081);
}

TEST(CellOptions, FlagsWinOverEnvironmentEvenWhenItIsInvalid) {
  const auto result = parse({"--name", "flag", "--port", "7000"}, {{"CELL_NAME", "bad name"}, {"PORT", "x"}});
  ASSERT_EQ(result.action, OptionsAction::run) << result.error;
  EXPECT_EQ(result.options.name, "flag");
  EXPECT_EQ(result.options.port, 7000);
}

TEST(CellOptions, EmptyEnvironmentValuesCountAsUnset) {
  const auto result = parse({}, {{"CELL_NAME", ""}, {"PORT", ""}});
  ASSERT_EQ(result.action, OptionsAction::run) << result.error;
  EXPECT_EQ(result.options.name, "cell");
  EXPECT_EQ(result.options.port, 9000);
}

TEST(CellOptions, InvalidEnvironmentIsAnError) {
  EXPECT_EQ(parse({}, {{"PORT", "70000"}}).action, OptionsAction::error);
  EXPECT_EQ(parse({}, {{"PORT", "12ab"}}).action, OptionsAction::error);
  const auto result = parse({}, {{"CELL_NAME", "has space"}});
  ASSERT_EQ(result.action, OptionsAction::error);
  EXPECT_NE(result.error.find("CELL_NAME"), std::string::npos);
}

TEST(CellOptions, HelpWins) {
  EXPECT_EQ(parse({"--port", "1", "--help"}).action, OptionsAction::help);
  EXPECT_EQ(parse({"-h"}).action, OptionsAction::help);
}

TEST(CellOptions, RejectsBadFlagsAndValues) {
  const std::vector<std::vector<std::string>> bad = {
      {"--bogus"},
      {"positional"},
      {"--name"},
      {"--name", ""},
      {"--name", "a\nb"},
      {"--name", std::string(129, 'n')},
      {"--port", "65536"},
      {"--port", "-1"},
      {"--port", "80x"},
      {"--port", ""},
      {"--listen", "localhost"},
      {"--listen", "1.2.3"},
      {"--fail-rate", "1.5"},
      {"--fail-rate", "-0.1"},
      {"--fail-rate", "nan"},
      {"--fail-rate", "half"},
      {"--threads", "0"},
      {"--threads", "1000"},
      {"--help=1"},
  };
  for (const auto& args : bad) {
    const auto result = parse(args);
    EXPECT_EQ(result.action, OptionsAction::error) << args.front();
    EXPECT_FALSE(result.error.empty()) << args.front();
  }
}

TEST(CellOptions, AcceptsBoundaryValues) {
  EXPECT_EQ(parse({"--fail-rate", "1"}).options.fail_rate, 1.0);
  EXPECT_EQ(parse({"--fail-rate", "0.0"}).action, OptionsAction::run);
  EXPECT_EQ(parse({"--port", "65535"}).options.port, 65535);
}

TEST(CellOptions, UsageDocumentsEveryFlag) {
  const std::string usage = usage_text("cell");
  for (const char* flag : {"--name", "--port", "--listen", "--fail-rate", "--threads", "--help",
                           "CELL_NAME", "PORT"}) {
    EXPECT_NE(usage.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace cell::demo
