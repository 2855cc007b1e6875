// How the routing table scales to a million keys: the lookup (mean, and p50/p99 of single
// lookups, and its p99 against one random access into memory of the table's size), what taking the table snapshot costs a request, parse + validate + build time, what
// a reload and a poll of an unchanged file cost, freeing a table, and the built table's memory
// per key.
//
// Run: scripts/bench-table.sh, which generates the tables with bench/gen-table.py first.
// Directly: TABLE_BENCH_DIR=DIR build/benchmarks/table_benchmark [--benchmark_filter=...], where
// DIR holds table-<N>.json for every N in TABLE_BENCH_KEYS (default "10000 100000 1000000").
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "cell/config/load.hpp"
#include "cell/reload/table_loader.hpp"
#include "cell/routing/snapshot.hpp"
#include "cell/routing/table.hpp"
#include "cell/util/sha256.hpp"

namespace {

using namespace cell;

constexpr std::size_t latency_samples = 1'000'000;

// Routing keys copied, in the order they are looked up, into one contiguous buffer: a request's
// key sits in its freshly parsed header, in cache, so reading the key must not itself miss and
// be charged to the table.
class PackedKeys {
public:
    explicit PackedKeys(const std::vector<std::string>& keys) {
        std::size_t bytes = 0;
        for (const auto& key : keys) {
            bytes += key.size();
        }
        buffer_.reserve(bytes);
        for (const auto& key : keys) {
            buffer_ += key;
        }
        views_.reserve(keys.size());
        std::size_t offset = 0;
        for (const auto& key : keys) {
            views_.emplace_back(buffer_.data() + offset, key.size());
            offset += key.size();
        }
    }
    const std::vector<std::string_view>& views() const { return views_; }

private:
    std::string buffer_;
    std::vector<std::string_view> views_;
};

// One generated routing file, loaded once and shared by every benchmark of its size.
struct Corpus {
    std::size_t key_count = 0;
    std::string path;
    std::string text;
    config::Config config;
    routing::TableConstPtr table;
    std::unique_ptr<PackedKeys> known;    // every key of the table, shuffled
    std::unique_ptr<PackedKeys> unknown;  // as many keys of the same shape the table lacks
};

std::string read_whole_file(const std::string& path) {
    auto text = reload::read_file(path);
    if (auto* failure = std::get_if<reload::LoadFailure>(&text)) {
        std::fprintf(stderr, "table_benchmark: %s\n", failure->reason.c_str());
        std::exit(2);
    }
    return std::move(std::get<std::string>(text));
}

std::vector<std::string> absent_keys(const config::Config& config, std::size_t count) {
    std::unordered_set<std::string_view> present;
    present.reserve(config.routing_table.size());
    for (const auto& row : config.routing_table) {
        present.insert(row.first);
    }
    // The generator's shape ("tenant-" and 6 to 16 letters or digits), so hashing and
    // comparing cost the same as for known keys.
    static constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::mt19937_64 random(42);
    std::vector<std::string> keys;
    keys.reserve(count);
    while (keys.size() < count) {
        std::string key = "tenant-";
        const std::size_t letters = 6 + random() % 11;
        for (std::size_t i = 0; i < letters; ++i) {
            key += alphabet[random() % alphabet.size()];
        }
        if (!present.contains(key)) {
            keys.push_back(std::move(key));
        }
    }
    return keys;
}

// Loads DIR/table-<N>.json, builds its table, and checks that the known keys route to their
// placements and the unknown ones to the default, so the lookups measured are the intended ones.
std::unique_ptr<Corpus> load_corpus(const std::string& dir, std::size_t key_count) {
    auto corpus = std::make_unique<Corpus>();
    corpus->key_count = key_count;
    corpus->path = dir + "/table-" + std::to_string(key_count) + ".json";
    corpus->text = read_whole_file(corpus->path);
    auto loaded = config::load_config(corpus->text);
    if (!loaded.ok()) {
        std::fprintf(stderr, "table_benchmark: %s is not a valid routing file: %s\n", corpus->path.c_str(),
                     config::describe(loaded.errors).c_str());
        std::exit(2);
    }
    corpus->config = std::move(*loaded.config);
    if (corpus->config.routing_table.size() != key_count) {
        std::fprintf(stderr, "table_benchmark: %s has %zu routing keys, expected %zu\n", corpus->path.c_str(),
                     corpus->config.routing_table.size(), key_count);
        std::exit(2);
    }
    corpus->table = routing::Table::build(corpus->config, config::ProxySettings{}, routing::TableOrigin{});

    std::vector<std::string> known;
    known.reserve(key_count);
    for (const auto& row : corpus->config.routing_table) {
        known.push_back(row.first);
    }
    std::shuffle(known.begin(), known.end(), std::mt19937_64(7));
    const std::vector<std::string> unknown = absent_keys(corpus->config, key_count);
    for (const auto& key : known) {
        if (corpus->table->route(key).reason == routing::RouteReason::default_placement) {
            std::fprintf(stderr, "table_benchmark: known key %s routes to the default\n", key.c_str());
            std::exit(2);
        }
    }
    for (const auto& key : unknown) {
        if (corpus->table->route(key).reason != routing::RouteReason::default_placement) {
            std::fprintf(stderr, "table_benchmark: unknown key %s is routed\n", key.c_str());
            std::exit(2);
        }
    }
    corpus->known = std::make_unique<PackedKeys>(known);
    corpus->unknown = std::make_unique<PackedKeys>(unknown);
    return corpus;
}

// --- lookups -------------------------------------------------------------------------------------

// Back-to-back lookups: the mean, with successive lookups free to overlap in the CPU.
void route_throughput(benchmark::State& state, const Corpus& corpus, const PackedKeys& keys) {
    const routing::Table& table = *corpus.table;
    const auto& views = keys.views();
    std::size_t next = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(table.route(views[next]));
        if (++next == views.size()) {
            next = 0;
        }
    }
    state.counters["keys"] = static_cast<double>(corpus.key_count);
}

// A timestamp for timing one lookup. On x86 the TSC, fenced so the lookup can neither start
// before the first reading nor finish after the second; elsewhere the steady clock.
inline std::uint64_t fenced_ticks() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_lfence();
    const std::uint64_t ticks = __rdtsc();
    _mm_lfence();
    return ticks;
#else
    return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
}

double nanoseconds_per_tick() {
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    const std::uint64_t first = fenced_ticks();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const std::uint64_t last = fenced_ticks();
    const auto elapsed = std::chrono::duration<double, std::nano>(clock::now() - start).count();
    return elapsed / static_cast<double>(last - first);
}

std::uint64_t percentile(std::vector<std::uint64_t>& sorted, double fraction) {
    const auto index = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size() - 1));
    return sorted[index];
}

// What reading the clock twice costs, in ticks: the median of `scratch.size()` back-to-back
// readings, to be subtracted from every timed sample.
std::uint64_t clock_reading_cost(std::vector<std::uint64_t>& scratch) {
    for (auto& sample : scratch) {
        const std::uint64_t start = fenced_ticks();
        const std::uint64_t end = fenced_ticks();
        sample = end - start;
    }
    std::sort(scratch.begin(), scratch.end());
    return percentile(scratch, 0.5);
}

// Times each lookup on its own and reports the distribution. The cost of reading the clock
// (the median of the same loop with nothing between the two readings) is subtracted from every
// sample. Fencing stops the lookup from overlapping its neighbours, so these are latencies of a
// lookup done alone, as the request path does one; the mean of route_throughput is lower.
void route_latency(benchmark::State& state, const Corpus& corpus, const PackedKeys& keys, double ns_per_tick) {
    const routing::Table& table = *corpus.table;
    const auto& views = keys.views();
    std::vector<std::uint64_t> samples(latency_samples);
    std::vector<std::uint64_t> overhead(latency_samples / 10);
    double mean_ns = 0;
    for (auto _ : state) {
        const std::uint64_t clock_cost = clock_reading_cost(overhead);

        std::size_t next = 0;
        for (auto& sample : samples) {
            const std::string_view key = views[next];
            if (++next == views.size()) {
                next = 0;
            }
            const std::uint64_t start = fenced_ticks();
            benchmark::DoNotOptimize(table.route(key));
            const std::uint64_t end = fenced_ticks();
            sample = end - start > clock_cost ? end - start - clock_cost : 0;
        }
        double total = 0;
        for (const auto sample : samples) {
            total += static_cast<double>(sample);
        }
        mean_ns = total / static_cast<double>(samples.size()) * ns_per_tick;
        state.SetIterationTime(mean_ns * 1e-9);
        std::sort(samples.begin(), samples.end());
        state.counters["clock_ns"] = static_cast<double>(clock_cost) * ns_per_tick;
    }
    state.counters["p50_ns"] = static_cast<double>(percentile(samples, 0.50)) * ns_per_tick;
    state.counters["p90_ns"] = static_cast<double>(percentile(samples, 0.90)) * ns_per_tick;
    state.counters["p99_ns"] = static_cast<double>(percentile(samples, 0.99)) * ns_per_tick;
    state.counters["p999_ns"] = static_cast<double>(percentile(samples, 0.999)) * ns_per_tick;
    state.counters["mean_ns"] = mean_ns;
    state.counters["keys"] = static_cast<double>(corpus.key_count);
}

// --- the per-request snapshot --------------------------------------------------------------------

// What a reader pays to load the published table straight from the publisher (the lock-based
// std::atomic<std::shared_ptr> of libstdc++). The request path does not do this (next one).
void snapshot_publisher_load(benchmark::State& state, const routing::TablePublisher& publisher) {
    for (auto _ : state) {
        const routing::TableConstPtr table = publisher.current();
        benchmark::DoNotOptimize(table.get());
    }
}

// What a request pays: pinning its worker's copy of the table (a shared_ptr copy, so one
// atomic increment and one decrement of the count every worker's copy shares).
void snapshot_worker_pin(benchmark::State& state, const routing::TablePublisher& publisher) {
    const routing::TableConstPtr worker_copy = publisher.current();  // one per worker thread
    for (auto _ : state) {
        const routing::TableConstPtr pinned = worker_copy;
        benchmark::DoNotOptimize(pinned.get());
    }
}

// --- parse, validate, build ----------------------------------------------------------------------

void parse_and_validate(benchmark::State& state, const Corpus& corpus) {
    for (auto _ : state) {
        auto loaded = config::load_config(corpus.text);
        if (!loaded.ok()) {
            state.SkipWithError("the routing file does not load");
            break;
        }
        state.PauseTiming();  // freeing the Config is not part of loading it
        loaded = config::LoadResult{};
        state.ResumeTiming();
    }
    state.counters["keys"] = static_cast<double>(corpus.key_count);
}

void build(benchmark::State& state, const Corpus& corpus) {
    routing::TableConstPtr table;
    for (auto _ : state) {
        state.PauseTiming();  // freeing the previous table is measured by destroy()
        table.reset();
        state.ResumeTiming();
        table = routing::Table::build(corpus.config, config::ProxySettings{}, routing::TableOrigin{});
    }
    state.counters["keys"] = static_cast<double>(corpus.key_count);
}

// Where the last reference to a replaced table is dropped, this is paid: with the router's
// current design, on a worker thread (see docs/milestones/m5-scale.md).
void destroy(benchmark::State& state, const Corpus& corpus) {
    for (auto _ : state) {
        state.PauseTiming();
        routing::TableConstPtr table =
            routing::Table::build(corpus.config, config::ProxySettings{}, routing::TableOrigin{});
        state.ResumeTiming();
        table.reset();
    }
    state.counters["keys"] = static_cast<double>(corpus.key_count);
}

// Text to table exactly as a reload does it (reload::build_table).
void parse_validate_build(benchmark::State& state, const Corpus& corpus) {
    const config::ProxySettingsOverrides no_flags;
    for (auto _ : state) {
        auto built = reload::build_table(corpus.text, "", corpus.path, no_flags);
        if (!std::holds_alternative<reload::LoadedTable>(built)) {
            state.SkipWithError("the routing file does not build");
            break;
        }
        state.PauseTiming();
        built = reload::LoadFailure{};
        state.ResumeTiming();
    }
    state.counters["keys"] = static_cast<double>(corpus.key_count);
}

// The file poller's whole work for one changed file: read, SHA-256, parse, validate, build.
void reload_from_file(benchmark::State& state, const Corpus& corpus) {
    const config::ProxySettingsOverrides no_flags;
    for (auto _ : state) {
        auto built = reload::load_table_file(corpus.path, no_flags);
        if (!std::holds_alternative<reload::LoadedTable>(built)) {
            state.SkipWithError("the routing file does not load");
            break;
        }
        state.PauseTiming();
        built = reload::LoadFailure{};
        state.ResumeTiming();
    }
    state.counters["keys"] = static_cast<double>(corpus.key_count);
}

// What the file poller pays at every check of an unchanged file: read it and hash it.
void poll_unchanged(benchmark::State& state, const Corpus& corpus) {
    for (auto _ : state) {
        auto text = reload::read_file(corpus.path);
        benchmark::DoNotOptimize(util::sha256_hex(std::get<std::string>(text)));
    }
    state.counters["keys"] = static_cast<double>(corpus.key_count);
}

// --- memory --------------------------------------------------------------------------------------

// Bytes the allocator has handed out: small chunks (uordblks) plus the large ones it maps
// directly (hblkhd), such as a big hash table's bucket array.
std::size_t heap_in_use() {
    const struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

constexpr double mebibyte = 1024.0 * 1024.0;

// The built table's own memory (the Config it is built from is alive before and after), and for
// comparison the parsed Config's and the file's. A reload holds all three at once, plus the
// table it replaces.
void memory(benchmark::State& state, const Corpus& corpus) {
    std::size_t table_bytes = 0;
    std::size_t config_bytes = 0;
    for (auto _ : state) {
        const std::size_t before_config = heap_in_use();
        auto loaded = config::load_config(corpus.text);
        config_bytes = heap_in_use() - before_config;
        const std::size_t before_table = heap_in_use();
        routing::TableConstPtr table =
            routing::Table::build(*loaded.config, config::ProxySettings{}, routing::TableOrigin{});
        table_bytes = heap_in_use() - before_table;
        benchmark::DoNotOptimize(table.get());
    }
    const auto keys = static_cast<double>(corpus.key_count);
    state.counters["keys"] = keys;
    state.counters["table_bytes_per_key"] = static_cast<double>(table_bytes) / keys;
    state.counters["table_MiB"] = static_cast<double>(table_bytes) / mebibyte;
    state.counters["config_MiB"] = static_cast<double>(config_bytes) / mebibyte;
    state.counters["file_MiB"] = static_cast<double>(corpus.text.size()) / mebibyte;
}

// --- the physical limit --------------------------------------------------------------------------

// A lookup of a uniformly random key of a big table reads memory at random, so its latency is
// bounded below by one random access into memory of the table's size. This measures both in
// the same loop, alternating one timed access into an array as large as the table's heap with
// one timed lookup of a known key, so that both see the same machine, the same neighbours and
// the same cache pressure; the ratio of their percentiles is what the table's layout adds.
void lookup_vs_random_access(benchmark::State& state, const Corpus& corpus, double ns_per_tick) {
    const std::size_t before_table = heap_in_use();
    routing::TableConstPtr table =
        routing::Table::build(corpus.config, config::ProxySettings{}, routing::TableOrigin{});
    const std::size_t table_bytes = heap_in_use() - before_table;
    std::vector<std::uint64_t> array(std::max<std::size_t>(table_bytes / sizeof(std::uint64_t), 1));
    for (std::size_t i = 0; i < array.size(); ++i) {
        array[i] = i;  // every page touched and resident, as the table's are
    }
    std::mt19937_64 random(7);
    std::vector<std::uint32_t> positions(latency_samples);
    for (auto& position : positions) {
        position = static_cast<std::uint32_t>(random() % array.size());
    }
    const auto& views = corpus.known->views();
    std::vector<std::uint64_t> access(latency_samples);
    std::vector<std::uint64_t> lookup(latency_samples);
    std::vector<std::uint64_t> overhead(latency_samples / 10);
    for (auto _ : state) {
        const std::uint64_t clock_cost = clock_reading_cost(overhead);
        const auto net = [clock_cost](std::uint64_t start, std::uint64_t end) {
            return end - start > clock_cost ? end - start - clock_cost : 0;
        };
        std::size_t next = 0;
        for (std::size_t i = 0; i < latency_samples; ++i) {
            const volatile std::uint64_t* word = &array[positions[i]];
            std::uint64_t start = fenced_ticks();
            // A volatile read is made for certain, and the fence after it waits for its data.
            const std::uint64_t value = *word;
            std::uint64_t end = fenced_ticks();
            benchmark::DoNotOptimize(value);
            access[i] = net(start, end);

            const std::string_view key = views[next];
            if (++next == views.size()) {
                next = 0;
            }
            start = fenced_ticks();
            benchmark::DoNotOptimize(table->route(key));
            end = fenced_ticks();
            lookup[i] = net(start, end);
        }
        std::sort(access.begin(), access.end());
        std::sort(lookup.begin(), lookup.end());
        state.SetIterationTime(static_cast<double>(percentile(lookup, 0.5)) * ns_per_tick * 1e-9);
    }
    const double access_p50 = static_cast<double>(percentile(access, 0.50)) * ns_per_tick;
    const double access_p99 = static_cast<double>(percentile(access, 0.99)) * ns_per_tick;
    const double lookup_p50 = static_cast<double>(percentile(lookup, 0.50)) * ns_per_tick;
    const double lookup_p99 = static_cast<double>(percentile(lookup, 0.99)) * ns_per_tick;
    state.counters["access_p50_ns"] = access_p50;
    state.counters["access_p99_ns"] = access_p99;
    state.counters["known_p50_ns"] = lookup_p50;
    state.counters["known_p99_ns"] = lookup_p99;
    state.counters["p99_ratio"] = access_p99 > 0 ? lookup_p99 / access_p99 : 0;
    state.counters["table_MiB"] = static_cast<double>(table_bytes) / mebibyte;
    state.counters["keys"] = static_cast<double>(corpus.key_count);
}

// --- registration --------------------------------------------------------------------------------

std::vector<std::size_t> key_counts_from_env() {
    const char* text = std::getenv("TABLE_BENCH_KEYS");
    std::istringstream words(text != nullptr ? text : "10000 100000 1000000");
    std::vector<std::size_t> counts;
    std::string word;
    while (words >> word) {
        char* end = nullptr;
        const unsigned long long count = std::strtoull(word.c_str(), &end, 10);
        if (end == word.c_str() || *end != '\0' || count == 0) {
            std::fprintf(stderr, "table_benchmark: TABLE_BENCH_KEYS: not a key count: %s\n", word.c_str());
            std::exit(2);
        }
        counts.push_back(count);
    }
    return counts;
}

// Repeating a million-key parse dozens of times adds nothing but minutes.
benchmark::IterationCount slow_iterations(std::size_t key_count) {
    return key_count >= 1'000'000 ? 3 : key_count >= 100'000 ? 10 : 30;
}

void register_size(const Corpus& corpus, double ns_per_tick) {
    // Appended rather than written "/" + ...: GCC 12 warns falsely (-Wrestrict) on that form.
    std::string n = std::to_string(corpus.key_count);
    n.insert(n.begin(), '/');
    const Corpus* c = &corpus;
    benchmark::RegisterBenchmark(("route_known" + n).c_str(),
                                 [c](benchmark::State& s) { route_throughput(s, *c, *c->known); });
    benchmark::RegisterBenchmark(("route_unknown" + n).c_str(),
                                 [c](benchmark::State& s) { route_throughput(s, *c, *c->unknown); });
    benchmark::RegisterBenchmark(
        ("route_latency_known" + n).c_str(),
        [c, ns_per_tick](benchmark::State& s) { route_latency(s, *c, *c->known, ns_per_tick); })
        ->Iterations(1)
        ->UseManualTime();
    benchmark::RegisterBenchmark(
        ("route_latency_unknown" + n).c_str(),
        [c, ns_per_tick](benchmark::State& s) { route_latency(s, *c, *c->unknown, ns_per_tick); })
        ->Iterations(1)
        ->UseManualTime();
    benchmark::RegisterBenchmark(
        ("lookup_vs_random_access" + n).c_str(),
        [c, ns_per_tick](benchmark::State& s) { lookup_vs_random_access(s, *c, ns_per_tick); })
        ->Iterations(1)
        ->UseManualTime();
    const auto iterations = slow_iterations(corpus.key_count);
    benchmark::RegisterBenchmark(("parse_validate" + n).c_str(),
                                 [c](benchmark::State& s) { parse_and_validate(s, *c); })
        ->Iterations(iterations)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("build" + n).c_str(), [c](benchmark::State& s) { build(s, *c); })
        ->Iterations(iterations)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("parse_validate_build" + n).c_str(),
                                 [c](benchmark::State& s) { parse_validate_build(s, *c); })
        ->Iterations(iterations)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("reload_from_file" + n).c_str(),
                                 [c](benchmark::State& s) { reload_from_file(s, *c); })
        ->Iterations(iterations)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("poll_unchanged" + n).c_str(), [c](benchmark::State& s) { poll_unchanged(s, *c); })
        ->Iterations(iterations)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("destroy" + n).c_str(), [c](benchmark::State& s) { destroy(s, *c); })
        ->Iterations(iterations)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("memory" + n).c_str(), [c](benchmark::State& s) { memory(s, *c); })
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
}

void register_snapshot(const routing::TablePublisher& publisher) {
    const routing::TablePublisher* p = &publisher;
    // Two threads share one table, as two workers do: the reference count's cache line moves
    // between cores. On a 2-core machine, 2 threads is the honest maximum.
    for (const int threads : {1, 2}) {
        benchmark::RegisterBenchmark("snapshot_publisher_load", [p](benchmark::State& s) {
            snapshot_publisher_load(s, *p);
        })->Threads(threads);
        benchmark::RegisterBenchmark("snapshot_worker_pin", [p](benchmark::State& s) {
            snapshot_worker_pin(s, *p);
        })->Threads(threads);
    }
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 2;
    }
    const char* dir = std::getenv("TABLE_BENCH_DIR");
    if (dir == nullptr || *dir == '\0') {
        std::fprintf(stderr,
                     "table_benchmark: set TABLE_BENCH_DIR to a directory of table-<N>.json files, or run "
                     "scripts/bench-table.sh, which generates them with bench/gen-table.py\n");
        return 2;
    }
    const std::vector<std::size_t> key_counts = key_counts_from_env();
    for (const std::size_t count : key_counts) {
        const std::string path = std::string(dir) + "/table-" + std::to_string(count) + ".json";
        if (!std::filesystem::exists(path)) {
            std::fprintf(stderr,
                         "table_benchmark: %s is missing: generate it with "
                         "bench/gen-table.py --keys %zu --out %s (or run scripts/bench-table.sh)\n",
                         path.c_str(), count, path.c_str());
            return 2;
        }
    }

    std::vector<std::unique_ptr<Corpus>> corpora;
    for (const std::size_t count : key_counts) {
        std::fprintf(stderr, "table_benchmark: loading %zu keys\n", count);
        corpora.push_back(load_corpus(dir, count));
    }
    const double ns_per_tick = nanoseconds_per_tick();
    std::fprintf(stderr, "table_benchmark: %.4f ns per clock tick\n", ns_per_tick);

    const routing::TablePublisher publisher(corpora.front()->table);
    register_snapshot(publisher);
    for (const auto& corpus : corpora) {
        register_size(*corpus, ns_per_tick);
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
