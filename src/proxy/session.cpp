#include "cell/proxy/session.hpp"

#include <chrono>
#include <string>

#include "cell/observability/log.hpp"
#include "cell/proxy/error_response.hpp"
#include "cell/proxy/forward.hpp"
#include "cell/proxy/headers.hpp"
#include "cell/util/request_id.hpp"

namespace cell::proxy {
namespace {

using error_code = boost::system::error_code;
using observability::Level;
using Clock = std::chrono::steady_clock;

constexpr std::string_view debug_config_path = "/debug/config";
constexpr std::size_t idle_buffer_capacity = 8 * 1024;

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
    ExchangeRecord record;
};

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
    if (!log.record.error_source.empty()) {
        line.add("error_source", log.record.error_source).add("error", log.record.error);
    }
    observability::emit_access(std::move(line));
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
    auto response =
        make_local_response(error, detail, LocalResponseContext{version, may_keep_alive, log.request_id, {}, {}});
    log.record.status = response.result_int();
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
    const auto verdict = co_await send_local_response(client_, parser, std::move(response), worker_.draining,
                                                      table.settings().idle_timeout);
    co_return verdict;
}

// Read headers only, check them, route with one pinned snapshot, forward, log.
awaitable<ConnectionVerdict> Session::serve_one_request() {
    // Pin this worker's table for the whole request: a swap mid-request must not mix tables.
    const routing::TableConstPtr table = worker_.table;
    const config::ProxySettings& settings = table->settings();
    RequestLog log;
    RequestParser parser;
    parser.header_limit(settings.max_header_bytes);
    parser.body_limit(boost::none);

    client_.expires_after(settings.header_timeout);
    auto [read_ec, read_n] = co_await http::async_read_header(client_, buffer_, parser);
    if (read_ec) {
        if (is_disconnect(read_ec) || read_ec == beast::error::timeout) {
            co_return ConnectionVerdict::abort;
        }
        log.request_id = util::generate_request_id();
        std::string detail = read_ec.message();
        const auto verdict = co_await reject(parser, error_for_read_failure(read_ec), std::move(detail), log, *table);
        write_access_log(log, client_address_);
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
        const routing::RouteDecision route = table->route(key.value);
        if (route.placement == nullptr) {
            std::string detail = "placement has no endpoint";
            verdict = co_await reject(parser, LocalError::no_endpoint, std::move(detail), log, *table);
        } else {
            log.placement = route.placement->name;
            log.route_reason = routing::to_string(route.reason);
            log.upstream_url = route.placement->endpoint.url;
            verdict = co_await forward_request(ForwardRequest{client_, buffer_, parser, check, route, log.request_id,
                                                              client_address_, settings, worker_, registration_,
                                                              log.record});
        }
    }
    write_access_log(log, client_address_);
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

awaitable<void> run_session(tcp_stream client, WorkerState* worker) {
    SessionRegistration registration(worker->sessions, &client);
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
            client.expires_after(worker->table->settings().idle_timeout);
            auto [ec, n] = co_await client.async_read_some(session.buffer().prepare(4096));
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
