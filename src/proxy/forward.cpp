#include "cell/proxy/forward.hpp"

#include <optional>

#include <boost/asio/write.hpp>

#include "cell/proxy/local_answer.hpp"
#include "cell/proxy/wire_format.hpp"

namespace cell::proxy {
namespace {

using observability::Outcome;

using ResponseParser = http::response_parser<http::buffer_body>;
using error_code = boost::system::error_code;

constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
// A cell's response header section larger than this is a bad response (502).
constexpr std::size_t response_header_limit = 64 * 1024;
// More interim (1xx) responses than this before the final one is a bad response (502).
constexpr unsigned max_interim_responses = 16;

// connect: no connection to the cell; body_limit: the client's chunked body crossed
// max_request_body_bytes.
enum class FailedSide { none, connect, downstream, upstream, body_limit };

struct StepResult {
    error_code ec;
    FailedSide side = FailedSide::none;

    explicit operator bool() const { return !ec; }
};

StepResult downstream_failure(error_code ec) { return {ec, FailedSide::downstream}; }
StepResult upstream_failure(error_code ec) { return {ec, FailedSide::upstream}; }

StepResult connect_failure(error_code ec) { return {ec, FailedSide::connect}; }

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

// What a failure before the response began tells the client.
LocalAnswer answer_for_connect_failure(const error_code& ec, const routing::PlacementTarget& target) {
    if (is_timeout(ec)) {
        return LocalAnswer(Outcome::connect_failed, "connect to the cell timed out", "connection_timeout");
    }
    if (is_resolve_error(ec)) {
        return LocalAnswer(Outcome::connect_failed,
                           "cannot resolve the cell's host " + target.endpoint.host + ": " + ec.message(), "dns_error");
    }
    return LocalAnswer(Outcome::connect_failed, "cannot connect to the cell: " + ec.message(),
                       ec == net::error::connection_refused ? "connection_refused" : "destination_unavailable");
}

LocalAnswer answer_for_upstream_failure(const error_code& ec) {
    if (is_timeout(ec)) {
        return LocalAnswer(Outcome::upstream_timeout, "no response headers from the cell within the response timeout");
    }
    if (is_stale_connection_error(ec)) {
        return LocalAnswer(Outcome::upstream_reset, "the cell closed the connection before responding: " + ec.message());
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        return LocalAnswer(Outcome::bad_upstream_response, "the cell's response header section is too large",
                           "http_response_header_section_size");
    }
    return LocalAnswer(Outcome::bad_upstream_response, "the cell sent an invalid response: " + ec.message());
}

// How a response that had already begun broke off.
Outcome outcome_of_broken_relay(const StepResult& failed) {
    if (failed.side != FailedSide::upstream) {
        return Outcome::client_closed;
    }
    if (is_timeout(failed.ec)) {
        return Outcome::upstream_timeout;
    }
    return is_stale_connection_error(failed.ec) ? Outcome::upstream_reset : Outcome::bad_upstream_response;
}

// The phases of one forwarded exchange, sharing its cell connection and response parser.
class Forwarder {
public:
    Forwarder(ClientConnection& client, Exchange& exchange)
        : client_(client), exchange_(exchange), target_(*exchange.serving),
          idle_timeout_(exchange.table->settings().idle_timeout) {}
    // Runs before the members are destroyed: the registry never points at a closed stream.
    ~Forwarder() { client_.registration.set_upstream(nullptr); }
    Forwarder(const Forwarder&) = delete;
    Forwarder& operator=(const Forwarder&) = delete;

    // The phases, in order; forward_request runs them.
    awaitable<StepResult> acquire_connection(bool allow_reuse);
    awaitable<StepResult> send_request();
    awaitable<StepResult> await_response_head();
    awaitable<StepResult> relay_response();
    void release_connection();
    awaitable<ConnectionVerdict> fail_before_response(StepResult failed);
    // After relay_response: the exchange ends as served, or broken off.
    ConnectionVerdict finish_relayed(const StepResult& relayed);

    bool retries_on_new_connection(const StepResult& failed, int attempt) const;

private:
    void drop_connection();

    template <typename Stream> awaitable<StepResult> send_request_on(Stream& upstream);
    template <typename Stream> awaitable<StepResult> await_response_head_on(Stream& upstream);
    template <typename Stream>
    awaitable<StepResult> relay_body_on(Stream& upstream, const std::string& head, BodyFraming framing);
    bool frame_downstream_response(WireHead& out, BodyFraming& framing) const;

    ClientConnection& client_;
    Exchange& exchange_;
    const routing::PlacementTarget& target_;
    const config::Duration idle_timeout_;
    std::optional<UpstreamLease> lease_;
    std::optional<ResponseParser> response_;
    beast::flat_buffer upstream_buffer_;
    WireHead response_head_;  // the client's response head, written while its body is relayed
    bool client_keep_alive_ = false;
};

// A pooled connection the cell had closed: a bodiless request is tried once more on a new one,
// because the cell cannot have seen it.
bool Forwarder::retries_on_new_connection(const StepResult& failed, int attempt) const {
    return attempt == 0 && !request_has_body(client_.parser) && failed.side == FailedSide::upstream &&
           lease_->reused && is_stale_connection_error(failed.ec);
}

ConnectionVerdict Forwarder::finish_relayed(const StepResult& relayed) {
    if (!relayed) {
        exchange_.error = relayed.ec.message();
        exchange_.finish(outcome_of_broken_relay(relayed));
        return ConnectionVerdict::abort;
    }
    release_connection();
    exchange_.finish(exchange_.served_outcome());
    return client_keep_alive_ ? ConnectionVerdict::keep_alive : ConnectionVerdict::close;
}

awaitable<StepResult> Forwarder::acquire_connection(bool allow_reuse) {
    drop_connection();
    // The first attempt starts the moment routing ended: one clock read less per request.
    exchange_.at.connect_started = allow_reuse ? exchange_.at.routed : ExchangeClock::now();
    auto [ec, acquired] = co_await client_.worker.pool.acquire(target_, target_.policy.connect_timeout, allow_reuse);
    exchange_.at.connected = ExchangeClock::now();
    if (ec) {
        co_return connect_failure(ec);
    }
    lease_.emplace(std::move(*acquired));
    client_.registration.set_upstream(&lowest_layer(*lease_->stream));
    exchange_.upstream_reused = lease_->reused;
    upstream_buffer_.clear();
    co_return StepResult{};
}

awaitable<StepResult> Forwarder::send_request() {
    return std::visit([this](auto& stream) { return send_request_on(stream); }, *lease_->stream);
}

awaitable<StepResult> Forwarder::await_response_head() {
    return std::visit([this](auto& stream) { return await_response_head_on(stream); }, *lease_->stream);
}

awaitable<StepResult> Forwarder::relay_response() {
    build_downstream_response(response_->get().base(), exchange_.route_headers(), client_.parser.get().version(),
                              response_head_);
    BodyFraming framing = BodyFraming::raw;
    client_keep_alive_ = frame_downstream_response(response_head_, framing);
    const std::string& head_bytes = response_head_.finish();
    return std::visit([&](auto& stream) { return relay_body_on(stream, head_bytes, framing); }, *lease_->stream);
}

// A connection whose response ended cleanly, with nothing unread, goes back to the pool.
void Forwarder::release_connection() {
    if (response_->keep_alive() && upstream_buffer_.size() == 0) {
        client_.registration.set_upstream(nullptr);
        client_.worker.pool.release(std::move(*lease_));
        lease_.reset();
    }
}

// Closing the cell connection mid-request aborts the request there.
void Forwarder::drop_connection() {
    client_.registration.set_upstream(nullptr);
    lease_.reset();
}

awaitable<ConnectionVerdict> Forwarder::fail_before_response(StepResult failed) {
    if (failed.side == FailedSide::downstream && !is_parse_error(failed.ec)) {
        exchange_.status = 499;
        exchange_.error = failed.ec.message();
        exchange_.finish(Outcome::client_closed);
        co_return ConnectionVerdict::abort;
    }
    bool keep_alive = false;
    LocalAnswer answer;
    switch (failed.side) {
    case FailedSide::connect:
        answer = answer_for_connect_failure(failed.ec, target_);
        keep_alive = true;  // only the request head was read
        break;
    case FailedSide::body_limit:
        // The cell never receives the whole of a body over the limit.
        drop_connection();
        answer = LocalAnswer(Outcome::body_too_large,
                             "request body exceeds max_request_body_bytes (" +
                                 std::to_string(*target_.policy.max_request_body_bytes) + ") of placement " +
                                 target_.name)
                     .refused_by("max_request_body_bytes");
        break;
    case FailedSide::downstream:
        // Dropping the cell connection first means it never receives a complete request built
        // from an ambiguous body.
        drop_connection();
        answer = LocalAnswer(Outcome::bad_request, "malformed request body: " + failed.ec.message());
        break;
    case FailedSide::upstream:
    case FailedSide::none: answer = answer_for_upstream_failure(failed.ec); break;
    }
    const auto verdict = co_await answer_locally(client_, exchange_, std::move(answer), keep_alive);
    co_return verdict;
}

// Streams the rewritten request header and its body (Content-Length or chunked) upstream,
// forwarding each piece as soon as it arrives from the client.
template <typename Stream>
awaitable<StepResult> Forwarder::send_request_on(Stream& upstream) {
    TimedSocket& upstream_tcp = beast::get_lowest_layer(upstream);
    RequestParser& parser = client_.parser;
    WireHead head;
    build_upstream_request(parser.get().base(), exchange_.check,
                           ForwardedFor{exchange_.request_id, std::string(exchange_.client_address), "http"},
                           target_.endpoint.authority, head);
    if (parser.chunked()) {
        head.field("Transfer-Encoding", "chunked");
    } else if (const auto length = parser.content_length()) {
        head.field("Content-Length", std::to_string(*length));
    }
    BodyFramer framer(parser.chunked() ? BodyFraming::chunked : BodyFraming::raw);

    // The head goes out on its own even when a body follows: the client may be waiting for
    // 100 Continue, or sending slowly.
    upstream_tcp.expires_after(idle_timeout_);
    const std::string& head_bytes = head.finish();
    if (auto [ec, n] = co_await net::async_write(upstream, net::buffer(head_bytes)); ec) {
        co_return upstream_failure(ec);
    }
    exchange_.at.request_head_sent = ExchangeClock::now();
    if (parser.is_done()) {
        co_return StepResult{};
    }
    if (exchange_.check.expects_continue && parser.get().version() >= 11) {
        client_.stream.expires_after(idle_timeout_);
        if (auto [ec, n] = co_await net::async_write(client_.stream, net::buffer(continue_line)); ec) {
            co_return downstream_failure(ec);
        }
    }
    auto buffer = client_.worker.buffers.take();
    reserve_for_body(client_.buffer, parser.content_length());
    auto& in_body = parser.get().body();
    const auto& body_limit = target_.policy.max_request_body_bytes;
    for (bool finished = false; !finished;) {
        std::size_t received = 0;
        if (!parser.is_done()) {
            in_body.data = buffer.data();
            in_body.size = buffer.size();
            client_.stream.expires_after(idle_timeout_);
            auto [ec, n] = co_await http::async_read_some(client_.stream, client_.buffer, parser);
            if (ec = ignore_need_buffer(ec); ec) {
                co_return downstream_failure(ec);
            }
            received = buffer.size() - in_body.size;
            exchange_.bytes_in += received;
            // Checked before the piece goes upstream: a body over the limit never reaches the
            // cell whole (a Content-Length over it was refused before connecting).
            if (body_limit && exchange_.bytes_in > *body_limit) {
                co_return StepResult{http::error::body_limit, FailedSide::body_limit};
            }
        }
        finished = parser.is_done();
        if (received == 0 && !finished) {
            continue;
        }
        const auto pieces = framer.frame(net::buffer(buffer.data(), received), finished);
        if (net::buffer_size(pieces) == 0) {
            continue;
        }
        upstream_tcp.expires_after(idle_timeout_);
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
awaitable<StepResult> Forwarder::await_response_head_on(Stream& upstream) {
    const bool head = client_.parser.get().method() == http::verb::head;
    beast::get_lowest_layer(upstream).expires_after(target_.policy.response_timeout);
    upstream_buffer_.max_size(read_buffer_limit(response_header_limit));
    for (unsigned interim_responses = 0;;) {
        response_.emplace();
        response_->body_limit(boost::none);
        response_->header_limit(response_header_limit);
        response_->skip(head);
        auto [ec, n] = co_await http::async_read_header(upstream, upstream_buffer_, *response_);
        if (ec) {
            co_return upstream_failure(ec);
        }
        const unsigned status = response_->get().result_int();
        if (!is_valid_response_status(status)) {
            co_return upstream_failure(http::error::bad_status);
        }
        if (status >= 200) {
            exchange_.at.response_head_received = ExchangeClock::now();
            exchange_.status = status;
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
        if (status == 100 || client_.parser.get().version() < 11) {
            continue;  // HTTP/1.0 clients must not see 1xx (RFC 9110 §15.2)
        }
        http::response<http::empty_body> interim;
        interim.version(11);
        build_interim_response(response_->get().base(), interim.base());
        client_.stream.expires_after(idle_timeout_);
        if (auto [wec, wn] = co_await http::async_write(client_.stream, interim); wec) {
            co_return downstream_failure(wec);
        }
    }
}

// Adds Content-Length / chunked / Connection to the client response head from what the upstream
// sent, and says how the body pieces must be framed. Returns whether the client connection can
// be kept after this response.
bool Forwarder::frame_downstream_response(WireHead& out, BodyFraming& framing) const {
    const RequestParser& request = client_.parser;
    const unsigned client_version = request.get().version();
    const unsigned status = response_->get().result_int();
    const bool head = request.get().method() == http::verb::head;
    const bool bodiless_status = status == 204 || status == 304 || status < 200;
    bool keep_alive = request.keep_alive() && !client_.worker.draining;
    framing = BodyFraming::raw;
    if (head || bodiless_status) {
        // HEAD and 304 may announce the length of the body they don't carry.
        if (const auto length = response_->content_length(); length && status != 204) {
            out.field("Content-Length", std::to_string(*length));
        }
    } else if (const auto length = response_->content_length()) {
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
awaitable<StepResult> Forwarder::relay_body_on(Stream& upstream, const std::string& head, BodyFraming framing) {
    ResponseParser& response = *response_;
    BodyFramer framer(framing);
    auto buffer = client_.worker.buffers.take();
    auto& in_body = response.get().body();
    // The cell's header usually arrives together with the start of its body: when those body
    // bytes are already buffered, send them with the header in one write. Otherwise the header
    // goes out alone at once, so a client of a slow body is not kept waiting for it.
    bool header_sent = false;
    if (!response.is_done()) {
        reserve_for_body(upstream_buffer_, response.content_length());
    }
    for (bool finished = false; !finished;) {
        std::size_t received = 0;
        if (!response.is_done() && (header_sent || upstream_buffer_.size() > 0)) {
            in_body.data = buffer.data();
            in_body.size = buffer.size();
            beast::get_lowest_layer(upstream).expires_after(idle_timeout_);
            auto [ec, n] = co_await http::async_read_some(upstream, upstream_buffer_, response);
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
            client_.stream.expires_after(idle_timeout_);
            auto [ec, n] = co_await net::async_write(client_.stream, pieces);
            if (ec) {
                co_return downstream_failure(ec);
            }
        }
        if (!header_sent) {
            exchange_.at.response_head_sent = ExchangeClock::now();
            header_sent = true;
        }
        exchange_.bytes_out += received;
    }
    co_return StepResult{};
}

}  // namespace

awaitable<ConnectionVerdict> forward_request(ClientConnection& client, Exchange& exchange) {
    Forwarder forwarder(client, exchange);
    // At most two attempts: the second only when a pooled connection turned out stale.
    for (int attempt = 0;; ++attempt) {
        StepResult step = co_await forwarder.acquire_connection(attempt == 0);
        if (step) {
            step = co_await forwarder.send_request();
        }
        if (step) {
            step = co_await forwarder.await_response_head();
        }
        if (step) {
            break;
        }
        if (forwarder.retries_on_new_connection(step, attempt)) {
            continue;
        }
        const auto verdict = co_await forwarder.fail_before_response(step);
        co_return verdict;
    }
    const StepResult relayed = co_await forwarder.relay_response();
    co_return forwarder.finish_relayed(relayed);
}

}  // namespace cell::proxy
