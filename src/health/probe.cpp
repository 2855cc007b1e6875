#include "probe.hpp"

#include <chrono>
#include <optional>
#include <string_view>
#include <utility>
#include <variant>

#include "cell/config/duration.hpp"

namespace cell::health {
namespace {

using error_code = boost::system::error_code;

// A health endpoint answers with a short header; anything larger is not worth reading.
constexpr std::size_t max_header_bytes = 16 * 1024;
// Interim responses (103 Early Hints) precede the final one; a cell sending more than a few is
// broken, and the probe must not loop on it until the deadline.
constexpr int max_interim_responses = 4;

ProbeResult failed(std::string_view phase, const error_code& ec, config::Duration timeout) {
    if (ec == beast::error::timeout) {
        return {false, timeout_detail(timeout)};
    }
    std::string detail(phase);
    detail += ": ";
    detail += ec.message();
    return {false, std::move(detail)};
}

// Writes the request and reads up to the final response header, under the deadline already
// set on the stream. The body is never read: the request asked for Connection: close.
template <typename Stream>
awaitable<ProbeResult> exchange(Stream& stream, const http::request<http::empty_body>& request,
                                config::Duration timeout) {
    auto [write_ec, written] = co_await http::async_write(stream, request);
    if (write_ec) {
        co_return failed("write", write_ec, timeout);
    }
    beast::flat_buffer buffer(max_header_bytes);
    std::optional<http::response_parser<http::empty_body>> parser;
    for (int interim = 0;; ++interim) {
        // A parser reads one message only, so each interim response needs a fresh one.
        parser.emplace();
        parser->header_limit(max_header_bytes);
        auto [read_ec, read] = co_await http::async_read_header(stream, buffer, *parser);
        if (read_ec) {
            co_return failed("read", read_ec, timeout);
        }
        const unsigned status = parser->get().result_int();
        if (status >= 200 && status < 300) {
            co_return ProbeResult{true, "HTTP " + std::to_string(status)};
        }
        if (status >= 200 || status == 101 || interim == max_interim_responses) {
            co_return ProbeResult{false, "HTTP " + std::to_string(status)};
        }
    }
}

}  // namespace

std::string timeout_detail(config::Duration timeout) {
    return "timeout after " + config::format_duration(timeout);
}

awaitable<ProbeResult> probe_once(proxy::UpstreamPool* pool, routing::PlacementTarget target) {
    const config::HealthCheck check = target.policy.health_check.value_or(config::HealthCheck{});
    const auto deadline = std::chrono::steady_clock::now() + check.timeout;
    // Never a pooled connection: the probe asks whether the cell accepts new ones.
    auto [connect_ec, lease] = co_await pool->acquire(target, check.timeout, /*allow_reuse=*/false);
    if (connect_ec || !lease) {
        co_return failed("connect", connect_ec, check.timeout);
    }
    http::request<http::empty_body> request{http::verb::get, check.path, 11};
    request.set(http::field::host, target.endpoint.authority);
    request.set(http::field::user_agent, "cell-router-health-check");
    request.set(http::field::connection, "close");
    proxy::TimedSocket& connection = proxy::lowest_layer(*lease->stream);
    connection.expires_at(deadline);
    const ProbeResult result = co_await std::visit(
        [&](auto& stream) { return exchange(stream, request, check.timeout); }, *lease->stream);
    // No TLS close_notify: the cell learns enough from the TCP close, and waiting for its reply
    // would only stretch the probe.
    error_code ignored;
    connection.socket().shutdown(tcp::socket::shutdown_both, ignored);
    connection.socket().close(ignored);
    co_return result;
}

}  // namespace cell::health
