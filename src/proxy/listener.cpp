#include "cell/proxy/listener.hpp"

#include <sys/socket.h>

#include <chrono>

#include "cell/proxy/session.hpp"
#include "cell/transport/accept.hpp"

namespace cell::proxy {

tcp_acceptor open_reuseport_acceptor(executor_type executor, const tcp::endpoint& endpoint) {
    tcp_acceptor acceptor(executor);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    const int enable = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &enable, sizeof enable) != 0) {
        throw boost::system::system_error(errno, boost::system::system_category(), "setsockopt(SO_REUSEPORT)");
    }
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
    return acceptor;
}

void ensure_port_is_free(const tcp::endpoint& endpoint) {
    net::io_context context;
    tcp::acceptor probe(context);
    probe.open(endpoint.protocol());
    // SO_REUSEADDR: only a listening socket, not a connection lingering in TIME_WAIT, makes the
    // port taken.
    probe.set_option(net::socket_base::reuse_address(true));
    probe.bind(endpoint);
}

namespace {

// Counts the connection against max_connections (from the table this worker serves now) for as
// long as its session runs, or refuses it politely when the router is full.
awaitable<void> serve_or_refuse(tcp_socket socket, WorkerState* worker) {
    TimedSocket stream(std::move(socket));
    const std::uint32_t limit = worker->current_table()->settings().max_connections;
    resilience::ConnectionLimit::Slot slot = worker->connections.try_open(limit);
    if (!slot) {
        co_await refuse_connection(std::move(stream), limit, &worker->access_log);
        co_return;
    }
    co_await run_session(std::move(stream), worker);
}

}  // namespace

awaitable<void> accept_loop(tcp_acceptor* acceptor, WorkerState* worker) {
    return transport::accept_connections(
        acceptor, [worker](tcp_socket socket) { return serve_or_refuse(std::move(socket), worker); }, "session");
}

}  // namespace cell::proxy
