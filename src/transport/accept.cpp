#include "cell/transport/accept.hpp"

#include <chrono>

#include "cell/observability/log.hpp"

namespace cell::transport {

using observability::Level;

void log_escaped_exception(std::exception_ptr error, const char* what) {
    if (!error) {
        return;
    }
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        observability::emit_event(Level::err, std::move(observability::event_line(Level::err, "internal_error")
                                                            .add("error_source", "internal")
                                                            .add("where", what)
                                                            .add("message", e.what())));
    } catch (...) {
        observability::log_event(Level::err, "internal_error", what);
    }
}

awaitable<void> take_connections(tcp_acceptor* acceptor, ConnectionTaker take) {
    const auto executor = co_await net::this_coro::executor;
    for (;;) {
        auto [ec, socket] = co_await acceptor->async_accept();
        if (!acceptor->is_open() || ec == net::error::operation_aborted) {
            co_return;
        }
        if (ec) {
            // EMFILE and friends: back off instead of spinning on the same error.
            observability::log_event(Level::warn, "accept_failed", ec.message());
            steady_timer pause(executor, std::chrono::milliseconds(100));
            co_await pause.async_wait();
            continue;
        }
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        take(std::move(socket));
    }
}

awaitable<void> accept_connections(tcp_acceptor* acceptor, ConnectionHandler serve, const char* what) {
    ConnectionTaker spawn_serve = [serve = std::move(serve), what](tcp_socket socket) {
        const auto executor = socket.get_executor();
        net::co_spawn(executor, serve(std::move(socket)),
                      [what](std::exception_ptr error) { log_escaped_exception(error, what); });
    };
    co_await take_connections(acceptor, std::move(spawn_serve));
}

}  // namespace cell::transport
