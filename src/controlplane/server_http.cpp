#include "cell/controlplane/server_http.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/read.hpp>
#include <boost/beast/http/empty_body.hpp>
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

constexpr const char* not_found_body =
    R"({"error":"not_found","endpoints":["/","/config","/config/diff","/connect","/health","/history","/metrics","/rollback","/status"]})";

ApiAnswer answer_of(unsigned status, std::string body, std::string content_type = "application/json") {
    ApiAnswer answer;
    answer.status = status;
    answer.body = std::move(body);
    answer.content_type = std::move(content_type);  // the fleet page is HTML, /metrics text
    return answer;
}

ApiAnswer answer_plain(const RouterSession::Upgrade& request, std::string_view path, const ServerState& state) {
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
        return answer_of(405, R"({"error":"method_not_allowed"})");
    }
    if (path == "/") {
        return answer_of(200, std::string(fleet_page_html()), "text/html; charset=utf-8");
    }
    if (path == "/health") {
        return answer_of(200, state.shutting_down() ? R"({"status":"draining"})" : R"({"status":"ok"})");
    }
    if (path == "/status") {
        return answer_of(200, state.status_json());
    }
    if (path == "/metrics") {
        return answer_of(200, render_control_plane_metrics(state, observability::read_process_metrics()),
                         std::string(observability::exposition_content_type));
    }
    if (path == "/connect") {
        auto answer = answer_of(426, R"({"error":"upgrade_required","detail":"GET /connect is a WebSocket endpoint"})");
        answer.headers.emplace_back("Upgrade", "websocket");
        return answer;
    }
    return answer_of(404, not_found_body);
}

// Sends `answer` as the response to `request`; false when the connection is to be closed (after
// a write error, or when it is not `keep_alive`), and then its sending side is shut down.
awaitable<bool> send_answer(tcp_stream& stream, const RouterSession::Upgrade& request, ApiAnswer answer,
                            bool keep_alive) {
    http::response<http::string_body> response{static_cast<http::status>(answer.status), request.version()};
    response.set(http::field::server, "cell-control-plane");
    response.set(http::field::content_type, answer.content_type);
    for (const auto& [name, value] : answer.headers) {
        response.set(name, value);
    }
    response.body() = std::move(answer.body);
    response.keep_alive(keep_alive);
    response.prepare_payload();
    if (request.method() == http::verb::head) {
        response.body().clear();
    }
    auto [write_ec, written] = co_await http::async_write(stream, response);
    if (write_ec || !keep_alive) {
        boost::system::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        co_return false;
    }
    co_return true;
}

// A body of at least this many bytes with a Content-Length is read straight into its string, in
// reads as large as the socket has ready, instead of through the parser's 64 KiB buffer: a 30 MB
// config took 236 ms to arrive through the parser on the test VM, 10-60 ms this way.
constexpr std::uint64_t direct_body_bytes = 256 * 1024;

// The body of `length` bytes that follows the header just read: what `buffer` already holds of
// it, then the rest from the stream. nullopt when the stream fails or times out first.
awaitable<std::optional<std::string>> read_body_directly(tcp_stream& stream, beast::flat_buffer& buffer,
                                                         std::size_t length) {
    std::string body(length, '\0');
    const std::size_t buffered = std::min(buffer.size(), length);
    net::buffer_copy(net::buffer(body.data(), buffered), buffer.data());
    buffer.consume(buffered);
    if (buffered < length) {
        auto [ec, n] = co_await net::async_read(stream, net::buffer(body.data() + buffered, length - buffered));
        if (ec) {
            co_return std::nullopt;
        }
    }
    co_return body;
}

// 413 for a request whose body is over the limit of its endpoint; the connection then closes
// (the rest of the body is not read).
awaitable<void> refuse_too_large(tcp_stream& stream, const http::request_parser<http::string_body>::value_type& header) {
    RouterSession::Upgrade head{header.method(), header.target(), header.version()};
    co_await send_answer(stream, head,
                         answer_of(413, R"({"error":"too_large","detail":"the request body is larger than this endpoint accepts"})"),
                         false);
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
        if (parser.get()[http::field::expect] == "100-continue" && !parser.is_done()) {
            // curl asks before it sends a large body, and waits a second for the answer otherwise.
            http::response<http::empty_body> proceed{http::status::continue_, parser.get().version()};
            auto [continue_ec, continue_n] = co_await http::async_write(stream, proceed);
            if (continue_ec) {
                co_return;
            }
        }
        std::optional<std::string> direct_body;
        if (!parser.is_done() && !parser.chunked() && parser.content_length() &&
            *parser.content_length() >= direct_body_bytes) {
            direct_body = co_await read_body_directly(stream, buffer, static_cast<std::size_t>(*parser.content_length()));
            if (!direct_body) {
                co_return;
            }
        } else {
            auto [ec, n] = co_await http::async_read(stream, buffer, parser);
            if (ec) {
                if (ec == http::error::body_limit) {
                    co_await refuse_too_large(stream, parser.get());
                }
                co_return;
            }
        }
        RouterSession::Upgrade request = parser.release();
        if (direct_body) {
            request.body() = std::move(*direct_body);
        }
        const std::string_view target = request.target();
        const std::string_view path = target.substr(0, target.find('?'));
        if (ConfigApi::serves(path) && !websocket::is_upgrade(request)) {
            const std::string_view query = target.size() > path.size() ? target.substr(path.size() + 1) : std::string_view();
            stream.expires_never();
            ApiAnswer answer = co_await config_api->answer(request.method(), path, query, std::move(request.body()));
            stream.expires_after(settings.send_timeout);
            if (!co_await send_answer(stream, request, std::move(answer), request.keep_alive())) {
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
        ApiAnswer answer;
        if (upgrade) {
            answer = state->shutting_down() ? answer_of(503, R"({"error":"shutting_down"})") : answer_of(404, not_found_body);
        } else {
            answer = answer_plain(request, path, *state);
        }
        // A refused upgrade closes: the client expected to switch protocols on this connection.
        if (!co_await send_answer(stream, request, std::move(answer), request.keep_alive() && !upgrade)) {
            co_return;
        }
    }
}

}  // namespace

awaitable<void> control_plane_accept_loop(tcp_acceptor* acceptor, ServerState* state, ConfigApi* config_api,
                                          SessionSettings settings) {
    return transport::accept_connections(
        acceptor,
        [state, config_api, settings](tcp_socket socket) {
            return http_connection(tcp_stream(std::move(socket)), state, config_api, settings);
        },
        "control_plane_connection");
}

}  // namespace cell::controlplane
