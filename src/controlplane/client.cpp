#include "cell/controlplane/client.hpp"

#include <algorithm>
#include <random>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/url/parse.hpp>

#include "cell/controlplane/backoff.hpp"
#include "cell/controlplane/closing_stream.hpp"
#include "cell/controlplane/protocol.hpp"
#include "cell/controlplane/replica_rotation.hpp"
#include "cell/controlplane/ws_compression.hpp"
#include "cell/observability/log.hpp"
#include "cell/transport/accept.hpp"
#include "cell/transport/io.hpp"
#include "cell/util/thread_priority.hpp"

namespace cell::controlplane {
namespace {

namespace websocket = beast::websocket;
using error_code = boost::system::error_code;
using observability::Level;
using websocket_stream = websocket::stream<ClosingStream>;

// A message is read this much at a time at most, so a snapshot over the limit costs no memory
// beyond the limit while it is skipped.
constexpr std::size_t read_piece_bytes = 256 * 1024;

// Beast allows one write in flight: the answers to snapshots and the periodic reports take
// turns. Two coroutines at most write, so at most one waits.
class WriteTurns {
public:
    explicit WriteTurns(io_executor executor) : released_(executor) {}
    awaitable<void> acquire() {
        while (busy_) {
            released_.expires_at(steady_timer::time_point::max());
            co_await released_.async_wait();
        }
        busy_ = true;
    }
    void release() {
        busy_ = false;
        released_.cancel();
    }

private:
    bool busy_ = false;
    steady_timer released_;
};

}  // namespace

std::optional<ControlPlaneUrl> parse_control_plane_url(std::string_view url) {
    const auto parsed = boost::urls::parse_uri(url);
    if (!parsed || parsed->scheme() != "ws" || !parsed->has_authority() || parsed->encoded_host().empty() ||
        parsed->has_userinfo() || parsed->has_fragment()) {
        return std::nullopt;
    }
    ControlPlaneUrl result;
    result.host = std::string(std::string_view(parsed->encoded_host_address()));
    if (parsed->has_port()) {
        const auto port = parsed->port_number();
        if (port == 0) {
            return std::nullopt;
        }
        result.port = port;
    }
    result.target = std::string(std::string_view(parsed->encoded_path()));
    if (result.target.empty()) {
        result.target = "/";
    }
    if (parsed->has_query()) {
        result.target += "?" + std::string(std::string_view(parsed->encoded_query()));
    }
    return result;
}

std::variant<std::vector<ControlPlaneReplica>, std::string> parse_control_plane_urls(std::string_view list) {
    std::vector<ControlPlaneReplica> replicas;
    std::size_t number = 0;
    for (std::size_t start = 0; start <= list.size();) {
        const auto comma = std::min(list.find(',', start), list.size());
        std::string_view entry = list.substr(start, comma - start);
        start = comma + 1;
        ++number;
        while (!entry.empty() && (entry.front() == ' ' || entry.front() == '\t')) {
            entry.remove_prefix(1);
        }
        while (!entry.empty() && (entry.back() == ' ' || entry.back() == '\t')) {
            entry.remove_suffix(1);
        }
        if (entry.empty()) {
            return "entry " + std::to_string(number) + " of the list is empty";
        }
        auto endpoint = parse_control_plane_url(entry);
        if (!endpoint) {
            return "\"" + std::string(entry) +
                   "\" must be a ws:// URL with a host, e.g. ws://control-plane:8081/connect";
        }
        for (const auto& earlier : replicas) {
            if (earlier.url == entry) {
                return "\"" + std::string(entry) + "\" is listed twice";
            }
        }
        replicas.push_back(ControlPlaneReplica{std::string(entry), std::move(*endpoint)});
    }
    return replicas;
}

// The event loop of the client: one coroutine that connects to a replica, serves one connection
// until it fails, moves to the next replica (waiting out the backoff after each round), and
// starts over.
class ControlPlaneClient::Loop {
public:
    Loop(ControlPlaneClient& owner, std::uint64_t seed)
        : owner_(owner),
          backoff_(owner.settings_.initial_backoff, owner.settings_.max_backoff, seed),
          rotation_(owner.settings_.replicas.size(), seed ^ 0x9e3779b97f4a7c15ULL) {}

    net::io_context& context() { return context_; }
    std::size_t first_replica() const { return rotation_.current(); }

    awaitable<void> run() {
        const auto& settings = owner_.settings_;
        for (;;) {
            const std::size_t index = rotation_.current();
            const ControlPlaneReplica& replica = settings.replicas[index];
            owner_.update_status([&](ClientStatus& s) {
                s.state = "connecting";
                s.url = replica.url;
                s.next_attempt_at.reset();
            });
            ConnectionEnd ended = co_await serve_connection(replica, index);
            const bool healthy =
                ended.connected_at && std::chrono::steady_clock::now() - *ended.connected_at >= settings.backoff_reset;
            if (healthy) {
                backoff_.reset();
            }
            const bool pause_first = rotation_.advance(healthy);
            const auto delay = pause_first ? backoff_.next_delay() : std::chrono::milliseconds(0);
            const ControlPlaneReplica& next = settings.replicas[rotation_.current()];
            const Level level = ended.stage == "handshake" ? Level::err : Level::warn;
            observability::emit_event(level, std::move(observability::event_line(level, "control_plane_disconnected")
                                                           .add("control_plane", replica.url)
                                                           .add("stage", ended.stage)
                                                           .add("detail", ended.detail)
                                                           .add("next_control_plane", next.url)
                                                           .add("retry_in_ms", static_cast<std::int64_t>(delay.count()))));
            const auto now = std::chrono::system_clock::now();
            owner_.update_status([&](ClientStatus& s) {
                s.state = pause_first ? "waiting" : "connecting";
                s.url = next.url;
                s.connected_since.reset();
                s.last_error = ended.detail;
                s.replicas[index].last_error = ended.detail;
                s.replicas[index].last_error_at = now;
                s.next_attempt_at = now + delay;
                s.reconnect_attempts = healthy ? 1 : s.reconnect_attempts + 1;
            });
            if (pause_first) {
                steady_timer pause(loop_executor(context_), delay);
                co_await pause.async_wait();
            }
        }
    }

private:
    // Why and where a connection attempt ended: "resolve", "connect", "handshake" or "session".
    struct ConnectionEnd {
        std::string stage;
        std::string detail;
        std::optional<std::chrono::steady_clock::time_point> connected_at;  // set once the handshake completed
    };

    static ConnectionEnd failed(std::string_view stage, const error_code& ec) {
        return {std::string(stage), ec.message(), std::nullopt};
    }

    // A refused upgrade names what came back: "declined" alone does not tell an operator that the
    // URL points at a plain HTTP server or a proxy that does not pass WebSocket upgrades.
    static std::string describe_handshake_failure(const error_code& ec, const websocket::response_type& response) {
        if (ec == websocket::error::upgrade_declined && response.result_int() != 0) {
            return "the control plane answered HTTP " + std::to_string(response.result_int()) + " " +
                   std::string(response.reason()) + " instead of 101 Switching Protocols";
        }
        if (ec == beast::error::timeout) {
            return "the WebSocket handshake did not complete within the connect timeout";
        }
        return ec.message();
    }

    // Why an established connection ended; a close frame's code says whose fault it was.
    static std::string describe_session_end(const error_code& ec, const websocket_stream& ws) {
        if (ec == websocket::error::closed) {
            const auto& reason = ws.reason();
            std::string detail = "closed by the control plane with code " + std::to_string(reason.code);
            if (!reason.reason.empty()) {
                detail += " (" + std::string(reason.reason.data(), reason.reason.size()) + ")";
            }
            return detail;
        }
        return ec.message();
    }

    // One connection to `replica` (number `index` of the list): resolve, connect, handshake,
    // hello, then answer snapshots until an error.
    awaitable<ConnectionEnd> serve_connection(const ControlPlaneReplica& replica, std::size_t index) {
        const auto& settings = owner_.settings_;
        tcp_resolver resolver(loop_executor(context_));
        const std::string host = replica.endpoint.host;
        const std::string port = std::to_string(replica.endpoint.port);
        auto [resolve_ec, endpoints] = co_await resolver.async_resolve(host, port);
        if (resolve_ec) {
            co_return failed("resolve", resolve_ec);
        }
        websocket_stream ws(loop_executor(context_));
        beast::get_lowest_layer(ws).expires_after(settings.connect_timeout);
        auto [connect_ec, connected] = co_await beast::get_lowest_layer(ws).async_connect(endpoints);
        if (connect_ec) {
            co_return failed("connect", connect_ec);
        }
        beast::get_lowest_layer(ws).expires_never();
        // Beast pings after half the idle time and drops a peer silent for the whole of it,
        // so a half-open connection is found without application traffic. The handshake timeout
        // bounds the opening handshake and the wait for the answer to a close frame.
        websocket::stream_base::timeout timeouts{};
        timeouts.handshake_timeout = settings.connect_timeout;
        timeouts.idle_timeout = settings.keepalive_timeout;
        timeouts.keep_alive_pings = true;
        ws.set_option(timeouts);
        ws.next_layer().close_timeout(settings.connect_timeout);
        ws.set_option(websocket::stream_base::decorator(
            [](websocket::request_type& request) { request.set(http::field::user_agent, "cell-router"); }));
        // No limit in Beast: read_message() enforces --max-snapshot-bytes itself, so that a snapshot
        // over it is nacked instead of failing the connection (close 1009), which only led to a
        // reconnect and the same snapshot again, for ever.
        ws.read_message_max(0);
        ws.set_option(websocket_deflate(settings.compression, WebSocketRole::client));
        const std::string host_header = host + ":" + port;
        const std::string target = replica.endpoint.target;
        websocket::response_type response;
        auto [handshake_ec] = co_await ws.async_handshake(response, host_header, target);
        if (handshake_ec) {
            co_return ConnectionEnd{"handshake", describe_handshake_failure(handshake_ec, response), std::nullopt};
        }
        ConnectionEnd end{"session", "", std::chrono::steady_clock::now()};
        ws.text(true);
        owner_.update_status([&](ClientStatus& s) {
            s.state = "connected";
            s.connected_since = std::chrono::system_clock::now();
            s.replicas[index].last_connected_at = s.connected_since;
            ++s.connections;
        });
        const auto extensions = response[http::field::sec_websocket_extensions];
        const bool compressed =
            std::string_view(extensions.data(), extensions.size()).find("permessage-deflate") != std::string_view::npos;
        observability::emit_event(Level::info, std::move(observability::event_line(Level::info, "control_plane_connected")
                                                             .add("control_plane", replica.url)
                                                             .add("detail", owner_.applier_.node_id())
                                                             .add("compression", compressed)));

        Hello hello_message{owner_.applier_.node_id(), owner_.applier_.serving_version()};
        hello_message.revision = owner_.applier_.applied_revision();
        hello_message.max_snapshot_bytes = settings.max_snapshot_bytes;
        hello_message.deltas = true;
        std::string hello = encode(hello_message);
        auto [hello_ec, hello_n] = co_await ws.async_write(net::buffer(hello));
        if (hello_ec) {
            end.detail = describe_session_end(hello_ec, ws);
            co_return end;
        }
        co_await answer_frames(ws, end);
        co_return end;
    }

    // Answers snapshots until the connection fails, and meanwhile reports the per-version counts
    // every report interval; returns once neither is using `ws` any more.
    awaitable<void> answer_frames(websocket_stream& ws, ConnectionEnd& end) {
        WriteTurns turns(loop_executor(context_));
        steady_timer report_timer(loop_executor(context_));
        steady_timer reporter_done(loop_executor(context_), steady_timer::time_point::max());
        bool session_over = false;
        bool reporter_running = true;
        net::co_spawn(loop_executor(context_), report_periodically(ws, turns, report_timer, session_over),
                      [&](std::exception_ptr error) {
                          transport::log_escaped_exception(error, "control_plane_reporter");
                          reporter_running = false;
                          reporter_done.cancel();
                      });
        beast::flat_buffer buffer;
        for (;;) {
            Incoming message = co_await read_message(ws, buffer);
            if (message.ec) {
                end.detail = describe_session_end(message.ec, ws);
                break;
            }
            std::string reply = message.oversized ? handle_oversized(message, ws.got_text())
                                                  : handle_frame(message.text, ws.got_text());
            if (reply.empty()) {
                continue;
            }
            // After an ack, what the requests under the previous version came to is final: report it.
            std::string report = reply.starts_with(R"({"type":"ack")") ? owner_.applier_.report() : "";
            co_await turns.acquire();
            auto [write_ec, written] = co_await ws.async_write(net::buffer(reply));
            if (!write_ec && !report.empty()) {
                std::tie(write_ec, written) = co_await ws.async_write(net::buffer(report));
            }
            turns.release();
            if (write_ec) {
                end.detail = describe_session_end(write_ec, ws);
                break;
            }
        }
        session_over = true;
        report_timer.cancel();
        if (reporter_running) {
            beast::get_lowest_layer(ws).cancel();  // a report write in flight ends now
            co_await reporter_done.async_wait();
        }
    }

    awaitable<void> report_periodically(websocket_stream& ws, WriteTurns& turns, steady_timer& timer,
                                        const bool& session_over) {
        const auto interval = owner_.settings_.report_interval;
        while (!session_over) {
            timer.expires_after(interval);
            co_await timer.async_wait();
            if (session_over) {
                break;
            }
            const std::string report = owner_.applier_.report();
            co_await turns.acquire();
            if (session_over) {
                turns.release();
                break;
            }
            auto [ec, written] = co_await ws.async_write(net::buffer(report));
            turns.release();
            if (ec) {
                break;  // the reader sees the connection fail too and ends the session
            }
        }
    }

    struct Incoming {
        error_code ec;
        std::string text;          // the whole message; "" when oversized
        std::uint64_t bytes = 0;   // the message's size (after decompression)
        bool oversized = false;    // over --max-snapshot-bytes: read to its end, not kept
        SnapshotVersionScanner version;  // fed only when oversized
    };

    // One whole message, read in pieces: up to the limit it is kept, past it only counted.
    awaitable<Incoming> read_message(websocket_stream& ws, beast::flat_buffer& buffer) {
        const std::uint64_t limit = owner_.settings_.max_snapshot_bytes;
        Incoming message;
        do {
            std::size_t piece = read_piece_bytes;
            if (!message.oversized) {
                // Never more than one byte past the limit: that byte tells the message is over it.
                piece = static_cast<std::size_t>(std::min<std::uint64_t>(piece, limit + 1 - buffer.size()));
            }
            auto [ec, n] = co_await ws.async_read_some(buffer, piece);
            if (ec) {
                message.ec = ec;
                co_return message;
            }
            message.bytes += n;
            if (!message.oversized && buffer.size() > limit) {
                message.oversized = true;
            }
            if (message.oversized) {
                const auto data = buffer.cdata();
                message.version.feed(std::string_view(static_cast<const char*>(data.data()), data.size()));
                buffer.consume(buffer.size());
                if (buffer.capacity() > read_piece_bytes) {
                    buffer.shrink_to_fit();
                }
            }
        } while (!ws.is_message_done());
        if (!message.oversized) {
            message.text = beast::buffers_to_string(buffer.data());
            buffer.consume(buffer.size());
        }
        co_return message;
    }

    // A message over the limit is a snapshot (nothing else the control plane sends comes near
    // it): nack it, so the control plane shows why this router stays on its table.
    std::string handle_oversized(const Incoming& message, bool is_text) {
        if (!is_text) {
            observability::log_event(Level::warn, "control_plane_frame_ignored", "binary frame");
            return {};
        }
        return owner_.applier_.reject_oversized(message.version.version(), message.bytes,
                                                owner_.settings_.max_snapshot_bytes);
    }

    // Returns the frame to answer with, or "" when there is nothing to say.
    std::string handle_frame(const std::string& frame, bool is_text) {
        if (!is_text) {
            observability::log_event(Level::warn, "control_plane_frame_ignored", "binary frame");
            return {};
        }
        auto decoded = decode_message(frame);
        if (const auto* error = std::get_if<DecodeError>(&decoded)) {
            observability::log_event(Level::warn, "control_plane_frame_ignored", error->reason);
            return {};
        }
        auto& message = std::get<Message>(decoded);
        if (const auto* snapshot = std::get_if<ConfigSnapshot>(&message)) {
            return owner_.applier_.apply(*snapshot);
        }
        if (const auto* delta = std::get_if<ConfigDelta>(&message)) {
            return owner_.applier_.apply(*delta);
        }
        std::string type = "unexpected message";
        if (const auto* unknown = std::get_if<UnknownMessage>(&message)) {
            type = "unknown message type \"" + unknown->type + "\"";
        }
        observability::log_event(Level::warn, "control_plane_frame_ignored", type);
        return {};
    }

    ControlPlaneClient& owner_;
    net::io_context context_{1};
    Backoff backoff_;
    ReplicaRotation rotation_;
};

ControlPlaneClient::ControlPlaneClient(ClientSettings settings, SnapshotApplier& applier)
    : settings_(std::move(settings)), applier_(applier) {
    if (settings_.replicas.empty()) {
        throw std::invalid_argument("the control-plane client needs at least one replica URL");
    }
    auto initial = std::make_shared<ClientStatus>();
    for (const auto& replica : settings_.replicas) {
        initial->replicas.push_back(ReplicaStatus{replica.url, "", std::nullopt, std::nullopt});
    }
    loop_ = std::make_unique<Loop>(*this, std::random_device{}());
    initial->url = settings_.replicas[loop_->first_replica()].url;
    status_.store(std::move(initial));
}

ControlPlaneClient::~ControlPlaneClient() { stop(); }

void ControlPlaneClient::update_status(const std::function<void(ClientStatus&)>& change) {
    ClientStatus next = *status();
    change(next);
    status_.store(std::make_shared<const ClientStatus>(std::move(next)));
}

void ControlPlaneClient::start() {
    net::co_spawn(loop_executor(loop_->context()), loop_->run(),
                  [](std::exception_ptr error) { transport::log_escaped_exception(error, "control_plane_client"); });
    thread_ = std::thread([this] {
        // It parses and builds every snapshot: config work, which must not delay requests.
        util::lower_current_thread_priority();
        loop_->context().run();
    });
}

void ControlPlaneClient::stop() {
    if (!thread_.joinable()) {
        return;
    }
    // Nothing here needs a graceful goodbye: the control plane notices the closed socket.
    loop_->context().stop();
    thread_.join();
    update_status([](ClientStatus& s) {
        s.state = "stopped";
        s.connected_since.reset();
    });
}

}  // namespace cell::controlplane
