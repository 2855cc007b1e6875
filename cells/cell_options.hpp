#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cell::demo {

struct CellOptions {
  std::string name = "cell";
  std::uint16_t port = 9000;
  std::string listen_address = "0.0.0.0";
  double fail_rate = 0.0;
  unsigned threads = 1;
};

enum class OptionsAction { run, help, error };

struct OptionsResult {
  OptionsAction action = OptionsAction::run;
  CellOptions options;
  std::string error;  // set when action == error
};

// Injected so tests can fake the environment instead of mutating the process one.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// `args` excludes argv[0]. Flags win over environment variables, which win over defaults.
OptionsResult parse_options(const std::vector<std::string>& args, const EnvLookup& env);

EnvLookup process_environment();

std::string usage_text(const std::string& program);

}  // namespace cell::demo
