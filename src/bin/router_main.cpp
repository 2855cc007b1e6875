// cell-router: the data plane. Parses flags, then hands over to runtime::run_router.

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cell/runtime/router_app.hpp"
#include "cell/runtime/router_options.hpp"

int main(int argc, char** argv) {
    using namespace cell::runtime;
    const std::vector<std::string> args(argv + 1, argv + argc);
    const auto parsed = parse_router_options(args, [](const char* name) -> std::optional<std::string> {
        const char* value = std::getenv(name);
        return value != nullptr ? std::optional<std::string>(value) : std::nullopt;
    });
    if (std::holds_alternative<HelpRequested>(parsed)) {
        std::cout << router_usage();
        return 0;
    }
    if (const auto* error = std::get_if<OptionsError>(&parsed)) {
        std::cerr << "cell-router: " << error->message << "\n";
        return 2;
    }
    return run_router(std::get<RouterOptions>(parsed));
}
