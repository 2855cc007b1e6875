#include "cell/proxy/forward.hpp"

#include <optional>

#include <boost/asio/write.hpp>

#include "cell/proxy/error_response.hpp"
#include "cell/proxy/wire_format.hpp"

namespace cell::proxy {
namespace {

using ResponseParser = http::response_parser<http::buffer_body>;
using error_code = boost::system::error_code;

constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
// A cell's response header section larger than this is a bad response (502).
constexpr std::size_t response_header_limit = 64 * 1024;
// More interim (1xx) responses than this before the final one is a bad response (502).
constexpr unsigned max_interim_responses = 16;

// body_limit: the client's chunked body crossed max_request_body_bytes.
enum class FailedSide { none, downstream, upstream, body_limit };

struct StepResult {
    error_code ec;
    FailedSide side = FailedSide::none;

    explicit operator bool() const { return !ec; }
};

StepResult downstream_failure(error_code ec) { return {ec, FailedSide::downstream}; }
StepResult upstream_failure(error_code ec) { return {ec, FailedSide::upstream}; }

bool request_has_body(const RequestParser& parser) {
    const auto length = parser.content_length();
    return parser.chunked() || (length && *length > 0);
}

// Beast reports a full body buffer as need_buffer; for a relay loop that is progress.
error_code ignore_need_buffer(error_code ec) {
    return ec == http::error::need_buffer ? error_code{} : ec;
}

bool is_timeout(const error_code& ec) { return ec == beast::error::timeout; }

// Beast sizes each socket read by the free space of the read buffer: a body that streams needs
// room for large reads, but a body of a few hundred bytes must not cost a 64 KiB allocation
// per request (the session shrinks the client buffer again when idle).
void reserve_for_body(beast::flat_buffer& buffer, const boost::optional<std::uint64_t>& content_length) {
    constexpr std::size_t small_body = 4096;
    const std::uint64_t wanted = content_length ? std::min<std::uint64_t>(*content_length, RelayBuffers::buffer_size)
                                                : RelayBuffers::buffer_size;
    if (wanted > small_body) {
        buffer.reserve(static_cast<std::size_t>(wanted));
    }
}

// The client sent a malformed body (e.g. a bad chunk size), as opposed to going away.
bool is_parse_error(const error_code& ec) {
    return ec.category() == make_error_code(http::error::bad_chunk).category();
}

// The cell's host name did not resolve (as opposed to a refused or timed-out connect).
bool is_resolve_error(const error_code& ec) {
    return ec.category() == net::error::get_netdb_category() || ec.category() == net::error::get_addrinfo_category();
}

// Peer closed or reset a pooled connection before answering: safe to retry a bodiless request
// once on a fresh connection, because the cell cannot have seen it.
bool is_stale_connection_error(const error_code& ec) {
    return ec == http::error::end_of_stream || ec == net::error::eof ||
           ec == net::error::connection_reset || ec == net::error::broken_pipe ||
           ec == net::error::connection_aborted;
}

LocalResponseContext local_context(const ForwardRequest& request, bool keep_alive) {
    const Destination& destination = request.destination;
    LocalResponseContext context;
    context.version = request.parser.get().version();
    context.keep_alive = keep_alive;
    context.request_id = request.request_id;
    context.route_reason = destination.route_reason;
    context.routed_to = destination.serving.name;
    context.failover_reason = destination.failover_reason;
    context.original_placement = destination.original_placement;
    return context;
}

// NOTE: callers pass `detail` as a named local, never a temporary built in the co_await
// expression: GCC 12 destroys such temporaries twice in coroutines.
// `keep_alive`: the client's stream is still in step (only its header was consumed), so the
// connection may stay open; send_local_response closes it anyway when a body is left unread.
awaitable<ConnectionVerdict> answer_with_error(ForwardRequest& request, LocalError error, std::string detail,
                                               std::string_view source, std::string_view limit = {},
                                               bool keep_alive = false) {
    request.record.error_source = source;
    request.record.error = detail;
    LocalResponseContext context = local_context(request, keep_alive);
    context.limit = limit;
    auto response = make_local_response(error, detail, context);
    request.record.status = response.result_int();
    const auto verdict = co_await send_local_response(request.client, request.parser, std::move(response),
                                                      request.worker.draining, request.settings.idle_timeout);
    co_return verdict;
}

// Streams the rewritten request header and its body (Content-Length or chunked) upstream,
// forwarding each piece as soon as it arrives from the client.
template <typename Stream>
awaitable<StepResult> send_request(ForwardRequest& request, Stream& upstream) {
    tcp_stream& upstream_tcp = beast::get_lowest_layer(upstream);
    const auto idle = request.settings.idle_timeout;
    WireHead head;
    build_upstream_request(request.parser.get().base(), request.check,
                           ForwardedFor{std::string(request.request_id), std::string(request.client_address), "http"},
                           request.destination.serving.endpoint.authority, head);
    if (request.parser.chunked()) {
        head.field("Transfer-Encoding", "chunked");
    } else if (const auto length = request.parser.content_length()) {
        head.field("Content-Length", std::to_string(*length));
    }
    BodyFramer framer(request.parser.chunked() ? BodyFraming::chunked : BodyFraming::raw);

    // The head goes out on its own even when a body follows: the client may be waiting for
    // 100 Continue, or sending slowly.
    upstream_tcp.expires_after(idle);
    const std::string& head_bytes = head.finish();
    if (auto [ec, n] = co_await net::async_write(upstream, net::buffer(head_bytes)); ec) {
        co_return upstream_failure(ec);
    }
    if (request.parser.is_done()) {
        co_return StepResult{};
    }
    if (request.check.expects_continue && request.parser.get().version() >= 11) {
        request.client.expires_after(idle);
        if (auto [ec, n] = co_await net::async_write(request.client, net::buffer(continue_line)); ec) {
            co_return downstream_failure(ec);
        }
    }
    auto buffer = request.worker.buffers.take();
    reserve_for_body(request.client_buffer, request.parser.content_length());
    auto& in_body = request.parser.get().body();
    const auto& body_limit = request.destination.serving.policy.max_request_body_bytes;
    for (bool finished = false; !finished;) {
        std::size_t received = 0;
        if (!request.parser.is_done()) {
            in_body.data = buffer.data();
            in_body.size = buffer.size();
            request.client.expires_after(idle);
            auto [ec, n] = co_await http::async_read_some(request.client, request.client_buffer, request.parser);
            if (ec = ignore_need_buffer(ec); ec) {
                co_return downstream_failure(ec);
            }
            received = buffer.size() - in_body.size;
            request.record.bytes_in += received;
            // Checked before the piece goes upstream: a body over the limit never reaches the
            // cell whole (a Content-Length over it was refused before connecting).
            if (body_limit && request.record.bytes_in > *body_limit) {
                co_return StepResult{http::error::body_limit, FailedSide::body_limit};
            }
        }
        finished = request.parser.is_done();
        if (received == 0 && !finished) {
            continue;
        }
        const auto pieces = framer.frame(net::buffer(buffer.data(), received), finished);
        if (net::buffer_size(pieces) == 0) {
            continue;
        }
        upstream_tcp.expires_after(idle);
        auto [ec, n] = co_await net::async_write(upstream, pieces);
        if (ec) {
            co_return upstream_failure(ec);
        }
    }
    co_return StepResult{};
}

// Reads the final response header, passing interim 1xx responses on to the client (RFC 9110
// §15.2) except 100 Continue, which the router already answered itself.
template <typename Stream>
awaitable<StepResult> read_response_header(ForwardRequest& request, Stream& upstream,
                                           beast::flat_buffer& upstream_buffer,
                                           std::optional<ResponseParser>& response) {
    const bool head = request.parser.get().method() == http::verb::head;
    beast::get_lowest_layer(upstream).expires_after(request.destination.serving.policy.response_timeout);
    upstream_buffer.max_size(read_buffer_limit(response_header_limit));
    for (unsigned interim_responses = 0;;) {
        response.emplace();
        response->body_limit(boost::none);
        response->header_limit(response_header_limit);
        response->skip(head);
        auto [ec, n] = co_await http::async_read_header(upstream, upstream_buffer, *response);
        if (ec) {
            co_return upstream_failure(ec);
        }
        const unsigned status = response->get().result_int();
        if (!is_valid_response_status(status)) {
            co_return upstream_failure(http::error::bad_status);
        }
        if (status >= 200) {
            co_return StepResult{};
        }
        if (status == 101) {
            // Upgrade is hop-by-hop and never forwarded, so a switch is a protocol violation.
            co_return upstream_failure(http::error::bad_status);
        }
        // A cell that answers with 1xx after 1xx is broken, not slow: the response timeout alone
        // would let it send thousands, each relayed to the client.
        if (++interim_responses > max_interim_responses) {
            co_return upstream_failure(http::error::bad_status);
        }
        if (status == 100 || request.parser.get().version() < 11) {
            continue;  // HTTP/1.0 clients must not see 1xx (RFC 9110 §15.2)
        }
        http::response<http::empty_body> interim;
        interim.version(11);
        build_interim_response(response->get().base(), interim.base());
        request.client.expires_after(request.settings.idle_timeout);
        if (auto [wec, wn] = co_await http::async_write(request.client, interim); wec) {
            co_return downstream_failure(wec);
        }
    }
}

// Adds Content-Length / chunked / Connection to the client response head from what the upstream
// sent, and says how the body pieces must be framed. Returns whether the client connection can
// be kept after this response.
bool frame_downstream_response(const ForwardRequest& request, const ResponseParser& response, WireHead& out,
                               BodyFraming& framing) {
    const unsigned client_version = request.parser.get().version();
    const unsigned status = response.get().result_int();
    const bool head = request.parser.get().method() == http::verb::head;
    const bool bodiless_status = status == 204 || status == 304 || status < 200;
    bool keep_alive = request.parser.keep_alive() && !request.worker.draining;
    framing = BodyFraming::raw;
    if (head || bodiless_status) {
        // HEAD and 304 may announce the length of the body they don't carry.
        if (const auto length = response.content_length(); length && status != 204) {
            out.field("Content-Length", std::to_string(*length));
        }
    } else if (const auto length = response.content_length()) {
        out.field("Content-Length", std::to_string(*length));
    } else if (client_version >= 11) {
        out.field("Transfer-Encoding", "chunked");
        framing = BodyFraming::chunked;
    } else {
        // An HTTP/1.0 client cannot parse chunked: end the body by closing the connection.
        keep_alive = false;
    }
    // The cell's Connection field is hop-by-hop and was not copied: say only what differs from
    // the client's protocol version's default.
    if (client_version >= 11 && !keep_alive) {
        out.field("Connection", "close");
    } else if (client_version < 11 && keep_alive) {
        out.field("Connection", "keep-alive");
    }
    return keep_alive;
}

// Streams the response body to the client as it arrives. An upstream failure mid-body aborts
// the client connection: a truncated body must never look complete.
template <typename Stream>
awaitable<StepResult> relay_response(ForwardRequest& request, Stream& upstream,
                                     beast::flat_buffer& upstream_buffer, ResponseParser& response,
                                     const std::string& head, BodyFraming framing) {
    const auto idle = request.settings.idle_timeout;
    BodyFramer framer(framing);
    auto buffer = request.worker.buffers.take();
    auto& in_body = response.get().body();
    // The cell's header usually arrives together with the start of its body: when those body
    // bytes are already buffered, send them with the header in one write. Otherwise the header
    // goes out alone at once, so a client of a slow body is not kept waiting for it.
    bool header_sent = false;
    if (!response.is_done()) {
        reserve_for_body(upstream_buffer, response.content_length());
    }
    for (bool finished = false; !finished;) {
        std::size_t received = 0;
        if (!response.is_done() && (header_sent || upstream_buffer.size() > 0)) {
            in_body.data = buffer.data();
            in_body.size = buffer.size();
            beast::get_lowest_layer(upstream).expires_after(idle);
            auto [ec, n] = co_await http::async_read_some(upstream, upstream_buffer, response);
            if (ec = ignore_need_buffer(ec); ec) {
                co_return upstream_failure(ec);
            }
            received = buffer.size() - in_body.size;
        }
        finished = response.is_done();
        if (received == 0 && !finished && header_sent) {
            continue;
        }
        const auto body = framer.frame(net::buffer(buffer.data(), received), finished);
        const std::array<net::const_buffer, 4> pieces{
            header_sent ? net::const_buffer{} : net::buffer(head), body[0], body[1], body[2]};
        if (net::buffer_size(pieces) > 0) {
            request.client.expires_after(idle);
            auto [ec, n] = co_await net::async_write(request.client, pieces);
            if (ec) {
                co_return downstream_failure(ec);
            }
        }
        header_sent = true;
        request.record.bytes_out += received;
    }
    co_return StepResult{};
}

awaitable<ConnectionVerdict> upstream_error_before_response(ForwardRequest& request, const error_code& ec) {
    const LocalError error = is_timeout(ec) ? LocalError::upstream_timeout : LocalError::upstream_bad_response;
    request.record.upstream_outcome = resilience::Outcome::failure;
    std::string detail = is_timeout(ec) ? "no response headers from the cell within the response timeout"
                                        : "cell closed the connection or sent an invalid response: " + ec.message();
    const auto verdict = co_await answer_with_error(request, error, std::move(detail), "upstream");
    co_return verdict;
}

}  // namespace

awaitable<ConnectionVerdict> send_local_response(tcp_stream& client, const RequestParser& parser,
                                                 http::response<http::string_body> response,
                                                 bool draining, config::Duration write_timeout) {
    // An unread request body would be taken for the next request: close instead.
    const bool keep_alive = response.keep_alive() && parser.is_header_done() && parser.is_done() &&
                            parser.keep_alive() && !draining;
    response.keep_alive(keep_alive);
    client.expires_after(write_timeout);
    auto [ec, n] = co_await http::async_write(client, response);
    if (ec) {
        co_return ConnectionVerdict::abort;
    }
    co_return keep_alive ? ConnectionVerdict::keep_alive : ConnectionVerdict::close;
}

awaitable<ConnectionVerdict> forward_request(ForwardRequest request) {
    const routing::PlacementTarget& target = request.destination.serving;
    const bool bodiless = !request_has_body(request.parser);
    std::optional<UpstreamLease> lease;
    std::optional<ResponseParser> response;
    beast::flat_buffer upstream_buffer;
    // Declared after `lease`, so it is destroyed first and never points at a closed stream.
    struct UpstreamTracking {
        SessionRegistration& registration;
        ~UpstreamTracking() { registration.set_upstream(nullptr); }
    } tracking{request.registration};

    // At most two attempts: the second only when a pooled connection turned out stale.
    for (int attempt = 0;; ++attempt) {
        auto [connect_ec, acquired] = co_await request.worker.pool.acquire(
            target, target.policy.connect_timeout, attempt == 0);
        if (connect_ec) {
            request.record.upstream_outcome = resilience::Outcome::failure;
            std::string detail = is_timeout(connect_ec)          ? std::string("connect to the cell timed out")
                                 : is_resolve_error(connect_ec) ? "cannot resolve the cell's host " +
                                                                      target.endpoint.host + ": " +
                                                                      connect_ec.message()
                                                                : "cannot connect to the cell: " + connect_ec.message();
            const auto verdict = co_await answer_with_error(request, LocalError::upstream_unreachable,
                                                            std::move(detail), "upstream", {}, true);
            co_return verdict;
        }
        request.registration.set_upstream(nullptr);
        lease.reset();
        lease.emplace(std::move(*acquired));
        request.registration.set_upstream(&lowest_layer(*lease->stream));
        request.record.upstream_reused = lease->reused;
        upstream_buffer.clear();

        const auto sent = co_await std::visit(
            [&](auto& stream) { return send_request(request, stream); }, *lease->stream);
        StepResult received;
        if (sent) {
            received = co_await std::visit(
                [&](auto& stream) { return read_response_header(request, stream, upstream_buffer, response); },
                *lease->stream);
        }
        const StepResult& failed = sent ? received : sent;
        if (!failed.ec) {
            break;
        }
        if (failed.side == FailedSide::body_limit) {
            // Closing the cell connection mid-body aborts the request there.
            request.registration.set_upstream(nullptr);
            lease.reset();
            std::string detail = "request body exceeds max_request_body_bytes (" +
                                 std::to_string(*target.policy.max_request_body_bytes) + ") of placement " +
                                 target.name;
            const auto verdict = co_await answer_with_error(request, LocalError::body_too_large, std::move(detail),
                                                            "downstream", "max_request_body_bytes");
            co_return verdict;
        }
        if (failed.side == FailedSide::downstream && is_parse_error(failed.ec)) {
            // Dropping the upstream connection first means the cell never receives a
            // complete request built from an ambiguous body.
            request.registration.set_upstream(nullptr);
            lease.reset();
            std::string detail = "malformed request body: " + failed.ec.message();
            const auto verdict =
                co_await answer_with_error(request, LocalError::bad_request, std::move(detail), "downstream");
            co_return verdict;
        }
        if (failed.side == FailedSide::downstream) {
            request.record.status = 499;
            request.record.error_source = "downstream";
            request.record.error = failed.ec.message();
            co_return ConnectionVerdict::abort;
        }
        if (attempt == 0 && lease->reused && bodiless && is_stale_connection_error(failed.ec)) {
            continue;
        }
        const auto verdict = co_await upstream_error_before_response(request, failed.ec);
        co_return verdict;
    }

    WireHead head;
    const Destination& destination = request.destination;
    build_downstream_response(response->get().base(),
                              RouteHeaders{target.name, destination.route_reason, request.request_id,
                                           destination.failover_reason, destination.original_placement},
                              request.parser.get().version(), head);
    BodyFraming framing = BodyFraming::raw;
    const bool client_keep_alive = frame_downstream_response(request, *response, head, framing);
    request.record.status = response->get().result_int();
    request.record.upstream_outcome =
        request.record.status >= 500 ? resilience::Outcome::failure : resilience::Outcome::success;

    const auto relayed = co_await std::visit(
        [&](auto& stream) {
            return relay_response(request, stream, upstream_buffer, *response, head.finish(), framing);
        },
        *lease->stream);
    if (!relayed) {
        if (relayed.side == FailedSide::upstream) {
            request.record.upstream_outcome = resilience::Outcome::failure;  // the body broke off
        }
        request.record.error_source = relayed.side == FailedSide::upstream ? "upstream" : "downstream";
        request.record.error = relayed.ec.message();
        co_return ConnectionVerdict::abort;
    }
    if (response->keep_alive() && upstream_buffer.size() == 0) {
        request.registration.set_upstream(nullptr);
        request.worker.pool.release(std::move(*lease));
    }
    co_return client_keep_alive ? ConnectionVerdict::keep_alive : ConnectionVerdict::close;
}

}  // namespace cell::proxy
