// What /metrics costs: recording one request on the request path (one thread, and several
// workers at once, each in its own shard), and rendering a scrape.
// Run: build/benchmarks/metrics_benchmark (Release), optionally --benchmark_repetitions=5.
#include <benchmark/benchmark.h>

#include <string>

#include "cell/admin/router_metrics.hpp"
#include "cell/config/load.hpp"
#include "cell/observability/process_metrics.hpp"
#include "cell/metrics/request_metrics.hpp"
#include "cell/routing/table.hpp"

namespace {

using namespace cell;

// `count` placements, each with a breaker, a health check and a concurrency limit.
routing::TableConstPtr make_table(int count) {
    std::string placements;
    for (int i = 0; i < count; ++i) {
        placements += (i ? "," : "") + std::string("\"p") + std::to_string(i) +
                      "\": {\"url\": \"http://c:1\", \"health_check\": {}, \"circuit_breaker\": {}, "
                      "\"concurrency_limit\": 100}";
    }
    const std::string text = R"({"version": "bench", "routingTable": {"acme": "p0"}, "placements": {)" + placements +
                             R"(}, "defaultPlacement": "p0"})";
    const auto loaded = config::load_config(text);
    return routing::Table::build(*loaded.config, config::ProxySettings{}, routing::TableOrigin{});
}

const routing::TableConstPtr& shared_table() {
    static const routing::TableConstPtr table = make_table(50);
    return table;
}

// One request recorded, as the session does at the end of each request.
void BM_RecordRequest(benchmark::State& state) {
    const auto& table = shared_table();
    metrics::WorkerMetrics metrics;
    metrics.bind(static_cast<unsigned>(state.thread_index()));
    metrics.prepare(*table);
    metrics::RequestSample sample;
    sample.routed = &table->placements()[static_cast<std::size_t>(state.thread_index()) % 50];
    sample.serving = sample.routed;
    sample.outcome = observability::Outcome::dedicated;
    sample.status = 200;
    sample.bytes_in = 512;
    sample.bytes_out = 4096;
    std::int64_t i = 0;
    for (auto _ : state) {
        sample.total = std::chrono::microseconds(300 + (i & 1023) * 10);
        sample.router_added = std::chrono::microseconds(20 + (i & 63));
        metrics.record(sample);
        ++i;
    }
}
BENCHMARK(BM_RecordRequest);
// Two workers recording into the same placement, each in its own shard.
BENCHMARK(BM_RecordRequest)->Threads(2);

// A whole scrape of 50 placements counted by 8 workers (no /proc read).
void BM_RenderScrape(benchmark::State& state) {
    const auto& table = shared_table();
    std::vector<std::unique_ptr<metrics::WorkerMetrics>> workers;
    admin::RouterMetricsSources sources;
    sources.table = table.get();
    for (unsigned w = 0; w < 8; ++w) {
        workers.push_back(std::make_unique<metrics::WorkerMetrics>());
        workers.back()->bind(w);
        workers.back()->prepare(*table);
        sources.workers.push_back(workers.back().get());
    }
    sources.now = std::chrono::system_clock::now();
    std::size_t bytes = 0;
    for (auto _ : state) {
        const std::string body = admin::render_router_metrics(sources);
        bytes = body.size();
        benchmark::DoNotOptimize(body.data());
    }
    state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_RenderScrape)->Unit(benchmark::kMicrosecond);

// The process_* metrics: five small reads of /proc per scrape.
void BM_ReadProcessMetrics(benchmark::State& state) {
    for (auto _ : state) {
        benchmark::DoNotOptimize(observability::read_process_metrics());
    }
}
BENCHMARK(BM_ReadProcessMetrics)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
