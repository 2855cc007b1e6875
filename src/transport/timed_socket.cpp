#include "cell/transport/timed_socket.hpp"

namespace cell::transport {
namespace {

using Clock = DeadlineSweep::Clock;

constexpr std::int64_t tick_nanoseconds = std::chrono::nanoseconds(DeadlineSweep::tick).count();

// The first tick at or after `time`: a deadline is never enforced early.
std::int64_t tick_at_or_after(Clock::time_point time) {
    const std::int64_t nanoseconds = time.time_since_epoch().count();
    return nanoseconds / tick_nanoseconds + (nanoseconds % tick_nanoseconds != 0 ? 1 : 0);
}

std::int64_t tick_before(Clock::time_point time) { return time.time_since_epoch().count() / tick_nanoseconds; }

std::size_t slot_of(std::int64_t tick) { return static_cast<std::size_t>(tick) % DeadlineSweep::slot_count; }

net::io_context& io_context_of(net::execution_context& context) {
    return static_cast<net::io_context&>(context);
}

}  // namespace

static_assert(std::is_same_v<Clock::duration, std::chrono::nanoseconds>);

DeadlineSweep::DeadlineSweep(net::execution_context& context)
    : net::execution_context::service(context), context_(io_context_of(context)), timer_(context_) {}

void DeadlineSweep::shutdown() {
    shut_down_ = true;
    timer_.cancel();
}

void DeadlineSweep::link(TimedSocket& socket) {
    if (!armed_) {
        // Nothing was pending: the slots up to now hold nothing, whatever tick they are at.
        swept_tick_ = tick_before(Clock::now());
        arm();
    }
    const std::int64_t tick = std::max(tick_at_or_after(socket.deadline_), swept_tick_ + 1);
    const std::size_t slot = slot_of(tick);
    TimedSocket*& head = slots_[slot];
    socket.slot_ = static_cast<std::uint32_t>(slot);
    socket.linked_deadline_ = socket.deadline_;
    socket.previous_ = nullptr;
    socket.next_ = head;
    if (head != nullptr) {
        head->previous_ = &socket;
    }
    head = &socket;
    socket.linked_ = true;
    ++pending_;
}

void DeadlineSweep::unlink(TimedSocket& socket) {
    if (socket.previous_ != nullptr) {
        socket.previous_->next_ = socket.next_;
    } else {
        slots_[socket.slot_] = socket.next_;
    }
    if (socket.next_ != nullptr) {
        socket.next_->previous_ = socket.previous_;
    }
    socket.previous_ = socket.next_ = nullptr;
    socket.linked_ = false;
    --pending_;
}

void DeadlineSweep::arm() {
    if (shut_down_) {
        return;
    }
    armed_ = true;
    timer_.expires_after(tick);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || shut_down_) {
            armed_ = false;
            return;
        }
        turn();
    });
}

// Sweeps every slot whose tick has come: closes the sockets whose deadline has passed (their
// operations complete later, through the loop, so the lists stay intact while they are walked),
// and moves a socket whose deadline lies in a later turn, or was moved, to its own slot.
void DeadlineSweep::turn() {
    armed_ = false;
    const Clock::time_point now = Clock::now();
    const std::int64_t now_tick = tick_before(now);
    const std::int64_t last = std::min(now_tick, swept_tick_ + static_cast<std::int64_t>(slot_count));
    std::vector<TimedSocket*> moved;
    for (std::int64_t tick = swept_tick_ + 1; tick <= last; ++tick) {
        for (TimedSocket* socket = slots_[slot_of(tick)]; socket != nullptr;) {
            TimedSocket* const following = socket->next_;
            if (socket->deadline_ <= now) {
                if (!socket->timed_out_) {
                    socket->expire();
                }
            } else if (slot_of(tick_at_or_after(socket->deadline_)) != socket->slot_) {
                moved.push_back(socket);
            }
            socket = following;
        }
    }
    swept_tick_ = now_tick;
    for (TimedSocket* socket : moved) {
        relink(*socket);
    }
    if (pending_ > 0) {
        arm();
    }
}

TimedSocket::TimedSocket(executor_type executor)
    : socket_(std::move(executor)), sweep_(&net::use_service<DeadlineSweep>(socket_.get_executor().context())) {}

TimedSocket::TimedSocket(socket_type socket)
    : socket_(std::move(socket)), sweep_(&net::use_service<DeadlineSweep>(socket_.get_executor().context())) {}

TimedSocket::TimedSocket(TimedSocket&& other) noexcept
    : socket_(std::move(other.socket_)), sweep_(other.sweep_), deadline_(other.deadline_),
      timed_out_(other.timed_out_) {}

TimedSocket::~TimedSocket() {
    // A loop being destroyed drops its pending operations' handlers, and with them the
    // coroutines that own their sockets: the sweep is shut down by then, but not yet destroyed.
    if (linked_) {
        sweep_->unlink(*this);
    }
}

}  // namespace cell::transport
