#include "cell/proxy/upstream_pool.hpp"

#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/connect.hpp>

namespace cell::proxy {
namespace {

// A pooled connection is worth reusing only if the peer has neither closed it nor sent
// anything unsolicited since the last response; a non-blocking peek tells without consuming.
bool looks_alive(tcp_stream& stream) {
    if (!stream.socket().is_open()) {
        return false;
    }
    char byte = 0;
    const auto n = ::recv(stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void close_quietly(tcp_stream& stream) {
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
}

}  // namespace

UpstreamPool::UpstreamPool(executor_type executor, PoolLimits limits)
    : executor_(std::move(executor)), limits_(limits) {}

std::optional<tcp_stream> UpstreamPool::take_idle(const std::string& pool_key) {
    const auto it = idle_.find(pool_key);
    if (it == idle_.end()) {
        return std::nullopt;
    }
    auto& connections = it->second;
    const auto now = std::chrono::steady_clock::now();
    // Most recently used first: it is the least likely to have been closed by the peer.
    while (!connections.empty()) {
        IdleConnection candidate = std::move(connections.back());
        connections.pop_back();
        if (now - candidate.idle_since < limits_.max_idle_time && looks_alive(candidate.stream)) {
            return std::move(candidate.stream);
        }
        close_quietly(candidate.stream);
    }
    return std::nullopt;
}

awaitable<std::pair<boost::system::error_code, std::vector<tcp::endpoint>>> UpstreamPool::resolve(
    const config::Endpoint& endpoint) {
    boost::system::error_code ec;
    const auto address = net::ip::make_address(endpoint.host, ec);
    if (!ec) {
        co_return std::pair{boost::system::error_code{},
                            std::vector<tcp::endpoint>{tcp::endpoint(address, endpoint.port)}};
    }
    const std::string cache_key = endpoint.host + ":" + std::to_string(endpoint.port);
    const auto now = std::chrono::steady_clock::now();
    if (const auto it = resolved_.find(cache_key); it != resolved_.end() && it->second.expires > now) {
        co_return std::pair{boost::system::error_code{}, it->second.endpoints};
    }
    tcp_resolver resolver(executor_);
    auto [resolve_ec, results] = co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port));
    if (resolve_ec) {
        resolved_.erase(cache_key);
        co_return std::pair{resolve_ec, std::vector<tcp::endpoint>{}};
    }
    std::vector<tcp::endpoint> endpoints;
    for (const auto& entry : results) {
        endpoints.push_back(entry.endpoint());
    }
    resolved_[cache_key] = ResolvedHost{endpoints, now + limits_.resolve_cache_time};
    co_return std::pair{boost::system::error_code{}, std::move(endpoints)};
}

awaitable<std::pair<boost::system::error_code, std::optional<UpstreamLease>>> UpstreamPool::acquire(
    const routing::PlacementTarget& target, config::Duration connect_timeout, bool allow_reuse) {
    if (allow_reuse) {
        if (auto idle = take_idle(target.pool_key)) {
            co_return std::pair{boost::system::error_code{},
                                std::optional<UpstreamLease>{UpstreamLease{std::move(*idle), target.pool_key, true}}};
        }
    }
    auto [resolve_ec, endpoints] = co_await resolve(target.endpoint);
    if (resolve_ec) {
        co_return std::pair{resolve_ec, std::optional<UpstreamLease>{}};
    }
    tcp_stream stream(executor_);
    stream.expires_after(connect_timeout);
    auto [connect_ec, connected] = co_await stream.async_connect(endpoints);
    stream.expires_never();
    if (connect_ec) {
        // The next attempt resolves again: the cell may have moved.
        resolved_.erase(target.endpoint.host + ":" + std::to_string(target.endpoint.port));
        co_return std::pair{connect_ec, std::optional<UpstreamLease>{}};
    }
    boost::system::error_code ignored;
    stream.socket().set_option(tcp::no_delay(true), ignored);
    co_return std::pair{boost::system::error_code{},
                        std::optional<UpstreamLease>{UpstreamLease{std::move(stream), target.pool_key, false}}};
}

void UpstreamPool::release(UpstreamLease&& lease) {
    auto& connections = idle_[lease.pool_key];
    if (connections.size() >= limits_.max_idle_per_upstream) {
        close_quietly(lease.stream);
        return;
    }
    lease.stream.expires_never();
    connections.push_back(IdleConnection{std::move(lease.stream), std::chrono::steady_clock::now()});
}

std::size_t UpstreamPool::idle_count() const {
    std::size_t count = 0;
    for (const auto& [key, connections] : idle_) {
        count += connections.size();
    }
    return count;
}

void UpstreamPool::clear() {
    for (auto& [key, connections] : idle_) {
        for (auto& connection : connections) {
            close_quietly(connection.stream);
        }
    }
    idle_.clear();
}

}  // namespace cell::proxy
