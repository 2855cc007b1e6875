// What M4's checks add to one request: choosing the serving placement (health + breaker along
// the fallback chain), the rate-limit token, the concurrency slot, and recording the outcome.
// Run: build/benchmarks/resilience_benchmark (Release), optionally --benchmark_repetitions=5.
#include <benchmark/benchmark.h>

#include <string>

#include "cell/config/load.hpp"
#include "cell/routing/failover.hpp"
#include "cell/routing/table.hpp"

namespace {

using namespace cell;

const char* const policy_config = R"({
    "version": "bench", "routingTable": {"acme": "tier1", "plain": "plain"},
    "placements": {
        "tier1": {"url": "http://a:1", "fallback": "tier3", "health_check": {},
                  "circuit_breaker": {"failure_threshold": 5, "timeout": "30s"}, "concurrency_limit": 1000000,
                  "max_request_body_bytes": 10485760, "rate_limit": {"requests_per_second": 1e9, "burst": 1000000000}},
        "tier3": {"url": "http://c:1", "health_check": {}, "circuit_breaker": {}},
        "plain": {"url": "http://p:1"}},
    "defaultPlacement": "tier3"})";

routing::TableConstPtr make_table() {
    const auto loaded = config::load_config(policy_config);
    return routing::Table::build(*loaded.config, config::ProxySettings{}, routing::TableOrigin{});
}

const routing::TableConstPtr& shared_table() {
    static const routing::TableConstPtr table = make_table();
    return table;
}

// Everything the request path does for a placement with every policy on, minus the I/O.
void resilience_checks(const routing::Table& table, std::string_view key) {
    const auto now = resilience::SteadyClock::now();
    const routing::RouteDecision route = table.route(key);
    const routing::PlacementChoice choice = routing::choose_placement(table, *route.placement, now);
    const routing::PlacementTarget& serving = *choice.serving;
    const routing::PlacementPolicy& policy = serving.policy;
    if (policy.rate_limit) {
        benchmark::DoNotOptimize(serving.state->rate_limiter.try_acquire(*policy.rate_limit, now));
    }
    resilience::ConcurrencySlot slot;
    if (policy.concurrency_limit && serving.state->concurrency.try_acquire(*policy.concurrency_limit)) {
        slot = resilience::ConcurrencySlot(&serving.state->concurrency);
    }
    if (policy.circuit_breaker) {
        serving.state->breaker.record(choice.permit, resilience::Outcome::success, *policy.circuit_breaker,
                                      resilience::SteadyClock::now());
    }
}

// The M1 path for comparison: the table lookup alone.
void BM_RouteOnly(benchmark::State& state) {
    const auto& table = *shared_table();
    for (auto _ : state) {
        benchmark::DoNotOptimize(table.route("acme"));
    }
}
BENCHMARK(BM_RouteOnly);

// Every policy on: the figure docs/milestones/m4-resilience.md quotes.
void BM_RouteWithAllChecks(benchmark::State& state) {
    const auto& table = *shared_table();
    for (auto _ : state) {
        resilience_checks(table, "acme");
    }
}
BENCHMARK(BM_RouteWithAllChecks);
// The same from several threads at once: the placement state is shared, so this shows the
// cost of contended atomics (on a 2-core machine, 2 threads is the honest maximum).
BENCHMARK(BM_RouteWithAllChecks)->Threads(2);

// A placement without policy: what the old config format pays.
void BM_RouteWithoutPolicy(benchmark::State& state) {
    const auto& table = *shared_table();
    for (auto _ : state) {
        resilience_checks(table, "plain");
    }
}
BENCHMARK(BM_RouteWithoutPolicy);

}  // namespace

BENCHMARK_MAIN();
