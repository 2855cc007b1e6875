#include "cell_server.hpp"

#include "cell_request_log.hpp"
#include "cell_session.hpp"
#include "cell_state.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

namespace cell::demo {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using Token = net::as_tuple_t<net::use_awaitable_t<>>;
using Acceptor = Token::as_default_on_t<tcp::acceptor>;
using SteadyTimer = Token::as_default_on_t<net::steady_timer>;
using ReusePort = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// Completion handler for every co_spawn: an escaped exception is a bug worth a line on stderr,
// but must not take the other connections down with it.
struct LogEscapedException {
  const char* where;
  void operator()(std::exception_ptr error) const {
    if (!error) {
      return;
    }
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cell: %s: unhandled exception: %s\n", where, e.what());
    } catch (...) {
      std::fprintf(stderr, "cell: %s: unhandled non-standard exception\n", where);
    }
  }
};

net::awaitable<void> accept_loop(Acceptor acceptor, std::shared_ptr<CellState> state,
                                 net::any_io_executor digest_executor) {
  SteadyTimer backoff{acceptor.get_executor()};
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept();
    if (ec == net::error::operation_aborted || !acceptor.is_open()) {
      co_return;
    }
    if (ec) {
      // Typically EMFILE: retrying at once would spin, so give sessions time to finish.
      std::fprintf(stderr, "cell: accept failed: %s\n", ec.message().c_str());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait();
      continue;
    }
    boost::system::error_code ignored;
    // Responses are small and often pipelined; Nagle would add latency between them.
    socket.set_option(tcp::no_delay(true), ignored);
    net::co_spawn(acceptor.get_executor(),
                  run_session(tcp::socket(std::move(socket)), state, digest_executor),
                  LogEscapedException{"session"});
  }
}

struct Worker {
  net::io_context context{1};
  std::unique_ptr<Acceptor> acceptor;
};

std::string open_acceptor(Acceptor& acceptor, const tcp::endpoint& endpoint, bool reuse_port) {
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
  }
  if (!ec && reuse_port) {
    acceptor.set_option(ReusePort(true), ec);
  }
  if (!ec) {
    acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  return ec ? ec.message() : std::string{};
}

}  // namespace

int run_cell_server(const CellOptions& options) {
  // A vanished stdout reader must not kill the cell; writes then just fail.
  std::signal(SIGPIPE, SIG_IGN);

  auto state = std::make_shared<CellState>(options.name, options.fail_rate);
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned i = 0; i < options.threads; ++i) {
    workers.push_back(std::make_unique<Worker>());
  }

  const bool reuse_port = options.threads > 1;
  tcp::endpoint endpoint{net::ip::make_address(options.listen_address), options.port};
  for (auto& worker : workers) {
    worker->acceptor = std::make_unique<Acceptor>(worker->context);
    if (auto error = open_acceptor(*worker->acceptor, endpoint, reuse_port); !error.empty()) {
      std::fprintf(stderr, "cell: cannot listen on %s port %u: %s\n",
                   options.listen_address.c_str(), static_cast<unsigned>(endpoint.port()),
                   error.c_str());
      return 1;
    }
    // With --port 0 the first bind picks the port; the other workers must share that one.
    endpoint = worker->acceptor->local_endpoint();
  }

  net::signal_set signals{workers.front()->context, SIGINT, SIGTERM};
  signals.async_wait([&workers, state](const boost::system::error_code& ec, int) {
    if (ec) {
      return;
    }
    state->stopping.store(true);
    for (auto& worker : workers) {
      worker->context.stop();
    }
  });

  write_stdout_line(listening_line(options.name, endpoint.address().to_string(), endpoint.port()));

  net::thread_pool digest_pool{1};
  for (auto& worker : workers) {
    net::co_spawn(worker->context,
                  accept_loop(std::move(*worker->acceptor), state, digest_pool.get_executor()),
                  LogEscapedException{"acceptor"});
  }

  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < workers.size(); ++i) {
    threads.emplace_back([context = &workers[i]->context] { context->run(); });
  }
  workers.front()->context.run();
  for (auto& thread : threads) {
    thread.join();
  }
  // Sessions may still await the pool; stop it before the contexts that own them go away.
  digest_pool.stop();
  digest_pool.join();
  return 0;
}

}  // namespace cell::demo
