#pragma once
// Asio/Beast aliases shared by every network-facing part (proxy, admin, control plane, health
// checks). Heavy: include only from .cpp files and from headers that are themselves only
// included by .cpp files.
//
// Every I/O object gets `as_tuple(use_awaitable)` as its default completion token, so
// `auto [ec, n] = co_await stream.async_read_some(buf);` needs no token and expected network
// failures arrive as error codes, never as exceptions.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace cell {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

// Every loop is an io_context run by one thread, so the I/O objects and coroutines use its
// concrete executor type: the type-erased any_io_executor costs a virtual-style dispatch and
// copies on every operation, which the request path does several times per request.
using io_executor = net::io_context::executor_type;
using default_token = net::as_tuple_t<net::use_awaitable_t<io_executor>>;
using executor_type = default_token::executor_with_default<io_executor>;
using tcp_stream = beast::tcp_stream::rebind_executor<executor_type>::other;
using tcp_socket = tcp::socket::rebind_executor<executor_type>::other;
using tcp_acceptor = tcp::acceptor::rebind_executor<executor_type>::other;
using tcp_resolver = tcp::resolver::rebind_executor<executor_type>::other;
using steady_timer = net::steady_timer::rebind_executor<executor_type>::other;

template <typename T>
using awaitable = net::awaitable<T, io_executor>;

// The executor for I/O objects and coroutines that `context` runs.
inline io_executor loop_executor(net::io_context& context) { return context.get_executor(); }

}  // namespace cell
