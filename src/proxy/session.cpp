#include "cell/proxy/session.hpp"

#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>

#include "cell/admin/debug_endpoints.hpp"
#include "cell/proxy/forward.hpp"
#include "cell/proxy/local_answer.hpp"
#include "cell/proxy/request_version.hpp"
#include "cell/transport/accept.hpp"
#include "cell/util/request_id.hpp"
#include "cell/util/time_format.hpp"

namespace cell::proxy {
namespace {

using error_code = boost::system::error_code;

constexpr std::string_view debug_config_path = "/debug/config";
constexpr std::size_t idle_read_size = 1024;

std::string format_rate(double requests_per_second) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", requests_per_second);
    return text;
}

std::string paused_detail(std::string_view key, const routing::PauseRule& pause) {
    std::string detail = "routing key \"" + std::string(key) + "\" is paused until " + util::format_rfc3339(pause.until);
    if (!pause.reason.empty()) {
        detail += ": " + pause.reason;
    }
    return detail;
}

unsigned whole_seconds_rounded_up(std::chrono::nanoseconds duration) {
    const auto seconds = std::chrono::ceil<std::chrono::seconds>(duration).count();
    return static_cast<unsigned>(std::clamp<std::int64_t>(seconds, 1, 86400));
}

// The serving placement's own limits, before anything is sent: body size first (a client error
// that no waiting fixes, and it must not use up a token), then the rate limit, then the
// concurrency limit, whose slot the exchange holds on success.
std::optional<LocalAnswer> admit(Exchange& exchange, std::optional<std::uint64_t> content_length,
                                 resilience::SteadyClock::time_point now) {
    const routing::PlacementTarget& placement = *exchange.serving;
    const routing::PlacementPolicy& policy = placement.policy;
    if (policy.max_request_body_bytes && content_length && *content_length > *policy.max_request_body_bytes) {
        return LocalAnswer(Outcome::body_too_large,
                           "Content-Length " + std::to_string(*content_length) +
                               " exceeds max_request_body_bytes (" +
                               std::to_string(*policy.max_request_body_bytes) + ") of placement " + placement.name)
            .refused_by("max_request_body_bytes");
    }
    if (policy.rate_limit) {
        const auto decision = placement.state->rate_limiter.try_acquire(*policy.rate_limit, now);
        if (!decision.allowed) {
            return LocalAnswer(Outcome::rate_limited,
                               "placement " + placement.name + " is over its rate limit of " +
                                   format_rate(policy.rate_limit->requests_per_second) + " requests per second")
                .refused_by("rate_limit", whole_seconds_rounded_up(decision.retry_after));
        }
    }
    if (policy.concurrency_limit) {
        if (!placement.state->concurrency.try_acquire(*policy.concurrency_limit)) {
            return LocalAnswer(Outcome::concurrency_limited,
                               "placement " + placement.name + " already has " +
                                   std::to_string(*policy.concurrency_limit) + " requests in flight (concurrency_limit)")
                .refused_by("concurrency_limit", 1);
        }
        exchange.concurrency_slot = resilience::ConcurrencySlot(&placement.state->concurrency);
    }
    return std::nullopt;
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

Outcome outcome_for_read_failure(const error_code& ec) {
    return ec == http::error::header_limit ? Outcome::header_too_large : Outcome::bad_request;
}

// Peer went away or the connection was closed under us: nothing to answer.
bool is_disconnect(const error_code& ec) {
    return ec == http::error::end_of_stream || ec == net::error::eof ||
           ec == net::error::connection_reset || ec == net::error::operation_aborted ||
           ec == net::error::bad_descriptor || ec == net::error::broken_pipe;
}

Outcome outcome_for_problem(RequestProblem problem) {
    switch (problem) {
    case RequestProblem::method_not_allowed: return Outcome::method_not_allowed;
    case RequestProblem::unsupported_expectation: return Outcome::expectation_failed;
    default: return Outcome::bad_request;
    }
}

std::string peer_address(TimedSocket& client) {
    error_code ec;
    const auto remote = client.socket().remote_endpoint(ec);
    return ec ? std::string("unknown") : remote.address().to_string();
}

// A client connection between its requests: all that a keep-alive connection holds while it
// waits for the next one. The coroutine that serves a burst of requests borrows it; between
// bursts it belongs to the wait for the next request, so an idle connection keeps no coroutine
// frame, no parser and no read buffer beyond `first_bytes`.
struct ClientLink {
    // The read that wakes an idle connection takes the first bytes of its next request here.
    // Waiting for readability instead costs a system call per request: Asio re-arms the
    // descriptor in epoll for every wait. A read tries the socket once and then waits, so when
    // the request is already there, that try is the only system call. 160 bytes hold the head
    // of most API requests; the rest of a longer one is read on.
    static constexpr std::size_t first_bytes_size = 160;

    ClientLink(TimedSocket client, WorkerState& owner, resilience::ConnectionLimit::Slot connection_slot)
        : socket(std::move(client)),
          worker(owner),
          slot(std::move(connection_slot)),
          registration(owner.sessions, &socket),
          client_address(peer_address(socket)) {}
    ClientLink(const ClientLink&) = delete;
    ClientLink& operator=(const ClientLink&) = delete;

    TimedSocket socket;
    WorkerState& worker;
    resilience::ConnectionLimit::Slot slot;  // counts against max_connections while open
    SessionRegistration registration;
    std::string client_address;
    std::array<char, first_bytes_size> first_bytes;
};

class Session {
public:
    explicit Session(ClientLink& link) : link_(link) {}

    awaitable<ConnectionVerdict> serve_one_request();
    beast::flat_buffer& buffer() { return buffer_; }

private:
    awaitable<ConnectionVerdict> answer_request(ClientConnection& client, Exchange& exchange);
    awaitable<ConnectionVerdict> answer_debug_config(ClientConnection& client, Exchange& exchange);
    awaitable<ConnectionVerdict> route_and_forward(ClientConnection& client, Exchange& exchange);
    void finish_request(Exchange& exchange);

    ClientLink& link_;
    beast::flat_buffer buffer_;
};

// The exchange's metrics, then its access-log record (which takes the exchange's strings).
void Session::finish_request(Exchange& exchange) {
    metrics::RequestSample sample;
    sample.routed = exchange.routed;
    sample.serving = exchange.serving;
    sample.outcome = exchange.outcome.value_or(Outcome::client_closed);
    sample.failover = exchange.failover;
    sample.status = exchange.status;
    sample.total = exchange.total();
    sample.router_added = exchange.router_added();
    sample.bytes_in = exchange.bytes_in;
    sample.bytes_out = exchange.bytes_out;
    link_.worker.metrics.record(sample);
    if (sample.outcome != Outcome::debug_endpoint) {
        // A pause's 503 is the operator's, not a failure of the config that served it.
        const bool upstream_failure = observability::source_of(sample.outcome) == observability::ErrorSource::upstream;
        const bool error = upstream_failure || (sample.status >= 500 && sample.outcome != Outcome::paused);
        exchange.table->counters().record(link_.worker.index, error, upstream_failure);
    }
    link_.worker.access_log.record(exchange);
}

// Read the head, check it, route with one pinned table, forward or answer, log.
awaitable<ConnectionVerdict> Session::serve_one_request() {
    Exchange exchange(link_.worker.current_table(), link_.client_address);
    const config::ProxySettings& settings = exchange.table->settings();
    RequestParser parser;
    parser.header_limit(settings.max_header_bytes);
    parser.body_limit(boost::none);
    buffer_.max_size(read_buffer_limit(settings.max_header_bytes));
    ClientConnection client{link_.socket, buffer_, parser, link_.worker, link_.registration};

    link_.socket.expires_after(settings.header_timeout);
    auto [read_ec, read_n] = co_await http::async_read_header(link_.socket, buffer_, parser);
    if (read_ec) {
        if (is_disconnect(read_ec) || read_ec == beast::error::timeout) {
            co_return ConnectionVerdict::abort;
        }
        LocalAnswer answer(outcome_for_read_failure(read_ec), read_ec.message());
        if (read_ec == http::error::bad_version) {
            // The refused head is still in the buffer, unconsumed.
            const auto head = buffer_.data();
            switch (fix_request_version({static_cast<char*>(head.data()), head.size()})) {
            case VersionFix::read_as_http11: {
                const auto verdict = co_await serve_one_request();
                co_return verdict;
            }
            case VersionFix::unsupported:
                answer = LocalAnswer(Outcome::version_not_supported, "only HTTP/1.x is served here");
                break;
            case VersionFix::malformed: break;
            }
        }
        exchange.request_id = util::generate_request_id();
        // After a framing error the rest of the stream cannot be trusted to start a request
        // (RFC 9112 §6.3).
        const auto verdict = co_await answer_locally(client, exchange, std::move(answer), false);
        finish_request(exchange);
        co_return verdict;
    }
    const auto verdict = co_await answer_request(client, exchange);
    finish_request(exchange);
    co_return verdict;
}

awaitable<ConnectionVerdict> Session::answer_request(ClientConnection& client, Exchange& exchange) {
    const auto& header = client.parser.get().base();
    exchange.request_id = request_id_for(header);
    exchange.method = std::string(header.method_string());
    exchange.path = std::string(path_of(header.target()));
    exchange.trace_id = std::string(trace_id_of(header));
    exchange.check = check_request(header);

    if (exchange.check.problem != RequestProblem::none) {
        LocalAnswer answer(outcome_for_problem(exchange.check.problem), exchange.check.detail);
        const auto verdict = co_await answer_locally(client, exchange, std::move(answer), false);
        co_return verdict;
    }
    if (path_of(exchange.check.upstream_target) == debug_config_path &&
        (header.method() == http::verb::get || header.method() == http::verb::head)) {
        const auto verdict = co_await answer_debug_config(client, exchange);
        co_return verdict;
    }
    if (const RoutingKey key = find_routing_key(header); key.problem != RoutingKeyProblem::none) {
        const bool conflicting = key.problem == RoutingKeyProblem::conflicting;
        LocalAnswer answer(conflicting ? Outcome::conflicting_key : Outcome::missing_key,
                           conflicting ? "X-Routing-Key repeated with different values"
                                       : "missing or empty X-Routing-Key header");
        // The request itself was well framed: the connection can carry the next one.
        const auto verdict = co_await answer_locally(client, exchange, std::move(answer), true);
        co_return verdict;
    } else {
        exchange.routing_key = std::string(key.value);
    }
    const auto verdict = co_await route_and_forward(client, exchange);
    co_return verdict;
}

awaitable<ConnectionVerdict> Session::answer_debug_config(ClientConnection& client, Exchange& exchange) {
    http::response<http::string_body> response{http::status::ok, client.parser.get().version()};
    response.set(http::field::server, "cell-router");
    response.set(http::field::content_type, "application/json");
    response.set(request_id_header, exchange.request_id);
    response.body() = admin::render_debug_config(*exchange.table, link_.worker.debug_sources);
    response.keep_alive(true);
    response.prepare_payload();
    if (client.parser.get().method() == http::verb::head) {
        response.body().clear();
    }
    exchange.status = 200;
    const auto verdict =
        co_await send_local_response(client, std::move(response), exchange.table->settings().idle_timeout);
    exchange.finish(Outcome::debug_endpoint);
    co_return verdict;
}

// Routing key -> placement -> the placement that can serve now (health, breaker) -> its
// limits -> the cell. The exchange settles the breaker ticket, whichever way it ends.
awaitable<ConnectionVerdict> Session::route_and_forward(ClientConnection& client, Exchange& exchange) {
    const routing::Table& table = *exchange.table;
    // The wall clock only when operations are in force: their times are written in the config.
    const routing::RouteDecision route =
        table.has_operations() ? table.route(exchange.routing_key, std::chrono::system_clock::now())
                               : table.route(exchange.routing_key);
    if (route.pause != nullptr) {
        exchange.route(route, routing::PlacementChoice{});
        LocalAnswer answer = LocalAnswer(Outcome::paused, paused_detail(exchange.routing_key, *route.pause))
                                 .refused_by("operations.pauses", whole_seconds_rounded_up(route.pause->retry_after));
        const auto verdict = co_await answer_locally(client, exchange, std::move(answer), true);
        co_return verdict;
    }
    const auto now = resilience::SteadyClock::now();
    if (route.drained_to != nullptr) {
        // The drain's target with its own health, breaker and fallbacks; the reason is the drain.
        routing::PlacementChoice choice = routing::choose_placement(table, *route.drained_to, now);
        if (choice.serving != nullptr) {
            choice.failover = routing::FailoverReason::drained;
        }
        exchange.route(route, choice);
    } else {
        exchange.route(route, routing::choose_placement(table, *route.placement, now));
    }
    if (exchange.serving == nullptr) {
        LocalAnswer answer(Outcome::circuit_open,
                           "circuit breaker open for placement " + route.placement->name + " and every fallback");
        const auto verdict = co_await answer_locally(client, exchange, std::move(answer), true);
        co_return verdict;
    }
    if (exchange.fail_open) {
        exchange.serving->state->note_fail_open(exchange.serving->name, route.placement->name, now);
    }
    const auto declared_length = client.parser.content_length();
    const std::optional<std::uint64_t> content_length =
        declared_length ? std::optional<std::uint64_t>(*declared_length) : std::nullopt;
    if (std::optional<LocalAnswer> refusal = admit(exchange, content_length, now)) {
        // send_local_response closes instead when the body is unread.
        LocalAnswer answer = std::move(*refusal);
        const auto verdict = co_await answer_locally(client, exchange, std::move(answer), true);
        co_return verdict;
    }
    exchange.at.routed = ExchangeClock::now();
    const auto verdict = co_await forward_request(client, exchange);
    co_return verdict;
}

// Half-close, then drain what the client still sends for a moment, so the kernel does not
// answer unread data with a reset that could destroy the response in flight (nginx's
// "lingering close").
awaitable<void> close_gracefully(TimedSocket& client) {
    error_code ec;
    client.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
        co_return;
    }
    std::array<char, 4096> sink{};
    std::size_t drained = 0;
    client.expires_after(std::chrono::seconds(2));
    while (drained < 1024 * 1024) {
        auto [read_ec, n] = co_await client.async_read_some(net::buffer(sink));
        if (read_ec) {
            break;
        }
        drained += n;
    }
    client.socket().close(ec);
}

// A connection over max_connections: answers 503 too_many_connections with Retry-After at once,
// without waiting for a request, then closes. `max_connections` is for the message.
// NOTE: `access_log` must outlive the coroutine (it is the accepting worker's).
awaitable<void> refuse_connection(TimedSocket client, std::uint32_t max_connections, AccessLog::Shard* access_log) {
    const std::string client_address = peer_address(client);
    Exchange exchange(nullptr, client_address);
    exchange.request_id = util::generate_request_id();
    LocalAnswer answer = LocalAnswer(Outcome::too_many_connections,
                                     "the router already holds " + std::to_string(max_connections) +
                                         " client connections (max_connections)")
                             .refused_by({}, 1);
    auto response = make_local_response(answer, exchange.route_headers(), 11, false);
    exchange.status = response.result_int();
    exchange.error = std::move(answer.detail);
    // Short deadlines (1 s to write, then the lingering close's 2 s at most): a refused client
    // must not hold for long a descriptor the limit is protecting.
    client.expires_after(std::chrono::seconds(1));
    auto [ec, n] = co_await http::async_write(client, response);
    exchange.finish(Outcome::too_many_connections);
    access_log->record(exchange);
    if (ec) {
        error_code ignored;
        client.socket().close(ignored);
        co_return;
    }
    co_await close_gracefully(client);
}

awaitable<void> serve_requests(std::unique_ptr<ClientLink> link, std::size_t first_bytes_read);

// co_spawn's completion for connection coroutines: an escaped exception is logged, not lost.
void log_session_exception(std::exception_ptr error) { transport::log_escaped_exception(error, "session"); }

// Parks the connection until the client sends something, then serves it on a new coroutine.
// Idle between requests is the only state in which shutdown may close a connection at once.
void wait_for_request(std::unique_ptr<ClientLink> link) {
    ClientLink& parked = *link;
    parked.registration.set_idle(true);
    parked.socket.expires_after(parked.worker.current_table()->settings().idle_timeout);
    parked.socket.async_read_some(
        net::buffer(parked.first_bytes), [link = std::move(link)](error_code ec, std::size_t n) mutable {
            link->registration.set_idle(false);
            if (ec) {
                return;  // the client closed, idle timeout, shutdown or a reset: dropping the link closes the socket
            }
            const auto executor = link->socket.get_executor();
            net::co_spawn(executor, serve_requests(std::move(link), n), log_session_exception);
        });
}

// Serves requests while the client keeps them coming: a pipelined request is served at once;
// once nothing is left to read, the connection is parked again.
awaitable<void> serve_requests(std::unique_ptr<ClientLink> link, std::size_t first_bytes_read) {
    Session session(*link);
    // 1 KiB, as nginx's client_header_buffer_size: most requests' heads fit, and a larger one
    // grows the buffer.
    const auto room = session.buffer().prepare(idle_read_size);
    std::memcpy(room.data(), link->first_bytes.data(), first_bytes_read);
    session.buffer().commit(first_bytes_read);
    ConnectionVerdict verdict = ConnectionVerdict::keep_alive;
    while (!link->worker.draining) {
        verdict = co_await session.serve_one_request();
        if (verdict != ConnectionVerdict::keep_alive) {
            break;
        }
        if (session.buffer().size() == 0) {
            wait_for_request(std::move(link));
            co_return;
        }
    }
    if (verdict == ConnectionVerdict::abort) {
        link->socket.close();
        co_return;
    }
    co_await close_gracefully(link->socket);
}

}  // namespace

void serve_connection(tcp_socket socket, WorkerState* worker) {
    TimedSocket client(std::move(socket));
    const std::uint32_t limit = worker->current_table()->settings().max_connections;
    resilience::ConnectionLimit::Slot slot = worker->connections.try_open(limit);
    if (!slot) {
        const auto executor = client.get_executor();
        net::co_spawn(executor, refuse_connection(std::move(client), limit, &worker->access_log),
                      log_session_exception);
        return;
    }
    wait_for_request(std::make_unique<ClientLink>(std::move(client), *worker, std::move(slot)));
}

}  // namespace cell::proxy
