#pragma once
// Runs one parsed cellctl invocation: reads files, talks to the control plane through
// `exchange`, prints to `out` (results) and `err` (refusals and errors), and returns the exit
// code (options.hpp). The exchange is a parameter so that tests can answer in place of a server.

#include <chrono>
#include <functional>
#include <ostream>

#include "cell/cellctl/http_client.hpp"
#include "cell/cellctl/options.hpp"

namespace cell::cellctl {

// Sends one request; throws NetworkError when there is no answer.
using Exchange = std::function<HttpResponse(const BaseUrl&, const HttpRequest&)>;

// The real thing: send_request with the invocation's --timeout.
Exchange network_exchange(std::chrono::milliseconds timeout);

int run_invocation(const Invocation& invocation, const Exchange& exchange, std::ostream& out, std::ostream& err);

}  // namespace cell::cellctl
