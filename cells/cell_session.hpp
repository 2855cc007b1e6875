#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>

namespace cell::demo {

struct CellState;

// Serves one connection: requests are read and answered strictly in order (keep-alive and
// pipelining), bodies are streamed through SHA-256 and never buffered whole.
// `digest_executor` runs hashing of large generated bodies off the I/O thread.
boost::asio::awaitable<void> run_session(boost::asio::ip::tcp::socket socket,
                                         std::shared_ptr<CellState> state,
                                         boost::asio::any_io_executor digest_executor);

}  // namespace cell::demo
