#include "cell_response_writer.hpp"

#include "cell_body_pattern.hpp"

#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>

namespace cell::demo {
namespace {

namespace http = beast::http;

using Response = http::response<http::buffer_body>;

void set_framing(Response& response, const ResponsePlan& plan) {
  if (!status_allows_body(plan.status)) {
    return;
  }
  switch (plan.framing) {
    case Framing::chunked:
      response.chunked(true);
      break;
    case Framing::content_length:
      response.content_length(plan.abort_after ? plan.announced_length : full_body_length(plan));
      break;
    case Framing::close_delimited:
      // No length and no chunking: the body ends when the connection closes.
      break;
  }
}

std::string_view body_piece(const ResponsePlan& plan, std::uint64_t offset, std::size_t size) {
  if (plan.body_kind == BodyKind::json) {
    return std::string_view(plan.json).substr(static_cast<std::size_t>(offset), size);
  }
  return pattern_source().piece(offset, size);
}

}  // namespace

net::awaitable<WriteOutcome> write_response(TcpStream& stream, ResponsePlan plan,
                                            ResponseTarget target) {
  Response response;
  response.version(target.version);
  response.result(plan.status);
  if (response.result() == http::status::unknown) {
    // Beast would print "<unknown-status>"; a neutral phrase reads better in client logs.
    response.reason("Unknown Status");
  }
  response.set(http::field::server, "cellrouter-demo-cell");
  response.set("X-Cell-Name", target.cell_name);
  if (status_allows_body(plan.status)) {
    response.set(http::field::content_type, plan.content_type);
  }
  for (const auto& [name, value] : plan.headers) {
    response.set(name, value);
  }
  set_framing(response, plan);
  response.keep_alive(target.keep_alive);

  http::response_serializer<http::buffer_body> serializer{response};
  WriteOutcome outcome;
  const std::uint64_t total = target.head_request ? 0 : bytes_to_send(plan);
  const bool headers_only = target.head_request || !status_allows_body(plan.status);

  stream.expires_after(kIdleTimeout);
  // A HEAD answer carries the GET framing headers but must not get even a chunk terminator,
  // and an abort of zero bytes must still put the promising headers on the wire.
  if (headers_only || (total == 0 && plan.abort_after)) {
    const auto [ec, written] = co_await http::async_write_header(stream, serializer);
    outcome.ok = !ec;
    co_return outcome;
  }
  if (total == 0) {
    response.body().data = nullptr;
    response.body().size = 0;
    response.body().more = false;
    const auto [ec, written] = co_await http::async_write(stream, serializer);
    outcome.ok = !ec;
    co_return outcome;
  }

  SteadyTimer pause_timer{stream.get_executor()};
  for (std::uint64_t offset = 0; offset < total;) {
    const auto size = static_cast<std::size_t>(std::min<std::uint64_t>(kPieceSize, total - offset));
    const std::string_view piece = body_piece(plan, offset, size);
    offset += size;
    // buffer_body wants void*, but the serializer only reads through it.
    response.body().data = const_cast<char*>(piece.data());
    response.body().size = piece.size();
    // An aborting body never ends, so a chunked one gets no terminating chunk either.
    response.body().more = offset < total || plan.abort_after.has_value();
    stream.expires_after(kIdleTimeout);
    auto [ec, written] = co_await http::async_write(stream, serializer);
    if (ec == http::error::need_buffer) {
      ec = {};
    }
    if (ec) {
      co_return outcome;
    }
    outcome.body_bytes_sent = offset;
    if (plan.pause_ms > 0 && offset < total) {
      pause_timer.expires_after(std::chrono::milliseconds(plan.pause_ms));
      co_await pause_timer.async_wait();
    }
  }
  outcome.ok = true;
  co_return outcome;
}

net::awaitable<bool> write_raw(TcpStream& stream, std::string_view text) {
  stream.expires_after(kIdleTimeout);
  const auto [ec, written] = co_await net::async_write(stream, net::buffer(text.data(), text.size()));
  co_return !ec;
}

}  // namespace cell::demo
