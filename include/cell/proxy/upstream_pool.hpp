#pragma once
// Keep-alive connections to the cells, one pool per worker thread, so reuse needs no lock.
// Include only from .cpp files (pulls in Asio/Beast).
//
// Thread safety: none; a pool is used only on its worker's thread.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cell/config/types.hpp"
#include "cell/routing/table.hpp"
#include "cell/runtime/io.hpp"

namespace cell::proxy {

// One upstream connection handed out for one request.
struct UpstreamLease {
    tcp_stream stream;
    std::string pool_key;
    bool reused = false;  // came from the pool; may have been closed by the peer meanwhile
};

struct PoolLimits {
    std::size_t max_idle_per_upstream = 256;
    std::chrono::seconds max_idle_time{30};
    std::chrono::seconds resolve_cache_time{10};
};

class UpstreamPool {
public:
    UpstreamPool(executor_type executor, PoolLimits limits = {});

    // An idle live connection to `target`, or a new one connected within `connect_timeout`.
    // `allow_reuse` false forces a fresh connection (used to retry after a stale one).
    // NOTE: `target` must outlive the call; callers co_await it directly while pinning the table.
    awaitable<std::pair<boost::system::error_code, std::optional<UpstreamLease>>> acquire(
        const routing::PlacementTarget& target, config::Duration connect_timeout, bool allow_reuse);

    // Returns a connection whose last exchange ended cleanly, for the next request.
    void release(UpstreamLease&& lease);

    std::size_t idle_count() const;
    void clear();

private:
    struct IdleConnection {
        tcp_stream stream;
        std::chrono::steady_clock::time_point idle_since;
    };
    struct ResolvedHost {
        std::vector<tcp::endpoint> endpoints;
        std::chrono::steady_clock::time_point expires;
    };

    std::optional<tcp_stream> take_idle(const std::string& pool_key);
    awaitable<std::pair<boost::system::error_code, std::vector<tcp::endpoint>>> resolve(
        const config::Endpoint& endpoint);

    executor_type executor_;
    PoolLimits limits_;
    std::unordered_map<std::string, std::vector<IdleConnection>> idle_;
    std::unordered_map<std::string, ResolvedHost> resolved_;
};

}  // namespace cell::proxy
