#pragma once
// Histograms of durations: the bucket bounds the metrics use, the counts a scrape writes out,
// and a single-threaded histogram for state that lives on one event loop (the control plane).
// The request path's sharded histograms are in request_counters.hpp. Beast-free.

#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

namespace cell::observability {

// Upper bounds in seconds. Whole requests: half a millisecond (a cell on the same host) to
// ten seconds (past the default response timeout).
inline constexpr std::array<double, 14> request_duration_buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
// What the router adds is tens of microseconds when all is well: finer bounds, so a regression
// from 50 to 200 µs shows.
inline constexpr std::array<double, 12> router_duration_buckets{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                                0.005,   0.01,   0.025,   0.05,   0.1,   1};
// From a snapshot written to a router's socket to its ack: parsing and swapping a table.
inline constexpr std::array<double, 11> push_to_ack_buckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                            0.1,   0.25,   0.5,   1,    5};

// What one histogram holds at a scrape.
struct HistogramCounts {
    std::span<const double> bounds;        // ascending upper bounds; +Inf is implied after the last
    std::vector<std::uint64_t> buckets;    // observations per bucket, not cumulative: bounds.size() + 1
    double sum = 0;                        // seconds

    explicit HistogramCounts(std::span<const double> upper_bounds)
        : bounds(upper_bounds), buckets(upper_bounds.size() + 1, 0) {}
    std::uint64_t count() const;
};

// The index of the bucket `seconds` falls in: the first bound >= it, else the +Inf bucket.
std::size_t bucket_index(std::span<const double> bounds, double seconds);

// A histogram for one thread (no atomics): the control plane's push-to-ack times.
class Histogram {
public:
    explicit Histogram(std::span<const double> bounds) : counts_(bounds) {}
    void observe(double seconds);
    const HistogramCounts& counts() const { return counts_; }

private:
    HistogramCounts counts_;
};

}  // namespace cell::observability
