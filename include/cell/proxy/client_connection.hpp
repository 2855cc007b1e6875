#pragma once
// What one downstream connection lends to each request on it: its stream, its read buffer, the
// request's parser, the worker that runs it. Include only from .cpp files (Beast).

#include "cell/proxy/worker_state.hpp"
#include "cell/transport/io.hpp"

namespace cell::proxy {

using RequestParser = http::request_parser<http::buffer_body>;

// How the client connection continues after an exchange.
enum class ConnectionVerdict {
    keep_alive,  // ready for the next request
    close,       // response complete; close gracefully
    abort,       // response incomplete or client gone; close at once
};

// NOTE: every reference belongs to the session coroutine, which outlives each request's.
struct ClientConnection {
    TimedSocket& stream;
    beast::flat_buffer& buffer;
    RequestParser& parser;
    WorkerState& worker;
    SessionRegistration& registration;
};

}  // namespace cell::proxy
