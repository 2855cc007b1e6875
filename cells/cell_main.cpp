#include "cell_options.hpp"
#include "cell_server.hpp"

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  using namespace cell::demo;
  const std::string program = argc > 0 ? argv[0] : "cell";
  const std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  const OptionsResult parsed = parse_options(args, process_environment());
  switch (parsed.action) {
    case OptionsAction::help:
      std::fputs(usage_text(program).c_str(), stdout);
      return 0;
    case OptionsAction::error:
      std::fprintf(stderr, "%s: %s\nTry '%s --help' for the list of options.\n", program.c_str(),
                   parsed.error.c_str(), program.c_str());
      return 2;
    case OptionsAction::run:
      break;
  }
  try {
    return run_cell_server(parsed.options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: fatal: %s\n", program.c_str(), e.what());
    return 1;
  }
}
