#include "cell/observability/histogram.hpp"

#include <algorithm>

namespace cell::observability {

std::uint64_t HistogramCounts::count() const {
    std::uint64_t total = 0;
    for (const auto n : buckets) {
        total += n;
    }
    return total;
}

std::size_t bucket_index(std::span<const double> bounds, double seconds) {
    // `le` is inclusive: a value equal to a bound belongs to that bound's bucket.
    return static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin());
}

void Histogram::observe(double seconds) {
    seconds = std::max(seconds, 0.0);
    ++counts_.buckets[bucket_index(counts_.bounds, seconds)];
    counts_.sum += seconds;
}

}  // namespace cell::observability
