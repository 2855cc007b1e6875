#pragma once
// The admin listener (default port 9901): debug endpoints and a liveness check, served on the
// main thread's event loop, away from the workers. Include only from .cpp files.

#include <functional>
#include <string>

#include "cell/transport/io.hpp"

namespace cell::admin {

// One admin answer: JSON unless the endpoint says otherwise (the page is HTML, /metrics is
// Prometheus text).
struct AdminAnswer {
    http::status status = http::status::ok;
    std::string body;
    std::string_view content_type = "application/json";
};

// Answers one admin request: the answer to a GET of `path` with the (still percent-encoded)
// `query`, empty when the target has none.
using AdminHandler = std::function<AdminAnswer(std::string_view path, std::string_view query)>;

// Accepts until the acceptor is closed. NOTE: `acceptor` must outlive the loop.
awaitable<void> admin_accept_loop(tcp_acceptor* acceptor, AdminHandler handler);

}  // namespace cell::admin
