#pragma once
// One request's trip to its cell and back: acquire a connection (new or pooled), send the
// rewritten request head and stream the body up, await the response head (relaying interim
// responses), relay the body down, release the connection to the pool.
// Include only from .cpp files (pulls in Asio/Beast).

#include "cell/proxy/client_connection.hpp"
#include "cell/proxy/exchange.hpp"

namespace cell::proxy {

// Forwards the exchange to its serving placement (set, and admitted by its limits) and ends
// it: with the served outcome, or with the failure, answered locally when no response had
// started yet.
awaitable<ConnectionVerdict> forward_request(ClientConnection& client, Exchange& exchange);

}  // namespace cell::proxy
