// cell-control-plane: pushes the routing config to the routers. Parses flags, then hands over
// to controlplane::run_control_plane.

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cell/controlplane/control_plane_options.hpp"
#include "cell/controlplane/server.hpp"
#include "cell/util/freed_memory.hpp"

int main(int argc, char** argv) {
    using namespace cell::controlplane;
    // Each upload of a large config would otherwise fault its few hundred MB in afresh.
    cell::util::keep_freed_memory(std::size_t{512} << 20);
    const std::vector<std::string> args(argv + 1, argv + argc);
    const auto parsed = parse_control_plane_options(args, [](const char* name) -> std::optional<std::string> {
        const char* value = std::getenv(name);
        return value != nullptr ? std::optional<std::string>(value) : std::nullopt;
    });
    if (std::holds_alternative<ControlPlaneHelpRequested>(parsed)) {
        std::cout << control_plane_usage();
        return 0;
    }
    if (const auto* error = std::get_if<ControlPlaneOptionsError>(&parsed)) {
        std::cerr << "cell-control-plane: " << error->message << "\n";
        return 2;
    }
    return run_control_plane(std::get<ControlPlaneOptions>(parsed));
}
