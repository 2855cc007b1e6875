#include "cell/controlplane/server_http.hpp"

#include <chrono>
#include <memory>

#include <boost/beast/websocket/rfc6455.hpp>

#include "cell/controlplane/config_api.hpp"
#include "cell/controlplane/control_plane_metrics.hpp"
#include "cell/controlplane/fleet_page.hpp"
#include "cell/controlplane/router_session.hpp"
#include "cell/observability/exposition.hpp"
#include "cell/transport/accept.hpp"

namespace cell::controlplane {
namespace {

// Bodies of requests outside the config API (none needs one).
constexpr std::uint64_t small_body_limit = 64 * 1024;

struct Answer {
    http::status status = http::status::ok;
    std::string body;
    std::string_view content_type = "application/json";  // the fleet page is HTML, /metrics text
};

constexpr const char* not_found_body =
    R"({"error":"not_found","endpoints":["/","/config","/config/diff","/connect","/health","/history","/metrics","/rollback","/status"]})";

Answer answer_plain(const RouterSession::Upgrade& request, std::string_view path, const ServerState& state) {
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
        return {http::status::method_not_allowed, R"({"error":"method_not_allowed"})"};
    }
    if (path == "/") {
        return {http::status::ok, std::string(fleet_page_html()), "text/html; charset=utf-8"};
    }
    if (path == "/health") {
        return {http::status::ok, state.shutting_down() ? R"({"status":"draining"})" : R"({"status":"ok"})"};
    }
    if (path == "/status") {
        return {http::status::ok, state.status_json()};
    }
    if (path == "/metrics") {
        return {http::status::ok, render_control_plane_metrics(state, observability::read_process_metrics()),
                observability::exposition_content_type};
    }
    if (path == "/connect") {
        return {http::status::upgrade_required, R"({"error":"upgrade_required","detail":"GET /connect is a WebSocket endpoint"})"};
    }
    return {http::status::not_found, not_found_body};
}

http::response<http::string_body> make_response(const RouterSession::Upgrade& request, Answer answer, bool keep_alive) {
    http::response<http::string_body> response{answer.status, request.version()};
    response.set(http::field::server, "cell-control-plane");
    response.set(http::field::content_type, answer.content_type);
    if (answer.status == http::status::upgrade_required) {
        response.set(http::field::upgrade, "websocket");
    }
    response.body() = std::move(answer.body);
    response.keep_alive(keep_alive);
    response.prepare_payload();
    if (request.method() == http::verb::head) {
        response.body().clear();
    }
    return response;
}

// Sends `answer` as the response to `request`; false when the connection is to be closed.
awaitable<bool> send_answer(tcp_stream& stream, const RouterSession::Upgrade& request, ApiAnswer answer) {
    http::response<http::string_body> response{static_cast<http::status>(answer.status), request.version()};
    response.set(http::field::server, "cell-control-plane");
    response.set(http::field::content_type, answer.content_type);
    for (const auto& [name, value] : answer.headers) {
        response.set(name, value);
    }
    response.body() = std::move(answer.body);
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    if (request.method() == http::verb::head) {
        response.body().clear();
    }
    auto [write_ec, written] = co_await http::async_write(stream, response);
    co_return !write_ec && request.keep_alive();
}

// 413 for a request whose body is over the limit of its endpoint; the connection then closes
// (the rest of the body is not read).
awaitable<void> refuse_too_large(tcp_stream& stream, const http::request_parser<http::string_body>::value_type& header) {
    ApiAnswer too_large;
    too_large.status = 413;
    too_large.body = R"({"error":"too_large","detail":"the request body is larger than this endpoint accepts"})";
    RouterSession::Upgrade head{header.method(), header.target(), header.version()};
    head.keep_alive(false);
    co_await send_answer(stream, head, std::move(too_large));
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

awaitable<void> http_connection(tcp_stream stream, ServerState* state, ConfigApi* config_api, SessionSettings settings) {
    beast::flat_buffer buffer;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(16 * 1024);
        // The parser judges a declared Content-Length against its limit as soon as the header
        // is complete: start from the largest body any endpoint takes, then narrow it to what
        // this path takes once the path is known.
        parser.body_limit(ConfigApi::body_limit("/config"));
        // A peer that connects and then sends nothing, or half a request, is dropped here.
        stream.expires_after(settings.handshake_timeout);
        auto [header_ec, header_n] = co_await http::async_read_header(stream, buffer, parser);
        if (header_ec) {
            if (header_ec == http::error::body_limit) {
                co_await refuse_too_large(stream, parser.get());
            }
            co_return;
        }
        const std::string_view header_target = parser.get().target();
        const std::string_view header_path = header_target.substr(0, header_target.find('?'));
        // A whole config may come with a write or a diff; everything else is small.
        const std::uint64_t body_limit =
            ConfigApi::serves(header_path) ? ConfigApi::body_limit(header_path) : small_body_limit;
        if (parser.content_length() && *parser.content_length() > body_limit) {
            co_await refuse_too_large(stream, parser.get());
            co_return;
        }
        parser.body_limit(body_limit);  // a chunked body is held to it as it arrives
        // A config of 64 MiB needs longer than a handshake on a slow link: a minute is plenty.
        stream.expires_after(ConfigApi::serves(header_path) ? std::max(settings.handshake_timeout, std::chrono::milliseconds(60'000))
                                                            : settings.handshake_timeout);
        auto [ec, n] = co_await http::async_read(stream, buffer, parser);
        if (ec) {
            if (ec == http::error::body_limit) {
                co_await refuse_too_large(stream, parser.get());
            }
            co_return;
        }
        RouterSession::Upgrade request = parser.release();
        const std::string_view target = request.target();
        const std::string_view path = target.substr(0, target.find('?'));
        if (ConfigApi::serves(path) && !websocket::is_upgrade(request)) {
            const std::string_view query = target.size() > path.size() ? target.substr(path.size() + 1) : std::string_view();
            stream.expires_never();
            ApiAnswer answer = co_await config_api->answer(request.method(), path, query, std::move(request.body()));
            stream.expires_after(settings.send_timeout);
            if (!co_await send_answer(stream, request, std::move(answer))) {
                boost::system::error_code ignored;
                stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
                co_return;
            }
            continue;
        }
        const bool upgrade = websocket::is_upgrade(request);
        if (upgrade && path == "/connect" && !state->shutting_down()) {
            // The connection now belongs to the router session until it ends.
            auto session = std::make_shared<RouterSession>(std::move(stream), state, settings);
            co_await session->run(request);
            co_return;
        }
        Answer answer;
        if (upgrade) {
            answer = state->shutting_down() ? Answer{http::status::service_unavailable, R"({"error":"shutting_down"})"}
                                            : Answer{http::status::not_found, not_found_body};
        } else {
            answer = answer_plain(request, path, *state);
        }
        // A refused upgrade closes: the client expected to switch protocols on this connection.
        const bool keep_alive = request.keep_alive() && !upgrade;
        auto response = make_response(request, std::move(answer), keep_alive);
        auto [write_ec, written] = co_await http::async_write(stream, response);
        if (write_ec || !keep_alive) {
            boost::system::error_code ignored;
            stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
            co_return;
        }
    }
}

}  // namespace

awaitable<void> control_plane_accept_loop(tcp_acceptor* acceptor, ServerState* state, ConfigApi* config_api,
                                          SessionSettings settings) {
    return transport::accept_connections(
        acceptor,
        [state, config_api, settings](tcp_stream stream) {
            return http_connection(std::move(stream), state, config_api, settings);
        },
        "control_plane_connection");
}

}  // namespace cell::controlplane
