// What diff_configs costs on large tables: the control plane runs it on every PUT /config and
// POST /config/diff, and `cellctl diff` shows its result. Tables are built in memory (no parsing),
// so the figure is the diff alone.
//
// Run: build/benchmarks/config_diff_benchmark [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <random>
#include <string>

#include "cell/controlplane/config_diff.hpp"

namespace {

using namespace cell;

config::Config table_config(std::size_t keys) {
    config::Config config;
    config.version = "1.0.0";
    config.default_placement = "tier1";
    for (const char* name : {"tier1", "tier2", "tier3", "tier4"}) {
        config::Placement placement;
        placement.name = name;
        placement.endpoint.url = std::string("http://") + name + ":9000";
        config.placements.push_back(std::move(placement));
    }
    config.routing_table.reserve(keys);
    for (std::size_t i = 0; i < keys; ++i) {
        config.routing_table.emplace_back("tenant-" + std::to_string(i), "tier" + std::to_string(1 + i % 4));
    }
    return config;
}

// The new table moves every tenth key and removes and adds 1% of them; with `shuffled`, every
// key is also at a different position, so no key is matched by its position.
config::Config changed(const config::Config& from, bool shuffled) {
    config::Config to = from;
    to.version = "1.1.0";
    for (std::size_t i = 0; i < to.routing_table.size(); i += 10) {
        to.routing_table[i].second = to.routing_table[i].second == "tier1" ? "tier2" : "tier1";
    }
    const std::size_t churn = from.routing_table.size() / 100;
    to.routing_table.erase(to.routing_table.begin() + static_cast<std::ptrdiff_t>(to.routing_table.size() / 2),
                           to.routing_table.begin() + static_cast<std::ptrdiff_t>(to.routing_table.size() / 2 + churn));
    for (std::size_t i = 0; i < churn; ++i) {
        to.routing_table.emplace_back("new-tenant-" + std::to_string(i), "tier3");
    }
    if (shuffled) {
        std::mt19937_64 random(42);
        std::shuffle(to.routing_table.begin(), to.routing_table.end(), random);
    }
    return to;
}

void run_diff(benchmark::State& state, bool shuffled) {
    const auto keys = static_cast<std::size_t>(state.range(0));
    const config::Config from = table_config(keys);
    const config::Config to = changed(from, shuffled);
    for (auto _ : state) {
        auto diff = controlplane::diff_configs(from, to);
        benchmark::DoNotOptimize(diff);
    }
    state.counters["keys"] = static_cast<double>(keys);
}

void BM_DiffSameOrder(benchmark::State& state) { run_diff(state, false); }
void BM_DiffShuffled(benchmark::State& state) { run_diff(state, true); }

void BM_DiffIdentical(benchmark::State& state) {
    const config::Config config = table_config(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) {
        auto diff = controlplane::diff_configs(config, config);
        benchmark::DoNotOptimize(diff);
    }
}

BENCHMARK(BM_DiffSameOrder)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DiffShuffled)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DiffIdentical)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
