#include "cell/proxy/session.hpp"

#include <chrono>
#include <string>

#include "cell/observability/log.hpp"
#include "cell/proxy/error_response.hpp"
#include "cell/proxy/forward.hpp"
#include "cell/proxy/headers.hpp"
#include "cell/proxy/request_version.hpp"
#include "cell/routing/failover.hpp"
#include "cell/util/request_id.hpp"

namespace cell::proxy {
namespace {

using error_code = boost::system::error_code;
using observability::Level;
using Clock = std::chrono::steady_clock;

constexpr std::string_view debug_config_path = "/debug/config";
constexpr std::size_t idle_buffer_capacity = 8 * 1024;
constexpr std::size_t idle_read_size = 1024;

// Per-request facts gathered along the way, for the access log.
struct RequestLog {
    Clock::time_point started = Clock::now();
    std::string request_id;
    std::string method;
    std::string path;
    std::string routing_key;
    std::string_view placement;
    std::string_view route_reason;
    std::string_view upstream_url;
    std::string_view original_placement;  // set when a fallback served
    std::string_view failover_reason;
    bool fail_open = false;
    ExchangeRecord record;
    // For the metrics (observability::RequestSample).
    const routing::PlacementTarget* routed = nullptr;
    const routing::PlacementTarget* serving = nullptr;
    routing::FailoverReason failover = routing::FailoverReason::none;
    routing::RouteReason route = routing::RouteReason::default_placement;
    std::optional<observability::Outcome> local_outcome;  // set when the router answered itself
    Clock::time_point header_read_at = started;
    std::optional<Clock::time_point> forwarded_at;  // when the request left for the cell
};

// Records the breaker outcome of the chosen placement exactly once, whichever way the
// request ends (including the coroutine being destroyed at shutdown: neutral).
class BreakerTicket {
public:
    BreakerTicket(const routing::PlacementTarget* placement, resilience::CircuitBreaker::Permit permit)
        : placement_(placement), permit_(permit) {}
    ~BreakerTicket() {
        if (placement_ != nullptr && placement_->policy.circuit_breaker &&
            permit_ != resilience::CircuitBreaker::Permit::rejected) {
            placement_->state->breaker.record(permit_, outcome, *placement_->policy.circuit_breaker,
                                              resilience::SteadyClock::now());
        }
    }
    BreakerTicket(const BreakerTicket&) = delete;
    BreakerTicket& operator=(const BreakerTicket&) = delete;

    resilience::Outcome outcome = resilience::Outcome::neutral;

private:
    const routing::PlacementTarget* placement_;
    resilience::CircuitBreaker::Permit permit_;
};

// A router-side limit of the serving placement that refuses the request before it is sent.
struct Refusal {
    LocalError error;
    std::string_view limit;  // the config field
    std::string detail;
    unsigned retry_after_seconds = 0;
};

std::string format_rate(double requests_per_second) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", requests_per_second);
    return text;
}

unsigned whole_seconds_rounded_up(std::chrono::nanoseconds duration) {
    const auto seconds = std::chrono::ceil<std::chrono::seconds>(duration).count();
    return static_cast<unsigned>(std::clamp<std::int64_t>(seconds, 1, 86400));
}

// Body size first (a client error that no waiting fixes, and it must not use up a token), then
// the rate limit, then the concurrency limit, whose slot is held in `slot` on success.
std::optional<Refusal> admit(const routing::PlacementTarget& placement, std::optional<std::uint64_t> content_length,
                             resilience::SteadyClock::time_point now, resilience::ConcurrencySlot& slot) {
    const routing::PlacementPolicy& policy = placement.policy;
    if (policy.max_request_body_bytes && content_length && *content_length > *policy.max_request_body_bytes) {
        return Refusal{LocalError::body_too_large, "max_request_body_bytes",
                       "Content-Length " + std::to_string(*content_length) + " exceeds max_request_body_bytes (" +
                           std::to_string(*policy.max_request_body_bytes) + ") of placement " + placement.name};
    }
    if (policy.rate_limit) {
        const auto decision = placement.state->rate_limiter.try_acquire(*policy.rate_limit, now);
        if (!decision.allowed) {
            return Refusal{LocalError::rate_limited, "rate_limit",
                           "placement " + placement.name + " is over its rate limit of " +
                               format_rate(policy.rate_limit->requests_per_second) +
                               " requests per second",
                           whole_seconds_rounded_up(decision.retry_after)};
        }
    }
    if (policy.concurrency_limit) {
        if (!placement.state->concurrency.try_acquire(*policy.concurrency_limit)) {
            return Refusal{LocalError::concurrency_limited, "concurrency_limit",
                           "placement " + placement.name + " already has " +
                               std::to_string(*policy.concurrency_limit) +
                               " requests in flight (concurrency_limit)",
                           1};
        }
        slot = resilience::ConcurrencySlot(&placement.state->concurrency);
    }
    return std::nullopt;
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

void write_access_log(const RequestLog& log, std::string_view client_address) {
    // With --access-log off, skip the formatting too, not only the write.
    if (!observability::access_log_enabled()) {
        return;
    }
    const auto elapsed = std::chrono::duration<double, std::milli>(Clock::now() - log.started).count();
    observability::JsonLine line = observability::event_line(Level::info, "access");
    line.add("request_id", log.request_id)
        .add("client", client_address)
        .add("method", log.method)
        .add("path", log.path)
        .add("routing_key", log.routing_key)
        .add("placement_key", log.placement)
        .add("route_reason", log.route_reason)
        .add("upstream_url", log.upstream_url)
        .add("status_code", log.record.status)
        .add("bytes_in", log.record.bytes_in)
        .add("bytes_out", log.record.bytes_out)
        .add("duration_ms", elapsed)
        .add("upstream_reused", log.record.upstream_reused);
    if (!log.failover_reason.empty()) {
        line.add("failover_reason", log.failover_reason).add("original_placement", log.original_placement);
    }
    if (log.fail_open) {
        line.add("fail_open", true);
    }
    if (!log.record.error_source.empty()) {
        line.add("error_source", log.record.error_source).add("error", log.record.error);
    }
    observability::emit_access(std::move(line));
}

observability::Outcome outcome_for(LocalError error) {
    using observability::Outcome;
    switch (error) {
    case LocalError::bad_request: return Outcome::bad_request;
    case LocalError::header_too_large: return Outcome::header_too_large;
    case LocalError::version_not_supported: return Outcome::version_not_supported;
    case LocalError::missing_routing_key: return Outcome::missing_key;
    case LocalError::conflicting_routing_key: return Outcome::conflicting_key;
    case LocalError::method_not_allowed: return Outcome::method_not_allowed;
    case LocalError::expectation_failed: return Outcome::expectation_failed;
    case LocalError::no_endpoint: return Outcome::bad_upstream_response;
    case LocalError::upstream_unreachable: return Outcome::connect_failed;
    case LocalError::upstream_timeout: return Outcome::upstream_timeout;
    case LocalError::upstream_bad_response: return Outcome::bad_upstream_response;
    case LocalError::circuit_open: return Outcome::circuit_open;
    case LocalError::rate_limited: return Outcome::rate_limited;
    case LocalError::concurrency_limited: return Outcome::concurrency_limited;
    case LocalError::body_too_large: return Outcome::body_too_large;
    case LocalError::too_many_connections: return Outcome::too_many_connections;
    }
    return Outcome::bad_request;
}

// How a forwarded exchange ended, recovered from what forward_request wrote into the record.
// NOTE: the request path is being rewritten to carry its Outcome itself; until then the
// upstream failures are told apart by status and message.
observability::Outcome outcome_of(const RequestLog& log) {
    using observability::Outcome;
    if (log.local_outcome) {
        return *log.local_outcome;
    }
    const ExchangeRecord& record = log.record;
    if (record.status == 499) {
        return Outcome::client_closed;
    }
    if (record.error_source == "upstream") {
        if (record.status == 504) {
            return Outcome::upstream_timeout;
        }
        if (record.status == 502) {
            const bool connect = record.error.starts_with("connect") || record.error.starts_with("cannot");
            return connect ? Outcome::connect_failed : Outcome::bad_upstream_response;
        }
        return Outcome::upstream_reset;  // the cell's response had begun
    }
    if (record.error_source == "downstream") {
        return record.status == 413 ? Outcome::body_too_large
               : record.status == 400 ? Outcome::bad_request
                                      : Outcome::client_closed;
    }
    if (log.failover != routing::FailoverReason::none) {
        return log.failover == routing::FailoverReason::unhealthy ? Outcome::failover_unhealthy
                                                                  : Outcome::failover_circuit_open;
    }
    switch (log.route) {
    case routing::RouteReason::dedicated: return Outcome::dedicated;
    case routing::RouteReason::tier: return Outcome::tier;
    case routing::RouteReason::default_placement: return Outcome::default_;
    }
    return Outcome::default_;
}

// The once-per-request metrics call, next to the access log line.
void record_metrics(WorkerState& worker, const RequestLog& log) {
    const auto now = Clock::now();
    observability::RequestSample sample;
    sample.routed = log.routed;
    sample.serving = log.serving;
    sample.outcome = outcome_of(log);
    sample.failover = log.failover;
    sample.status = log.record.status;
    sample.total = now - log.started;
    // Header parsed to request sent (routing, admission), or to the local answer sent.
    sample.router_added = log.forwarded_at.value_or(now) - log.header_read_at;
    sample.bytes_in = log.record.bytes_in;
    sample.bytes_out = log.record.bytes_out;
    worker.metrics.record(sample);
}

LocalError error_for_read_failure(const error_code& ec) {
    return ec == http::error::header_limit ? LocalError::header_too_large : LocalError::bad_request;
}

// Peer went away or the connection was closed under us: nothing to answer.
bool is_disconnect(const error_code& ec) {
    return ec == http::error::end_of_stream || ec == net::error::eof ||
           ec == net::error::connection_reset || ec == net::error::operation_aborted ||
           ec == net::error::bad_descriptor || ec == net::error::broken_pipe;
}

LocalError error_for_problem(RequestProblem problem) {
    switch (problem) {
    case RequestProblem::method_not_allowed: return LocalError::method_not_allowed;
    case RequestProblem::unsupported_expectation: return LocalError::expectation_failed;
    default: return LocalError::bad_request;
    }
}

class Session {
public:
    Session(tcp_stream& client, WorkerState& worker, SessionRegistration& registration)
        : client_(client), worker_(worker), registration_(registration) {
        error_code ec;
        const auto remote = client_.socket().remote_endpoint(ec);
        client_address_ = ec ? "unknown" : remote.address().to_string();
    }

    awaitable<ConnectionVerdict> serve_one_request();
    const std::string& client_address() const { return client_address_; }
    beast::flat_buffer& buffer() { return buffer_; }

private:
    awaitable<ConnectionVerdict> reject(const RequestParser& parser, LocalError error, std::string detail,
                                        RequestLog& log, const routing::Table& table);
    awaitable<ConnectionVerdict> answer_debug_config(const RequestParser& parser, RequestLog& log,
                                                     const routing::Table& table);
    awaitable<ConnectionVerdict> answer_refusal(const RequestParser& parser, LocalError error, std::string detail,
                                                RequestLog& log, const routing::Table& table,
                                                LocalResponseContext context);
    awaitable<ConnectionVerdict> route_and_forward(RequestParser& parser, const RequestCheck& check,
                                                   std::string_view routing_key, RequestLog& log,
                                                   const routing::TableConstPtr& table);

    tcp_stream& client_;
    WorkerState& worker_;
    SessionRegistration& registration_;
    std::string client_address_;
    beast::flat_buffer buffer_;
};

// NOTE: `detail` is taken by value and callers pass named locals: GCC 12 mishandles
// temporaries built inside a co_await expression.
awaitable<ConnectionVerdict> Session::reject(const RequestParser& parser, LocalError error, std::string detail,
                                             RequestLog& log, const routing::Table& table) {
    const unsigned version = parser.is_header_done() ? parser.get().version() : 11;
    // After a framing error the rest of the stream cannot be trusted to start a request
    // (RFC 9112 §6.3): only routing-key errors leave the connection usable.
    const bool may_keep_alive =
        error == LocalError::missing_routing_key || error == LocalError::conflicting_routing_key;
    LocalResponseContext context;
    context.version = version;
    context.keep_alive = may_keep_alive;
    context.request_id = log.request_id;
    auto response = make_local_response(error, detail, context);
    log.record.status = response.result_int();
    log.local_outcome = outcome_for(error);
    log.record.error_source = "downstream";
    log.record.error = std::string(code_for(error));
    const auto verdict = co_await send_local_response(client_, parser, std::move(response), worker_.draining,
                                                      table.settings().idle_timeout);
    co_return verdict;
}

awaitable<ConnectionVerdict> Session::answer_debug_config(const RequestParser& parser, RequestLog& log,
                                                          const routing::Table& table) {
    http::response<http::string_body> response{http::status::ok, parser.get().version()};
    response.set(http::field::server, "cell-router");
    response.set(http::field::content_type, "application/json");
    response.set(request_id_header, log.request_id);
    response.body() = worker_.render_debug_config(table);
    response.keep_alive(true);
    response.prepare_payload();
    if (parser.get().method() == http::verb::head) {
        response.body().clear();
    }
    log.record.status = 200;
    log.local_outcome = observability::Outcome::debug_endpoint;
    const auto verdict = co_await send_local_response(client_, parser, std::move(response), worker_.draining,
                                                      table.settings().idle_timeout);
    co_return verdict;
}

// A router-made answer to a routed request (503 breaker open, 429 limits, 413 body size): it
// says where the request was routed and why, like a proxied answer would.
awaitable<ConnectionVerdict> Session::answer_refusal(const RequestParser& parser, LocalError error,
                                                     std::string detail, RequestLog& log,
                                                     const routing::Table& table, LocalResponseContext context) {
    context.version = parser.get().version();
    context.keep_alive = true;  // send_local_response closes instead if the body is unread
    context.request_id = log.request_id;
    auto response = make_local_response(error, detail, context);
    log.record.status = response.result_int();
    log.local_outcome = outcome_for(error);
    log.record.error_source = "router";
    log.record.error = std::move(detail);
    const auto verdict = co_await send_local_response(client_, parser, std::move(response), worker_.draining,
                                                      table.settings().idle_timeout);
    co_return verdict;
}

// Routing key -> placement -> the placement that can serve now (health, breaker) -> its
// limits -> the cell. The breaker hears how the exchange went, whichever way it ends.
awaitable<ConnectionVerdict> Session::route_and_forward(RequestParser& parser, const RequestCheck& check,
                                                        std::string_view routing_key, RequestLog& log,
                                                        const routing::TableConstPtr& table) {
    const routing::RouteDecision route = table->route(routing_key);
    const routing::PlacementTarget& routed = *route.placement;
    const auto now = resilience::SteadyClock::now();
    const routing::PlacementChoice choice = routing::choose_placement(*table, routed, now);
    BreakerTicket ticket(choice.serving, choice.permit);
    log.route_reason = routing::to_string(route.reason);
    log.routed = &routed;
    log.serving = choice.serving;
    log.failover = choice.failover;
    log.route = route.reason;
    log.placement = routed.name;
    log.upstream_url = routed.endpoint.url;
    log.fail_open = choice.fail_open;
    if (choice.failover != routing::FailoverReason::none) {
        log.failover_reason = routing::to_string(choice.failover);
        log.original_placement = routed.name;
    }
    LocalResponseContext context;
    context.route_reason = log.route_reason;
    context.routed_to = routed.name;
    if (choice.serving == nullptr) {
        std::string detail = "circuit breaker open for placement " + routed.name + " and every fallback";
        context.failover_reason = log.failover_reason;
        const auto verdict = co_await answer_refusal(parser, LocalError::circuit_open, std::move(detail), log,
                                                     *table, context);
        co_return verdict;
    }
    const routing::PlacementTarget& serving = *choice.serving;
    log.placement = serving.name;
    log.upstream_url = serving.endpoint.url;
    if (choice.fail_open) {
        serving.state->note_fail_open(serving.name, routed.name, now);
    }
    context.routed_to = serving.name;
    context.failover_reason = log.failover_reason;
    context.original_placement = log.original_placement;

    resilience::ConcurrencySlot slot;
    const auto declared_length = parser.content_length();
    const std::optional<std::uint64_t> content_length =
        declared_length ? std::optional<std::uint64_t>(*declared_length) : std::nullopt;
    if (std::optional<Refusal> refusal = admit(serving, content_length, now, slot)) {
        context.limit = refusal->limit;
        context.retry_after_seconds = refusal->retry_after_seconds;
        std::string detail = std::move(refusal->detail);
        const auto verdict =
            co_await answer_refusal(parser, refusal->error, std::move(detail), log, *table, context);
        co_return verdict;
    }
    const Destination destination{serving, log.route_reason, log.failover_reason, log.original_placement};
    log.forwarded_at = Clock::now();
    const auto verdict = co_await forward_request(ForwardRequest{client_, buffer_, parser, check, destination,
                                                                 log.request_id, client_address_, table->settings(),
                                                                 worker_, registration_, log.record});
    ticket.outcome = log.record.upstream_outcome;
    co_return verdict;
}

// Read headers only, check them, route with one pinned snapshot, forward, log.
awaitable<ConnectionVerdict> Session::serve_one_request() {
    // Pin this worker's table for the whole request: a swap mid-request must not mix tables.
    const routing::TableConstPtr table = worker_.current_table();
    const config::ProxySettings& settings = table->settings();
    RequestLog log;
    RequestParser parser;
    parser.header_limit(settings.max_header_bytes);
    parser.body_limit(boost::none);
    buffer_.max_size(read_buffer_limit(settings.max_header_bytes));

    client_.expires_after(settings.header_timeout);
    auto [read_ec, read_n] = co_await http::async_read_header(client_, buffer_, parser);
    log.header_read_at = Clock::now();
    if (read_ec) {
        if (is_disconnect(read_ec) || read_ec == beast::error::timeout) {
            co_return ConnectionVerdict::abort;
        }
        LocalError error = error_for_read_failure(read_ec);
        std::string detail = read_ec.message();
        if (read_ec == http::error::bad_version) {
            // The refused head is still in the buffer, unconsumed.
            const auto head = buffer_.data();
            switch (fix_request_version({static_cast<char*>(head.data()), head.size()})) {
            case VersionFix::read_as_http11: {
                const auto verdict = co_await serve_one_request();
                co_return verdict;
            }
            case VersionFix::unsupported:
                error = LocalError::version_not_supported;
                detail = "only HTTP/1.x is served here";
                break;
            case VersionFix::malformed: break;
            }
        }
        log.request_id = util::generate_request_id();
        const auto verdict = co_await reject(parser, error, std::move(detail), log, *table);
        write_access_log(log, client_address_);
        record_metrics(worker_, log);
        co_return verdict;
    }

    const auto& header = parser.get().base();
    log.request_id = request_id_for(header);
    log.method = std::string(header.method_string());
    log.path = std::string(path_of(header.target()));

    const RequestCheck check = check_request(header);
    ConnectionVerdict verdict = ConnectionVerdict::close;
    if (check.problem != RequestProblem::none) {
        std::string detail = check.detail;
        verdict = co_await reject(parser, error_for_problem(check.problem), std::move(detail), log, *table);
    } else if (path_of(check.upstream_target) == debug_config_path &&
               (header.method() == http::verb::get || header.method() == http::verb::head)) {
        verdict = co_await answer_debug_config(parser, log, *table);
    } else if (const RoutingKey key = find_routing_key(header); key.problem != RoutingKeyProblem::none) {
        const bool conflicting = key.problem == RoutingKeyProblem::conflicting;
        std::string detail = conflicting ? "X-Routing-Key repeated with different values"
                                         : "missing or empty X-Routing-Key header";
        verdict = co_await reject(parser,
                                  conflicting ? LocalError::conflicting_routing_key : LocalError::missing_routing_key,
                                  std::move(detail), log, *table);
    } else {
        log.routing_key = std::string(key.value);
        verdict = co_await route_and_forward(parser, check, log.routing_key, log, table);
    }
    write_access_log(log, client_address_);
    record_metrics(worker_, log);
    co_return verdict;
}

// Half-close, then drain what the client still sends for a moment, so the kernel does not
// answer unread data with a reset that could destroy the response in flight (nginx's
// "lingering close").
awaitable<void> close_gracefully(tcp_stream& client) {
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

}  // namespace

awaitable<void> refuse_connection(tcp_stream client, std::uint32_t max_connections) {
    RequestLog log;
    log.request_id = util::generate_request_id();
    LocalResponseContext context;
    context.keep_alive = false;
    context.request_id = log.request_id;
    context.retry_after_seconds = 1;
    const std::string detail =
        "the router already holds " + std::to_string(max_connections) + " client connections (max_connections)";
    auto response = make_local_response(LocalError::too_many_connections, detail, context);
    log.record.status = response.result_int();
    log.record.error_source = "router";
    log.record.error = std::string(code_for(LocalError::too_many_connections));
    // Short deadlines (1 s to write, then the lingering close's 2 s at most): a refused client
    // must not hold for long a descriptor the limit is protecting.
    client.expires_after(std::chrono::seconds(1));
    auto [ec, n] = co_await http::async_write(client, response);
    error_code peer_ec;
    const auto remote = client.socket().remote_endpoint(peer_ec);
    write_access_log(log, peer_ec ? std::string("unknown") : remote.address().to_string());
    if (ec) {
        error_code ignored;
        client.socket().close(ignored);
        co_return;
    }
    co_await close_gracefully(client);
}

awaitable<void> run_session(tcp_stream client, WorkerState* worker) {
    const io_executor session_executor = co_await net::this_coro::executor;
    SessionRegistration registration(worker->sessions, session_executor, &client);
    Session session(client, *worker, registration);
    ConnectionVerdict verdict = ConnectionVerdict::close;
    while (!worker->draining) {
        if (session.buffer().size() == 0) {
            // An idle keep-alive connection should not keep a body-sized read buffer.
            if (session.buffer().capacity() > idle_buffer_capacity) {
                session.buffer().shrink_to_fit();
            }
            // Idle between requests: the only state in which shutdown may close us at once.
            registration.set_idle(true);
            client.expires_after(worker->current_table()->settings().idle_timeout);
            // 1 KiB, as nginx's client_header_buffer_size: an idle connection holds this
            // buffer while it waits, and most requests' headers fit (larger ones grow it).
            auto [ec, n] = co_await client.async_read_some(session.buffer().prepare(idle_read_size));
            registration.set_idle(false);
            if (ec) {
                verdict = ConnectionVerdict::abort;
                break;
            }
            session.buffer().commit(n);
        }
        verdict = co_await session.serve_one_request();
        if (verdict != ConnectionVerdict::keep_alive) {
            break;
        }
    }
    if (verdict == ConnectionVerdict::abort) {
        error_code ignored;
        client.socket().close(ignored);
        co_return;
    }
    co_await close_gracefully(client);
}

}  // namespace cell::proxy
