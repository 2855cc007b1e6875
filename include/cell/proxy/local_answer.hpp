#pragma once
// The one way the router answers a request itself: an error, a refusal, or /debug/config on the
// proxy port. Include only from .cpp files (Beast).

#include <boost/beast/http/string_body.hpp>

#include "cell/proxy/client_connection.hpp"
#include "cell/proxy/error_response.hpp"
#include "cell/proxy/exchange.hpp"

namespace cell::proxy {

// Sends `answer` for the exchange and ends it with the answer's outcome. `keep_alive`: the
// client's stream is still in step (a request whose framing failed never is), so the connection
// may stay open; it closes anyway when the request body was not read to its end.
// NOTE: pass `answer` as a named local: GCC 12 destroys temporaries built inside a co_await
// expression twice.
awaitable<ConnectionVerdict> answer_locally(ClientConnection& client, Exchange& exchange, LocalAnswer answer,
                                            bool keep_alive);

// Writes a router-made response and says how the connection goes on: kept only when the
// response allows it, the request was read whole, the client wants it and the worker is not
// draining.
awaitable<ConnectionVerdict> send_local_response(ClientConnection& client,
                                                 http::response<http::string_body> response,
                                                 config::Duration write_timeout);

}  // namespace cell::proxy
