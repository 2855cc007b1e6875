#pragma once
// A TCP socket with one deadline for whatever operation is pending on it, enforced by a sweep
// that each event loop runs every `DeadlineSweep::tick`, instead of a timer per operation.
//
// Beast's tcp_stream arms and cancels a read timer and a write timer around every operation:
// two timer-heap updates, a composed operation and its allocation per read or write, on every
// connection. Here an operation costs a store of its deadline and an insertion into a bucket of
// a hashed timer wheel (a few pointer writes); a deadline is enforced up to one tick late.
// The semantics otherwise follow tcp_stream's: the deadline applies to the operations pending
// while it runs out; when it does, the socket is closed and they complete with
// beast::error::timeout, and so does every later operation on it.
//
// Include only from .cpp files (Asio).
//
// Thread safety: a socket, and the sweep of its loop, are used only on the loop's thread.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/connect.hpp>
#include <boost/beast/core/error.hpp>

#include "cell/transport/io.hpp"

namespace cell::transport {

class TimedSocket;

// One per io_context (an Asio service, so every loop finds its own without global state): the
// wheel of pending operations with deadlines, and the timer that turns it.
class DeadlineSweep : public net::execution_context::service {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::milliseconds tick{20};
    static constexpr std::size_t slot_count = 1024;  // one turn of the wheel: 20.48 s

    static inline net::execution_context::id id;

    explicit DeadlineSweep(net::execution_context& context);
    DeadlineSweep(const DeadlineSweep&) = delete;
    DeadlineSweep& operator=(const DeadlineSweep&) = delete;

    // How many operations with a deadline are pending on this loop (tests and metrics).
    std::size_t pending() const { return pending_; }

private:
    friend class TimedSocket;

    void shutdown() override;

    void link(TimedSocket& socket);
    void unlink(TimedSocket& socket);
    void relink(TimedSocket& socket) {
        unlink(socket);
        link(socket);
    }
    void arm();
    void turn();

    net::io_context& context_;
    net::steady_timer timer_;
    std::array<TimedSocket*, slot_count> slots_{};
    std::int64_t swept_tick_ = 0;  // every slot up to this tick has been swept
    std::size_t pending_ = 0;
    bool armed_ = false;
    bool shut_down_ = false;
};

class TimedSocket {
public:
    using executor_type = cell::executor_type;
    using socket_type = tcp::socket::rebind_executor<executor_type>::other;
    // What net::ssl::stream asks of the layer it wraps.
    using lowest_layer_type = socket_type;
    using Clock = DeadlineSweep::Clock;

    explicit TimedSocket(executor_type executor);
    explicit TimedSocket(socket_type socket);
    // Only while no operation is pending (as with any Asio I/O object being moved).
    TimedSocket(TimedSocket&& other) noexcept;
    TimedSocket& operator=(TimedSocket&&) = delete;
    TimedSocket(const TimedSocket&) = delete;
    TimedSocket& operator=(const TimedSocket&) = delete;
    ~TimedSocket();

    executor_type get_executor() noexcept { return socket_.get_executor(); }
    socket_type& socket() noexcept { return socket_; }
    lowest_layer_type& lowest_layer() noexcept { return socket_; }
    const lowest_layer_type& lowest_layer() const noexcept { return socket_; }

    // The deadline of the operations started from now on (and of those pending).
    void expires_after(std::chrono::nanoseconds timeout) { deadline_ = Clock::now() + timeout; }
    void expires_at(Clock::time_point deadline) { deadline_ = deadline; }
    void expires_never() { deadline_ = Clock::time_point::max(); }
    bool timed_out() const { return timed_out_; }

    void close() {
        boost::system::error_code ignored;
        socket_.close(ignored);
    }

    template <typename Buffers, typename Token = net::default_completion_token_t<executor_type>>
    auto async_read_some(const Buffers& buffers, Token&& token = {}) {
        return net::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const Buffers& pieces) {
                begin_operation();
                socket_.async_read_some(pieces, Completion<decltype(handler)>{this, std::move(handler)});
            },
            token, buffers);
    }

    template <typename Buffers, typename Token = net::default_completion_token_t<executor_type>>
    auto async_write_some(const Buffers& buffers, Token&& token = {}) {
        return net::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const Buffers& pieces) {
                begin_operation();
                socket_.async_write_some(pieces, Completion<decltype(handler)>{this, std::move(handler)});
            },
            token, buffers);
    }

    // Tries the endpoints in order until one accepts, all within the deadline.
    template <typename Token = net::default_completion_token_t<executor_type>>
    auto async_connect(const std::vector<tcp::endpoint>& endpoints, Token&& token = {}) {
        return net::async_initiate<Token, void(boost::system::error_code, tcp::endpoint)>(
            [this](auto handler, const std::vector<tcp::endpoint>* candidates) {
                begin_operation();
                // After the deadline closed the socket, do not open it again for the next one.
                net::async_connect(
                    socket_, *candidates,
                    [this](const boost::system::error_code&, const tcp::endpoint&) { return !timed_out_; },
                    Completion<decltype(handler)>{this, std::move(handler)});
            },
            token, &endpoints);
    }

    // Wraps a completion handler: ends the operation's bookkeeping, and reports an operation
    // that the deadline cut off as a timeout.
    template <typename Handler>
    struct Completion {
        TimedSocket* socket;
        Handler handler;

        template <typename... Results>
        void operator()(boost::system::error_code ec, Results&&... results) {
            socket->end_operation();
            if (ec && socket->timed_out_) {
                ec = beast::error::timeout;
            }
            std::move(handler)(ec, std::forward<Results>(results)...);
        }
    };

private:
    friend class DeadlineSweep;

    void begin_operation() {
        if (deadline_ == Clock::time_point::max()) {
            ++pending_;
            return;
        }
        if (pending_++ == 0 || !linked_) {
            sweep_->link(*this);
        } else if (deadline_ < linked_deadline_) {
            sweep_->relink(*this);  // a nearer deadline for what is pending: sweep it in time
        }
    }
    void end_operation() {
        if (--pending_ == 0 && linked_) {
            sweep_->unlink(*this);
        }
    }
    // The sweep found the deadline passed with an operation pending.
    void expire() {
        timed_out_ = true;
        close();
    }

    socket_type socket_;
    DeadlineSweep* sweep_;
    Clock::time_point deadline_ = Clock::time_point::max();
    // The wheel's intrusive list, while an operation with a deadline is pending.
    TimedSocket* previous_ = nullptr;
    TimedSocket* next_ = nullptr;
    Clock::time_point linked_deadline_{};  // the deadline the wheel slot was chosen for
    std::uint32_t slot_ = 0;
    std::uint16_t pending_ = 0;
    bool linked_ = false;
    bool timed_out_ = false;
};

}  // namespace cell::transport

// The wrapped handler keeps its executor, allocator and cancellation slot: the coroutine's
// recycling allocator and executor still apply to the socket's operations.
template <template <typename, typename> class Associator, typename Handler, typename DefaultCandidate>
struct boost::asio::associator<Associator, cell::transport::TimedSocket::Completion<Handler>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
    static typename Associator<Handler, DefaultCandidate>::type get(
        const cell::transport::TimedSocket::Completion<Handler>& completion) noexcept {
        return Associator<Handler, DefaultCandidate>::get(completion.handler);
    }
    static auto get(const cell::transport::TimedSocket::Completion<Handler>& completion,
                    const DefaultCandidate& candidate) noexcept
        -> decltype(Associator<Handler, DefaultCandidate>::get(completion.handler, candidate)) {
        return Associator<Handler, DefaultCandidate>::get(completion.handler, candidate);
    }
};
