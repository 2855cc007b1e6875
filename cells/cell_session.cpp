#include "cell_session.hpp"

#include "cell_http_stream.hpp"
#include "cell_query.hpp"
#include "cell_request_log.hpp"
#include "cell_response_writer.hpp"
#include "cell_sha256.hpp"
#include "cell_state.hpp"
#include "cell_timestamp.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include <random>
#include <vector>

namespace cell::demo {
namespace {

namespace http = beast::http;
using tcp = net::ip::tcp;
using RequestParser = http::request_parser<http::buffer_body>;

constexpr std::uint32_t kHeaderLimit = 64 * 1024;
// Bounds what a client can make us buffer ahead of the parser (pipelined bytes included).
constexpr std::size_t kReadBufferLimit = 256 * 1024;
constexpr std::chrono::seconds kLingerTimeout{2};
constexpr std::uint64_t kMaxLingerBytes = 1024 * 1024;
// Hashing 1 MiB inline stalls the event loop for a few milliseconds at most; more goes to the pool.
constexpr std::uint64_t kInlineDigestLimit = 1024 * 1024;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kEarlyHints =
    "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";

// 0 when the failure is a transport event (peer gone, timeout) rather than bad input.
unsigned protocol_error_status(const beast::error_code& ec) {
  if (ec.category() != http::make_error_code(http::error::end_of_stream).category()) {
    return 0;
  }
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
    return 0;
  }
  if (ec == http::error::header_limit) {
    return 431;
  }
  return 400;
}

double random_draw() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>{0.0, 1.0}(generator);
}

RequestSummary summarize_head(const RequestParser::value_type& request) {
  RequestSummary summary;
  summary.method = std::string(request.method_string());
  summary.target = std::string(request.target());
  summary.version = request.version();
  for (const auto& field : request) {
    summary.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  return summary;
}

bool expects_continue(const RequestParser::value_type& request) {
  return request.version() >= 11 && beast::iequals(request[http::field::expect], "100-continue");
}

net::awaitable<std::optional<std::string>> hash_pattern(std::uint64_t length,
                                                        std::shared_ptr<CellState> state) {
  co_return pattern_sha256_hex(length, &state->stopping);
}

class Session {
 public:
  Session(tcp::socket socket, std::shared_ptr<CellState> state, net::any_io_executor digest_executor)
      : stream_(std::move(socket)),
        buffer_(kReadBufferLimit),
        body_chunk_(kPieceSize),
        state_(std::move(state)),
        digest_executor_(std::move(digest_executor)) {}

  net::awaitable<void> run();

 private:
  // Reads and answers one request; returns whether the connection can carry another.
  net::awaitable<bool> serve_one();
  net::awaitable<bool> respond(RequestSummary request, bool keep_alive,
                               std::chrono::steady_clock::time_point started);
  net::awaitable<std::optional<std::string>> pattern_digest(std::uint64_t length);
  net::awaitable<void> reject(unsigned status, beast::error_code ec);
  net::awaitable<void> linger_close();
  void abort_connection();

  TcpStream stream_;
  beast::flat_buffer buffer_;
  std::vector<char> body_chunk_;
  std::shared_ptr<CellState> state_;
  net::any_io_executor digest_executor_;
};

// co_await stays out of loop and if conditions throughout: GCC 12 miscompiles some of those
// forms (the loop version here crashed with SIGILL).
net::awaitable<void> Session::run() {
  for (;;) {
    const bool reusable = co_await serve_one();
    if (!reusable) {
      co_return;
    }
  }
}

net::awaitable<bool> Session::serve_one() {
  RequestParser parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(boost::none);  // bodies are streamed, so their size costs no memory
  stream_.expires_after(kIdleTimeout);
  const auto [header_ec, header_bytes] = co_await http::async_read_header(stream_, buffer_, parser);
  if (header_ec) {
    if (const unsigned status = protocol_error_status(header_ec)) {
      co_await reject(status, header_ec);
    }
    co_return false;  // idle timeout, peer closed between requests, or connection lost
  }
  const auto started = std::chrono::steady_clock::now();
  auto& request = parser.get();
  if (expects_continue(request) && !parser.is_done()) {
    const bool sent = co_await write_raw(stream_, kContinue);
    if (!sent) {
      co_return false;
    }
  }
  RequestSummary summary = summarize_head(request);
  Sha256 sha;
  while (!parser.is_done()) {
    request.body().data = body_chunk_.data();
    request.body().size = body_chunk_.size();
    stream_.expires_after(kIdleTimeout);
    auto [ec, read] = co_await http::async_read(stream_, buffer_, parser);
    if (ec == http::error::need_buffer) {
      ec = {};  // the chunk buffer is full, not an error
    }
    const std::size_t received = body_chunk_.size() - request.body().size;
    sha.update(body_chunk_.data(), received);
    summary.body_bytes += received;
    if (ec) {
      if (const unsigned status = protocol_error_status(ec)) {
        co_await reject(status, ec);
      }
      co_return false;
    }
  }
  summary.body_sha256 = sha.final_hex();
  const bool keep_alive = request.keep_alive();
  const bool reusable = co_await respond(std::move(summary), keep_alive, started);
  co_return reusable;
}

net::awaitable<bool> Session::respond(RequestSummary request, bool keep_alive,
                                      std::chrono::steady_clock::time_point started) {
  ResponsePlan plan = plan_response(request, *state_, random_draw(),
                                    format_rfc3339_millis(std::chrono::system_clock::now()));
  if (plan.early_hints) {
    const bool sent = co_await write_raw(stream_, kEarlyHints);
    if (!sent) {
      co_return false;
    }
  }
  if (plan.delay_ms > 0) {
    // Other connections keep being served: only this coroutine waits.
    SteadyTimer delay{stream_.get_executor()};
    delay.expires_after(std::chrono::milliseconds(plan.delay_ms));
    co_await delay.async_wait();
  }
  if (plan.needs_pattern_digest) {
    auto digest = co_await pattern_digest(plan.pattern_bytes);
    if (!digest) {
      co_return false;  // shutting down
    }
    plan.headers.emplace_back("X-Body-Sha256", std::move(*digest));
  }

  const bool reuse = keep_alive && !plan.close_after;
  const bool aborting = plan.abort_after.has_value();
  const unsigned status = plan.status;
  const ResponseTarget target{request.version, request.method == "HEAD", reuse, state_->name};
  const WriteOutcome outcome = co_await write_response(stream_, std::move(plan), target);

  const std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - started;
  emit_log_line(request_log_line({
      .cell = state_->name,
      .method = request.method,
      .path = split_target(request.target).path,
      .status = status,
      .body_bytes = request.body_bytes,
      .request_id = header_value(request.headers, "X-Request-Id"),
      .routing_key = header_value(request.headers, "X-Routing-Key"),
      .duration_ms = elapsed.count(),
  }));

  if (!outcome.ok || aborting) {
    abort_connection();
    co_return false;
  }
  if (!reuse) {
    co_await linger_close();
    co_return false;
  }
  co_return true;
}

net::awaitable<std::optional<std::string>> Session::pattern_digest(std::uint64_t length) {
  if (auto cached = state_->digests.find(length)) {
    co_return cached;
  }
  std::optional<std::string> digest;
  if (length <= kInlineDigestLimit) {
    digest = pattern_sha256_hex(length);
  } else {
    // Hashing a gigabyte takes seconds; doing it here would stall every other connection.
    digest = co_await net::co_spawn(digest_executor_, hash_pattern(length, state_),
                                    net::use_awaitable);
  }
  if (digest) {
    state_->digests.store(length, *digest);
  }
  co_return digest;
}

net::awaitable<void> Session::reject(unsigned status, beast::error_code ec) {
  const std::string message = "malformed request: " + ec.message();
  emit_log_line(protocol_error_log_line(state_->name, status, message));
  const ResponseTarget target{11, false, false, state_->name};
  const WriteOutcome outcome =
      co_await write_response(stream_, plan_error(state_->name, status, message), target);
  if (outcome.ok) {
    co_await linger_close();
  } else {
    abort_connection();
  }
}

// Closing while the client is still sending would make the kernel answer with a RST, which can
// destroy our last response before the client reads it; so shut down our side and drain first.
net::awaitable<void> Session::linger_close() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream_.expires_after(kLingerTimeout);
  std::uint64_t drained = 0;
  while (drained < kMaxLingerBytes) {
    const auto [ec, read] = co_await stream_.async_read_some(net::buffer(body_chunk_));
    if (ec) {
      break;
    }
    drained += read;
  }
  stream_.close();
}

void Session::abort_connection() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
}

}  // namespace

net::awaitable<void> run_session(tcp::socket socket, std::shared_ptr<CellState> state,
                                 net::any_io_executor digest_executor) {
  Session session{std::move(socket), std::move(state), std::move(digest_executor)};
  co_await session.run();
}

}  // namespace cell::demo
