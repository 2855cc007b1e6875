#pragma once
// The data plane's limits and timeouts after layering: built-in default < config file < flag.

#include <cstdint>

#include "cell/config/types.hpp"

namespace cell::config {

struct ProxySettings {
    std::uint32_t max_header_bytes = 16 * 1024;
    Duration header_timeout = std::chrono::seconds(10);
    Duration idle_timeout = std::chrono::seconds(60);
    Duration connect_timeout = std::chrono::seconds(5);
    Duration request_timeout = std::chrono::seconds(10);  // the response timeout: request sent -> response headers
    Duration drain_timeout = std::chrono::seconds(10);
    // Client connections open at once across all workers; more are answered 503 and closed.
    std::uint32_t max_connections = 100000;
};

// A flag set on the command line wins over the file, so an operator can pin a value while
// the rest of the file keeps hot-reloading.
ProxySettings resolve_proxy_settings(const ProxySettingsOverrides& from_file,
                                     const ProxySettingsOverrides& from_flags);

}  // namespace cell::config
