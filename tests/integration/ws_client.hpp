#pragma once
// A small WebSocket client for control-plane tests, playing a router: blocking calls with
// timeouts for the test thread, while Beast runs the connection on the client's own thread.
// Reading can be paused (or never started) to play a router that is stuck: it then answers
// no pings either, since Beast answers pings only inside a read.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cell::testing {

class WsClient {
public:
    struct Options {
        std::string target = "/connect";
        // SO_RCVBUF set before connecting (0 = the system's default), so that a client that
        // stops reading fills its socket quickly.
        int receive_buffer_bytes = 0;
        bool start_reading = true;
        std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);
    };

    // Connects to 127.0.0.1:port and completes the WebSocket handshake; throws
    // std::runtime_error when either fails or takes longer than the connect timeout.
    explicit WsClient(unsigned short port);
    WsClient(unsigned short port, Options options);
    ~WsClient();
    WsClient(const WsClient&) = delete;
    WsClient& operator=(const WsClient&) = delete;

    // Sends one frame; false when the write failed or did not finish within `timeout`.
    bool send_text(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    bool send_binary(const std::string& bytes, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    bool send_json(const nlohmann::json& message) { return send_text(message.dump()); }
    // Acks the message most recently consumed, as our routers do (its version, and the SHA-256
    // of the frame as "content_hash"), or as the seed's do (version only).
    bool ack_last(bool with_hash = true);

    // The next message not yet consumed, or nullopt after `timeout` (or once closed and drained).
    std::optional<std::string> next_message(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Consumes messages until one parses as JSON and satisfies `match`, which it returns.
    std::optional<nlohmann::json> wait_for(const std::function<bool(const nlohmann::json&)>& match,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // The next snapshot whose version is `version`.
    std::optional<nlohmann::json> wait_for_version(const std::string& version,
                                                   std::chrono::milliseconds timeout = std::chrono::seconds(10));

    // The raw text of the message most recently consumed ("" before any).
    std::string last_frame() const;
    // Every text message received so far, consumed or not, in order.
    std::vector<std::string> received() const;
    std::size_t received_count() const;

    // Stops starting reads (a read already pending still completes with the next message).
    void pause_reading();
    void resume_reading();

    // Sends a close frame and waits for the close handshake.
    void close(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    bool closed() const;
    bool wait_closed(std::chrono::milliseconds timeout);
    // Why the connection ended (error text), "" while open.
    std::string close_reason() const;

    // This end's address as the control plane sees it: "127.0.0.1:<port>".
    std::string local_address() const { return local_address_; }

private:
    struct Impl;
    bool send(const std::string& bytes, bool text, std::chrono::milliseconds timeout);

    std::shared_ptr<Impl> impl_;
    std::string local_address_;
};

}  // namespace cell::testing
