#include "cell/admin/admin_server.hpp"

#include <chrono>

#include "cell/transport/accept.hpp"

namespace cell::admin {
namespace {

awaitable<void> admin_session(tcp_stream stream, AdminHandler handler) {
    beast::flat_buffer buffer;
    for (;;) {
        http::request<http::string_body> request;
        http::request_parser<http::string_body> parser;
        parser.header_limit(16 * 1024);
        parser.body_limit(64 * 1024);
        stream.expires_after(std::chrono::seconds(30));
        auto [ec, n] = co_await http::async_read(stream, buffer, parser);
        if (ec) {
            co_return;
        }
        request = parser.release();
        const std::string_view target = request.target();
        const std::size_t question_mark = target.find('?');
        const std::string_view path = target.substr(0, question_mark);
        const std::string_view query =
            question_mark == std::string_view::npos ? std::string_view() : target.substr(question_mark + 1);
        AdminAnswer answer;
        if (request.method() != http::verb::get && request.method() != http::verb::head) {
            answer = {http::status::method_not_allowed, R"({"error":"method_not_allowed"})"};
        } else {
            answer = handler(path, query);
        }
        http::response<http::string_body> response{answer.status, request.version()};
        response.set(http::field::server, "cell-router");
        response.set(http::field::content_type, answer.content_type);
        response.body() = std::move(answer.body);
        response.keep_alive(request.keep_alive());
        response.prepare_payload();
        if (request.method() == http::verb::head) {
            response.body().clear();
        }
        auto [write_ec, written] = co_await http::async_write(stream, response);
        if (write_ec || !response.keep_alive()) {
            boost::system::error_code ignored;
            stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
            co_return;
        }
    }
}

}  // namespace

awaitable<void> admin_accept_loop(tcp_acceptor* acceptor, AdminHandler handler) {
    return transport::accept_connections(
        acceptor,
        [handler = std::move(handler)](tcp_socket socket) { return admin_session(tcp_stream(std::move(socket)), handler); },
        "admin_session");
}

}  // namespace cell::admin
