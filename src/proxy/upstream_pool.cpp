#include "cell/proxy/upstream_pool.hpp"

#include <sys/socket.h>

#include <cerrno>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

namespace cell::proxy {
namespace {

// A pooled connection is worth reusing only if the peer has neither closed it nor sent
// anything unsolicited since the last response (for TLS that includes a close_notify); a
// non-blocking peek tells without consuming.
bool looks_alive(TimedSocket& stream) {
    if (!stream.socket().is_open()) {
        return false;
    }
    char byte = 0;
    const auto n = ::recv(stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void close_quietly(TimedSocket& stream) {
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
}

}  // namespace

TimedSocket& lowest_layer(UpstreamStream& stream) {
    return std::visit([](auto& s) -> TimedSocket& { return beast::get_lowest_layer(s); }, stream);
}

UpstreamPool::UpstreamPool(executor_type executor, transport::UpstreamTlsContext& tls_context, PoolLimits limits)
    : executor_(std::move(executor)), tls_context_(tls_context), limits_(limits) {}

std::unique_ptr<UpstreamStream> UpstreamPool::take_idle(const std::string& pool_key) {
    const auto it = idle_.find(pool_key);
    if (it == idle_.end()) {
        return nullptr;
    }
    auto& connections = it->second;
    const auto now = std::chrono::steady_clock::now();
    // Most recently used first: it is the least likely to have been closed by the peer.
    while (!connections.empty()) {
        IdleConnection candidate = std::move(connections.back());
        connections.pop_back();
        if (now - candidate.idle_since < limits_.max_idle_time && looks_alive(lowest_layer(*candidate.stream))) {
            return std::move(candidate.stream);
        }
        close_quietly(lowest_layer(*candidate.stream));
    }
    return nullptr;
}

std::optional<std::vector<tcp::endpoint>> UpstreamPool::cached_endpoints(const std::string& cache_key,
                                                                       std::chrono::steady_clock::time_point now) {
    if (const auto it = resolved_.find(cache_key); it != resolved_.end() && it->second.expires > now) {
        return it->second.endpoints;
    }
    return std::nullopt;
}

void UpstreamPool::forget_endpoints(const std::string& cache_key) {
    resolved_.erase(cache_key);
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
    if (auto cached = cached_endpoints(cache_key, now)) {
        co_return std::pair{boost::system::error_code{}, std::move(*cached)};
    }
    tcp_resolver resolver(executor_);
    // Named, not a temporary inside the co_await: GCC 12 mishandles those in coroutines.
    const std::string service = std::to_string(endpoint.port);
    auto [resolve_ec, results] = co_await resolver.async_resolve(endpoint.host, service);
    if (resolve_ec) {
        forget_endpoints(cache_key);
        co_return std::pair{resolve_ec, std::vector<tcp::endpoint>{}};
    }
    std::vector<tcp::endpoint> endpoints;
    for (const auto& entry : results) {
        endpoints.push_back(entry.endpoint());
    }
    resolved_[cache_key] = ResolvedHost{endpoints, now + limits_.resolve_cache_time};
    co_return std::pair{boost::system::error_code{}, std::move(endpoints)};
}

awaitable<std::pair<boost::system::error_code, std::unique_ptr<UpstreamStream>>> UpstreamPool::connect(
    const routing::PlacementTarget& target, config::Duration connect_timeout) {
    using Result = std::pair<boost::system::error_code, std::unique_ptr<UpstreamStream>>;
    auto [resolve_ec, endpoints] = co_await resolve(target.endpoint);
    if (resolve_ec) {
        co_return Result{resolve_ec, nullptr};
    }
    // One deadline covers TCP connect and, for https, the TLS handshake.
    TimedSocket stream(executor_);
    stream.expires_after(connect_timeout);
    auto [connect_ec, connected] = co_await stream.async_connect(endpoints);
    if (connect_ec) {
        // The next attempt resolves again: the cell may have moved.
        forget_endpoints(target.endpoint.host + ":" + std::to_string(target.endpoint.port));
        co_return Result{connect_ec, nullptr};
    }
    boost::system::error_code ignored;
    stream.socket().set_option(tcp::no_delay(true), ignored);
    if (target.endpoint.scheme != "https") {
        stream.expires_never();
        co_return Result{boost::system::error_code{},
                         std::make_unique<UpstreamStream>(std::in_place_type<TimedSocket>, std::move(stream))};
    }
    net::ssl::context* tls_context = nullptr;
    try {
        tls_context = &tls_context_.get();
    } catch (const boost::system::system_error& e) {
        co_return Result{e.code(), nullptr};
    }
    tls_stream tls(std::move(stream), *tls_context);
    // SNI, so a cell serving several names presents the right certificate.
    if (SSL_set_tlsext_host_name(tls.native_handle(), target.endpoint.host.c_str()) != 1) {
        co_return Result{boost::system::error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category()),
                         nullptr};
    }
    tls.set_verify_mode(net::ssl::verify_peer);
    tls.set_verify_callback(net::ssl::host_name_verification(target.endpoint.host));
    auto [handshake_ec] = co_await tls.async_handshake(net::ssl::stream_base::client);
    beast::get_lowest_layer(tls).expires_never();
    if (handshake_ec) {
        co_return Result{handshake_ec, nullptr};
    }
    co_return Result{boost::system::error_code{},
                     std::make_unique<UpstreamStream>(std::in_place_type<tls_stream>, std::move(tls))};
}

awaitable<std::pair<boost::system::error_code, std::optional<UpstreamLease>>> UpstreamPool::acquire(
    const routing::PlacementTarget& target, config::Duration connect_timeout, bool allow_reuse) {
    using Result = std::pair<boost::system::error_code, std::optional<UpstreamLease>>;
    if (allow_reuse) {
        if (auto idle = take_idle(target.pool_key)) {
            co_return Result{boost::system::error_code{}, UpstreamLease{std::move(idle), target.pool_key, true}};
        }
    }
    auto [ec, stream] = co_await connect(target, connect_timeout);
    if (ec) {
        co_return Result{ec, std::nullopt};
    }
    co_return Result{boost::system::error_code{}, UpstreamLease{std::move(stream), target.pool_key, false}};
}

void UpstreamPool::release(UpstreamLease&& lease) {
    auto& connections = idle_[lease.pool_key];
    if (connections.size() >= limits_.max_idle_per_upstream) {
        close_quietly(lowest_layer(*lease.stream));
        return;
    }
    lowest_layer(*lease.stream).expires_never();
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
            close_quietly(lowest_layer(*connection.stream));
        }
    }
    idle_.clear();
}

}  // namespace cell::proxy
