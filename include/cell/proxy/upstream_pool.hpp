#pragma once
// Keep-alive connections to the cells, one pool per worker thread, so reuse needs no lock.
// Include only from .cpp files (pulls in Asio/Beast).
//
// Thread safety: a pool is used only on its worker's thread.

#include <chrono>
#include <memory>
#include <cstddef>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "cell/config/types.hpp"
#include "cell/routing/table.hpp"
#include "cell/transport/io.hpp"
#include "cell/transport/timed_socket.hpp"
#include "cell/transport/tls_client.hpp"

namespace cell::proxy {

using transport::TimedSocket;
using tls_stream = beast::ssl_stream<TimedSocket>;

// A connection to a cell: plain TCP for http:// endpoints, TLS for https:// ones.
using UpstreamStream = std::variant<TimedSocket, tls_stream>;

TimedSocket& lowest_layer(UpstreamStream& stream);

// One upstream connection handed out for one request. The stream lives on the heap because
// a connection passes pool -> lease -> pool for every request, and a pointer moves more cheaply
// than a TLS stream.
struct UpstreamLease {
    std::unique_ptr<UpstreamStream> stream;  // never null
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
    // `tls_context` verifies the certificates of https:// cells; it must outlive the pool.
    UpstreamPool(executor_type executor, transport::UpstreamTlsContext& tls_context, PoolLimits limits = {});

    // An idle live connection to `target`, or a new one connected (and for https, TLS
    // handshaken) within `connect_timeout`.
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
        std::unique_ptr<UpstreamStream> stream;
        std::chrono::steady_clock::time_point idle_since;
    };
    struct ResolvedHost {
        std::vector<tcp::endpoint> endpoints;
        std::chrono::steady_clock::time_point expires;
    };

    std::unique_ptr<UpstreamStream> take_idle(const std::string& pool_key);
    std::optional<std::vector<tcp::endpoint>> cached_endpoints(const std::string& cache_key,
                                                               std::chrono::steady_clock::time_point now);
    void forget_endpoints(const std::string& cache_key);
    awaitable<std::pair<boost::system::error_code, std::unique_ptr<UpstreamStream>>> connect(
        const routing::PlacementTarget& target, config::Duration connect_timeout);
    awaitable<std::pair<boost::system::error_code, std::vector<tcp::endpoint>>> resolve(
        const config::Endpoint& endpoint);

    executor_type executor_;
    transport::UpstreamTlsContext& tls_context_;
    PoolLimits limits_;
    std::unordered_map<std::string, std::vector<IdleConnection>> idle_;
    std::unordered_map<std::string, ResolvedHost> resolved_;
};

}  // namespace cell::proxy
