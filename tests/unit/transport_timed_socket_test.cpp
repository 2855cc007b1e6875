// TimedSocket and its DeadlineSweep, on connected loopback pairs inside one event loop: a
// deadline cuts off what is pending, as a timeout and never before it is due; an operation that
// completes leaves nothing behind for the sweep; a nearer deadline set while an operation is
// pending is honoured.

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "cell/transport/timed_socket.hpp"

namespace cell::transport {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Two connected sockets on 127.0.0.1, both run by `loop`.
struct SocketPair {
    TimedSocket near;
    tcp_socket far;
};

SocketPair connected_pair(net::io_context& loop) {
    tcp::acceptor acceptor(loop, tcp::endpoint(net::ip::address_v4::loopback(), 0));
    tcp_socket client(loop_executor(loop));
    client.connect(acceptor.local_endpoint());
    tcp_socket accepted(loop_executor(loop));
    acceptor.accept(accepted);
    return SocketPair{TimedSocket(TimedSocket::socket_type(std::move(client))), std::move(accepted)};
}

struct Outcome {
    boost::system::error_code error;
    std::size_t bytes = 0;
    Clock::duration after{};
};

// Starts a read on `socket`; the outcome lands in `outcome` when it completes.
void start_read(TimedSocket& socket, std::array<char, 16>& buffer, std::optional<Outcome>& outcome) {
    const auto started = Clock::now();
    socket.async_read_some(net::buffer(buffer), [&outcome, started](boost::system::error_code ec, std::size_t n) {
        outcome = Outcome{ec, n, Clock::now() - started};
    });
}

TEST(TimedSocket, ReadPastItsDeadlineCompletesAsTimeoutNotBefore) {
    net::io_context loop;
    auto pair = connected_pair(loop);
    std::array<char, 16> buffer{};
    std::optional<Outcome> outcome;
    pair.near.expires_after(60ms);
    start_read(pair.near, buffer, outcome);
    EXPECT_EQ(net::use_service<DeadlineSweep>(loop).pending(), 1u);
    loop.run_for(10s);
    ASSERT_TRUE(outcome.has_value()) << "the deadline never cut the read off";
    EXPECT_EQ(outcome->error, beast::error::timeout) << outcome->error.message();
    EXPECT_GE(outcome->after, 60ms);
    EXPECT_TRUE(pair.near.timed_out());
    EXPECT_FALSE(pair.near.socket().is_open());
    EXPECT_EQ(net::use_service<DeadlineSweep>(loop).pending(), 0u);
}

// The sweep's timer runs only while something is pending: run() returning on its own shows that
// nothing was left armed once the read completed.
TEST(TimedSocket, CompletedReadLeavesNothingForTheSweep) {
    net::io_context loop;
    auto pair = connected_pair(loop);
    std::array<char, 16> buffer{};
    std::optional<Outcome> outcome;
    pair.near.expires_after(30s);
    start_read(pair.near, buffer, outcome);
    net::write(pair.far, net::buffer("ping", 4));
    loop.run();
    ASSERT_TRUE(outcome.has_value());
    EXPECT_FALSE(outcome->error) << outcome->error.message();
    EXPECT_EQ(outcome->bytes, 4u);
    EXPECT_FALSE(pair.near.timed_out());
    EXPECT_TRUE(pair.near.socket().is_open());
    EXPECT_EQ(net::use_service<DeadlineSweep>(loop).pending(), 0u);
}

TEST(TimedSocket, WithoutADeadlineNothingIsSwept) {
    net::io_context loop;
    auto pair = connected_pair(loop);
    std::array<char, 16> buffer{};
    std::optional<Outcome> outcome;
    start_read(pair.near, buffer, outcome);
    EXPECT_EQ(net::use_service<DeadlineSweep>(loop).pending(), 0u);
    pair.far.close();
    loop.run();
    ASSERT_TRUE(outcome.has_value());
    EXPECT_EQ(outcome->error, net::error::eof) << outcome->error.message();
}

TEST(TimedSocket, DeadlineAlreadyPastCutsOffTheNextOperation) {
    net::io_context loop;
    auto pair = connected_pair(loop);
    std::array<char, 16> buffer{};
    std::optional<Outcome> outcome;
    pair.near.expires_at(Clock::now() - 1s);
    start_read(pair.near, buffer, outcome);
    loop.run_for(10s);
    ASSERT_TRUE(outcome.has_value());
    EXPECT_EQ(outcome->error, beast::error::timeout) << outcome->error.message();
}

// A read waiting under a long deadline; a write started after expires_after(short) brings the
// deadline of both forward, as with one timer per stream.
TEST(TimedSocket, NearerDeadlineForAPendingOperationIsHonoured) {
    net::io_context loop;
    auto pair = connected_pair(loop);
    std::array<char, 16> buffer{};
    std::optional<Outcome> outcome;
    pair.near.expires_after(60s);
    start_read(pair.near, buffer, outcome);
    pair.near.expires_after(50ms);
    bool written = false;
    pair.near.async_write_some(net::buffer("x", 1), [&](boost::system::error_code ec, std::size_t) {
        written = !ec;
    });
    loop.run_for(20s);
    EXPECT_TRUE(written);
    ASSERT_TRUE(outcome.has_value()) << "the read still waits for the 60 s deadline";
    EXPECT_EQ(outcome->error, beast::error::timeout) << outcome->error.message();
    EXPECT_GE(outcome->after, 50ms);
}

// Many sockets with deadlines spread over several ticks: each is cut off, none before its own
// deadline, and those that got data in time are left alone.
TEST(TimedSocket, EachSocketIsCutOffAtItsOwnDeadline) {
    net::io_context loop;
    constexpr int count = 24;
    std::vector<SocketPair> pairs;
    for (int i = 0; i < count; ++i) {
        pairs.push_back(connected_pair(loop));
    }
    std::vector<std::array<char, 16>> buffers(count);
    std::vector<std::optional<Outcome>> outcomes(count);
    for (int i = 0; i < count; ++i) {
        pairs[i].near.expires_after(std::chrono::milliseconds(10 + 15 * i));
        start_read(pairs[i].near, buffers[i], outcomes[i]);
        if (i % 3 == 0) {
            net::write(pairs[i].far, net::buffer("data", 4));  // answered in time
        }
    }
    loop.run_for(20s);
    for (int i = 0; i < count; ++i) {
        ASSERT_TRUE(outcomes[i].has_value()) << "socket " << i;
        if (i % 3 == 0) {
            EXPECT_FALSE(outcomes[i]->error) << "socket " << i << ": " << outcomes[i]->error.message();
        } else {
            EXPECT_EQ(outcomes[i]->error, beast::error::timeout) << "socket " << i;
            EXPECT_GE(outcomes[i]->after, std::chrono::milliseconds(10 + 15 * i)) << "socket " << i;
        }
    }
    EXPECT_EQ(net::use_service<DeadlineSweep>(loop).pending(), 0u);
}

// A loop destroyed with an operation pending destroys its handler, and with it (as with a
// coroutine frame) the socket, after the sweep has shut down but before it is destroyed: the
// socket must leave the wheel without touching anything gone (ASan watches this one).
TEST(TimedSocket, LoopDestroyedWithAnOperationPending) {
    std::array<char, 16> buffer{};
    bool called = false;
    {
        net::io_context loop;
        auto pair = std::make_shared<SocketPair>(connected_pair(loop));
        pair->near.expires_after(30s);
        auto& near = pair->near;
        near.async_read_some(net::buffer(buffer), [owner = std::move(pair), &called](boost::system::error_code,
                                                                                    std::size_t) { called = true; });
        loop.poll();
        EXPECT_EQ(net::use_service<DeadlineSweep>(loop).pending(), 1u);
    }
    EXPECT_FALSE(called);
}

}  // namespace
}  // namespace cell::transport
