#include "cell/proxy/listener.hpp"

#include <sys/socket.h>

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

awaitable<void> accept_loop(tcp_acceptor* acceptor, WorkerState* worker) {
    return transport::take_connections(acceptor,
                                       [worker](tcp_socket socket) { serve_connection(std::move(socket), worker); });
}

}  // namespace cell::proxy
