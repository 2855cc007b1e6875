#pragma once

// Beast/Asio types shared by the session and the response writer. Include only from .cpp files:
// Beast headers are expensive to compile.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>

namespace cell::demo {

namespace net = boost::asio;
namespace beast = boost::beast;

// Network failures are expected here, so every async call yields (error_code, ...) instead of throwing.
using Token = net::as_tuple_t<net::use_awaitable_t<>>;
using TcpStream =
    beast::tcp_stream::rebind_executor<Token::executor_with_default<net::any_io_executor>>::other;
using SteadyTimer = Token::as_default_on_t<net::steady_timer>;

// Applied to every single read or write, so it bounds inactivity, not transfer time.
inline constexpr std::chrono::seconds kIdleTimeout{60};

}  // namespace cell::demo
