// Config text -> parsed, validated Config -> routing table, for both formats the loader accepts
// ("cellEndpoints" URLs and "placements" with policies), as a file or as a control-plane
// snapshot frame. Beyond "no crash, no leak, no undefined behaviour", it checks what the rest of
// the router relies on:
//   - load_config succeeds exactly when it reports no error, and an error always has text;
//   - a loaded config passes validate_config again and builds a table without throwing;
//   - every routing key routes to its placement, any other key to the default placement;
//   - every fallback chain ends;
//   - the frame the control plane makes of a valid file (encode_snapshot) loads to the same
//     config on the router;
//   - parse_config, with its scanner for plain routing tables, returns what the general parser
//     alone returns: the same config, errors and warnings.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "cell/config/errors.hpp"
#include "cell/config/load.hpp"
#include "cell/config/parse.hpp"
#include "cell/config/proxy_settings.hpp"
#include "cell/config/validate.hpp"
#include "cell/controlplane/protocol.hpp"
#include "cell/routing/table.hpp"
#include "check.hpp"

namespace {

using namespace cell;

void check_table(const config::Config& config) {
    const config::ProxySettings settings = config::resolve_proxy_settings(config.proxy, {});
    FUZZ_CHECK(settings.max_header_bytes >= config::min_max_header_bytes &&
                   settings.max_header_bytes <= config::max_max_header_bytes,
               "a loaded config keeps max_header_bytes within its bounds");
    const auto table = routing::Table::build(config, settings, routing::TableOrigin{"file", "", "", {}});
    FUZZ_CHECK(table->routing_key_count() == config.routing_table.size(), "every routing key is in the table");
    for (const auto& [key, placement] : config.routing_table) {
        const routing::RouteDecision route = table->route(key);
        FUZZ_CHECK(route.placement != nullptr && route.placement->name == placement,
                   "a routing key routes to its own placement");
        FUZZ_CHECK(route.reason != routing::RouteReason::default_placement, "a known key is not routed by default");
    }
    const routing::RouteDecision unknown = table->route(std::string_view("\x01 not a configured key", 22));
    FUZZ_CHECK(unknown.placement == &table->default_placement(), "an unknown key goes to the default placement");
    FUZZ_CHECK(table->default_placement().name == config.default_placement, "the default placement is the named one");
    const std::size_t placements = table->placements().size();
    for (const routing::PlacementTarget& start : table->placements()) {
        std::size_t steps = 0;
        for (const routing::PlacementTarget* at = &start; at != nullptr; at = table->fallback_of(*at)) {
            FUZZ_CHECK(++steps <= placements, "a fallback chain ends");
        }
        FUZZ_CHECK(start.endpoint.port != 0 && !start.endpoint.host.empty(), "a loaded endpoint has host and port");
    }
}

// The same meaning, whatever the order of keys: a re-serialized frame lists them sorted.
bool same_config(const config::Config& a, const config::Config& b) {
    auto rows = [](const config::Config& c) {
        auto sorted = c.routing_table;
        std::sort(sorted.begin(), sorted.end());
        return sorted;
    };
    if (a.version != b.version || a.default_placement != b.default_placement || rows(a) != rows(b) ||
        a.placements.size() != b.placements.size()) {
        return false;
    }
    for (const config::Placement& x : a.placements) {
        const auto found = std::find_if(b.placements.begin(), b.placements.end(),
                                        [&](const config::Placement& y) { return y.name == x.name; });
        if (found == b.placements.end()) {
            return false;
        }
        const config::Placement& y = *found;
        if (x.endpoint.url != y.endpoint.url || x.kind != y.kind || x.fallback != y.fallback ||
            x.concurrency_limit != y.concurrency_limit || x.max_request_body_bytes != y.max_request_body_bytes ||
            x.connect_timeout != y.connect_timeout || x.response_timeout != y.response_timeout ||
            x.health_check.has_value() != y.health_check.has_value() ||
            x.circuit_breaker.has_value() != y.circuit_breaker.has_value() ||
            x.rate_limit.has_value() != y.rate_limit.has_value()) {
            return false;
        }
        if (x.rate_limit && (x.rate_limit->requests_per_second != y.rate_limit->requests_per_second ||
                             x.rate_limit->burst != y.rate_limit->burst)) {
            return false;
        }
    }
    return a.proxy.max_header_bytes == b.proxy.max_header_bytes && a.proxy.header_timeout == b.proxy.header_timeout &&
           a.proxy.idle_timeout == b.proxy.idle_timeout && a.proxy.connect_timeout == b.proxy.connect_timeout &&
           a.proxy.request_timeout == b.proxy.request_timeout && a.proxy.drain_timeout == b.proxy.drain_timeout;
}

bool same_errors(const config::ConfigErrors& a, const config::ConfigErrors& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const config::ConfigError& x, const config::ConfigError& y) {
        return x.pointer == y.pointer && x.message == y.message;
    });
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    const config::ParseResult parsed = config::parse_config(text);
    FUZZ_CHECK(parsed.config.has_value() == parsed.errors.empty(), "parse_config returns a config or errors");
    const config::ParseResult general = config::parse_config_generally(text);
    FUZZ_CHECK(same_errors(parsed.errors, general.errors) && same_errors(parsed.warnings, general.warnings),
               "the routing table's scanner changes no error and no warning");
    FUZZ_CHECK(parsed.config.has_value() == general.config.has_value() &&
                   (!parsed.config || (parsed.config->routing_table == general.config->routing_table &&
                                       same_config(*parsed.config, *general.config))),
               "the routing table's scanner reads the config the general parser reads");

    const config::LoadResult loaded = config::load_config(text);
    FUZZ_CHECK(loaded.ok() == loaded.errors.empty(), "load_config returns a config or errors");
    FUZZ_CHECK(!parsed.config || !loaded.ok() || parsed.config->routing_table == loaded.config->routing_table,
               "loading keeps the parsed routing table");
    if (!loaded.ok()) {
        FUZZ_CHECK(!config::describe(loaded.errors).empty(), "a rejected config says why");
        return 0;
    }
    FUZZ_CHECK(parsed.config.has_value(), "a loaded config parsed");
    FUZZ_CHECK(config::validate_config(*loaded.config).empty(), "a loaded config validates again");
    check_table(*loaded.config);

    const std::string frame = controlplane::encode_snapshot(text);
    FUZZ_CHECK(!frame.empty(), "a valid config document becomes a snapshot frame");
    const config::LoadResult received = config::load_config(frame);
    FUZZ_CHECK(received.ok(), "the snapshot frame of a valid config loads on the router");
    FUZZ_CHECK(same_config(*loaded.config, *received.config), "the snapshot frame carries the same config");
    return 0;
}
