#include "ws_client.hpp"

#include <future>
#include <stdexcept>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "harness.hpp"

namespace cell::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// Everything below runs on the client's thread, except where a method says it locks `mutex`.
struct WsClient::Impl : std::enable_shared_from_this<WsClient::Impl> {
    net::io_context context{1};
    // Keeps the loop running between operations; released by the destructor.
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work{context.get_executor()};
    websocket::stream<tcp::socket> ws{context};
    beast::flat_buffer buffer;
    std::thread thread;

    mutable std::mutex mutex;
    std::condition_variable changed;
    std::deque<std::string> unread;
    std::vector<std::string> all;
    std::string last_consumed;
    bool paused = false;
    bool reading = false;
    bool is_closed = false;
    std::string reason;

    void start_read() {
        {
            std::lock_guard lock(mutex);
            if (paused || reading || is_closed) {
                return;
            }
            reading = true;
        }
        ws.async_read(buffer, [self = shared_from_this()](error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(error_code ec) {
        {
            std::lock_guard lock(mutex);
            reading = false;
            if (ec) {
                is_closed = true;
                reason = ec == websocket::error::closed
                             ? "closed by server (code " + std::to_string(ws.reason().code) + ")"
                             : ec.message();
            } else if (ws.got_text()) {
                std::string text = beast::buffers_to_string(buffer.data());
                all.push_back(text);
                unread.push_back(std::move(text));
            }
        }
        buffer.consume(buffer.size());
        changed.notify_all();
        if (!ec) {
            start_read();
        }
    }

    void mark_closed(const std::string& why) {
        {
            std::lock_guard lock(mutex);
            if (!is_closed) {
                is_closed = true;
                reason = why;
            }
        }
        changed.notify_all();
    }
};

WsClient::WsClient(unsigned short port) : WsClient(port, Options{}) {}

WsClient::WsClient(unsigned short port, Options options) : impl_(std::make_shared<Impl>()) {
    auto& socket = impl_->ws.next_layer();
    socket.open(tcp::v4());
    if (options.receive_buffer_bytes > 0) {
        socket.set_option(net::socket_base::receive_buffer_size(options.receive_buffer_bytes));
    }
    std::promise<error_code> handshake_done;
    auto handshake_result = handshake_done.get_future();
    const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), port);
    socket.async_connect(endpoint, [impl = impl_.get(), &handshake_done, target = options.target, port](error_code ec) {
        if (ec) {
            handshake_done.set_value(ec);
            return;
        }
        const std::string host = "127.0.0.1:" + std::to_string(port);
        impl->ws.async_handshake(host, target, [&handshake_done](error_code hs_ec) { handshake_done.set_value(hs_ec); });
    });
    impl_->thread = std::thread([impl = impl_.get()] { impl->context.run(); });
    if (handshake_result.wait_for(options.connect_timeout) != std::future_status::ready) {
        impl_->context.stop();
        impl_->thread.join();
        throw std::runtime_error("WebSocket connect to port " + std::to_string(port) + " timed out");
    }
    if (const auto ec = handshake_result.get()) {
        impl_->context.stop();
        impl_->thread.join();
        throw std::runtime_error("WebSocket connect to port " + std::to_string(port) + " failed: " + ec.message());
    }
    error_code ignored;
    const auto local = socket.local_endpoint(ignored);
    local_address_ = "127.0.0.1:" + std::to_string(local.port());
    if (!options.start_reading) {
        pause_reading();
    }
    net::post(impl_->context, [impl = impl_] { impl->start_read(); });
}

WsClient::~WsClient() {
    // Closing the socket completes every pending operation, after which the loop runs out of
    // work and the thread ends; no handler is left holding the Impl.
    net::post(impl_->context, [impl = impl_.get()] {
        error_code ignored;
        impl->ws.next_layer().close(ignored);
        impl->work.reset();
    });
    impl_->thread.join();
}

bool WsClient::send(const std::string& bytes, bool text, std::chrono::milliseconds timeout) {
    auto payload = std::make_shared<std::string>(bytes);
    auto done = std::make_shared<std::promise<error_code>>();
    auto result = done->get_future();
    net::post(impl_->context, [impl = impl_, payload, done, text] {
        impl->ws.text(text);
        impl->ws.async_write(net::buffer(*payload),
                             [payload, done](error_code ec, std::size_t) { done->set_value(ec); });
    });
    if (result.wait_for(timeout) != std::future_status::ready) {
        return false;
    }
    return !result.get();
}

bool WsClient::send_text(const std::string& text, std::chrono::milliseconds timeout) { return send(text, true, timeout); }

bool WsClient::send_binary(const std::string& bytes, std::chrono::milliseconds timeout) {
    return send(bytes, false, timeout);
}

bool WsClient::ack_last(bool with_hash) {
    const std::string frame = last_frame();
    const auto snapshot = nlohmann::json::parse(frame, nullptr, false);
    if (snapshot.is_discarded() || !snapshot.is_object()) {
        return false;
    }
    nlohmann::json ack{{"type", "ack"}, {"version", snapshot.value("version", "")}};
    if (with_hash) {
        ack["content_hash"] = sha256_hex(frame);
    }
    return send_json(ack);
}

std::optional<std::string> WsClient::next_message(std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->mutex);
    const bool ready = impl_->changed.wait_for(lock, timeout, [&] { return !impl_->unread.empty() || impl_->is_closed; });
    if (!ready || impl_->unread.empty()) {
        return std::nullopt;
    }
    std::string message = std::move(impl_->unread.front());
    impl_->unread.pop_front();
    impl_->last_consumed = message;
    return message;
}

std::optional<nlohmann::json> WsClient::wait_for(const std::function<bool(const nlohmann::json&)>& match,
                                                 std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return std::nullopt;
        }
        const auto message = next_message(left);
        if (!message) {
            return std::nullopt;
        }
        auto parsed = nlohmann::json::parse(*message, nullptr, false);
        if (!parsed.is_discarded() && match(parsed)) {
            return parsed;
        }
    }
}

std::optional<nlohmann::json> WsClient::wait_for_version(const std::string& version, std::chrono::milliseconds timeout) {
    return wait_for(
        [&](const nlohmann::json& message) {
            return message.value("type", "") == "config_snapshot" && message.value("version", "") == version;
        },
        timeout);
}

std::string WsClient::last_frame() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->last_consumed;
}

std::vector<std::string> WsClient::received() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->all;
}

std::size_t WsClient::received_count() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->all.size();
}

void WsClient::pause_reading() {
    std::lock_guard lock(impl_->mutex);
    impl_->paused = true;
}

void WsClient::resume_reading() {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->paused = false;
    }
    net::post(impl_->context, [impl = impl_] { impl->start_read(); });
}

void WsClient::close(std::chrono::milliseconds timeout) {
    net::post(impl_->context, [impl = impl_] {
        impl->ws.async_close(websocket::close_code::normal, [impl](error_code ec) {
            if (ec) {
                impl->mark_closed(ec.message());
            }
        });
    });
    wait_closed(timeout);
}

bool WsClient::closed() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->is_closed;
}

bool WsClient::wait_closed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->mutex);
    return impl_->changed.wait_for(lock, timeout, [&] { return impl_->is_closed; });
}

std::string WsClient::close_reason() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->reason;
}

}  // namespace cell::testing
