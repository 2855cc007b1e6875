#pragma once

#include "cell_http_stream.hpp"
#include "cell_response_plan.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <string_view>

namespace cell::demo {

struct ResponseTarget {
  unsigned version = 11;
  bool head_request = false;
  bool keep_alive = true;
  std::string_view cell_name;
};

struct WriteOutcome {
  bool ok = false;
  std::uint64_t body_bytes_sent = 0;
};

// Serialises `plan` onto the stream, streaming bodies in kPieceSize pieces. The stream is a
// reference because callers co_await this directly, so their frame outlives the call.
net::awaitable<WriteOutcome> write_response(TcpStream& stream, ResponsePlan plan,
                                            ResponseTarget target);

// For interim responses (100 Continue, 103 Early Hints), which Beast does not model.
net::awaitable<bool> write_raw(TcpStream& stream, std::string_view text);

}  // namespace cell::demo
