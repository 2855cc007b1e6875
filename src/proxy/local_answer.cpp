#include "cell/proxy/local_answer.hpp"

namespace cell::proxy {

awaitable<ConnectionVerdict> send_local_response(ClientConnection& client,
                                                 http::response<http::string_body> response,
                                                 config::Duration write_timeout) {
    // An unread request body would be taken for the next request: close instead.
    const RequestParser& parser = client.parser;
    const bool keep_alive = response.keep_alive() && parser.is_header_done() && parser.is_done() &&
                            parser.keep_alive() && !client.worker.draining;
    response.keep_alive(keep_alive);
    client.stream.expires_after(write_timeout);
    auto [ec, n] = co_await http::async_write(client.stream, response);
    if (ec) {
        co_return ConnectionVerdict::abort;
    }
    co_return keep_alive ? ConnectionVerdict::keep_alive : ConnectionVerdict::close;
}

awaitable<ConnectionVerdict> answer_locally(ClientConnection& client, Exchange& exchange, LocalAnswer answer,
                                            bool keep_alive) {
    const unsigned version = client.parser.is_header_done() ? client.parser.get().version() : 11;
    auto response = make_local_response(answer, exchange.route_headers(), version, keep_alive);
    exchange.status = response.result_int();
    exchange.error = std::move(answer.detail);
    exchange.outcome = answer.outcome;
    const auto verdict =
        co_await send_local_response(client, std::move(response), exchange.table->settings().idle_timeout);
    exchange.finish(answer.outcome);
    co_return verdict;
}

}  // namespace cell::proxy
