// cellctl: the operator's command line for the control plane (validate, diff, apply, history,
// rollback, status). Parses the command line, then hands over to cellctl::run_invocation.

#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cell/cellctl/commands.hpp"
#include "cell/cellctl/options.hpp"

namespace {

std::string hostname() {
    char name[HOST_NAME_MAX + 1] = {};
    if (::gethostname(name, sizeof name - 1) != 0) {
        return {};
    }
    return name;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace cell::cellctl;
    const std::vector<std::string> args(argv + 1, argv + argc);
    const cell::util::Environment environment = [](const char* name) -> std::optional<std::string> {
        const char* value = std::getenv(name);
        return value != nullptr ? std::optional<std::string>(value) : std::nullopt;
    };
    const auto parsed = parse_invocation(args, environment, applied_by_of(environment, hostname()));
    if (const auto* help = std::get_if<HelpRequested>(&parsed)) {
        std::cout << help->text;
        return exit_ok;
    }
    if (const auto* error = std::get_if<UsageError>(&parsed)) {
        std::cerr << "cellctl: " << error->message << "\n";
        return exit_error;
    }
    const auto& invocation = std::get<Invocation>(parsed);
    try {
        return run_invocation(invocation, network_exchange(invocation.global.timeout), std::cout, std::cerr);
    } catch (const std::exception& error) {
        std::cerr << "cellctl: " << error.what() << "\n";
        return exit_error;
    }
}
