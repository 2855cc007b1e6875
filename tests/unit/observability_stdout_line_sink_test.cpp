// The sink both loggers write through: lines wait for a flush or a full buffer, and then go out
// whole and in order, also through a pipe that is full for a while.

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include <gtest/gtest.h>
#include <spdlog/logger.h>

#include "cell/observability/stdout_line_sink.hpp"

namespace cell::observability {
namespace {

struct Pipe {
    Pipe() {
        int fds[2];
        if (::pipe(fds) != 0) {
            throw std::runtime_error("pipe failed");
        }
        read_end = fds[0];
        write_end = fds[1];
    }
    ~Pipe() {
        close_read_end();
        if (write_end >= 0) {
            ::close(write_end);
        }
    }
    void close_read_end() {
        if (read_end >= 0) {
            ::close(read_end);
            read_end = -1;
        }
    }
    // What the pipe holds now, without waiting.
    std::string available() const {
        std::string text;
        pollfd ready{read_end, POLLIN, 0};
        while (::poll(&ready, 1, 0) == 1 && (ready.revents & POLLIN) != 0) {
            char chunk[4096];
            const ssize_t n = ::read(read_end, chunk, sizeof chunk);
            if (n <= 0) {
                break;
            }
            text.append(chunk, static_cast<std::size_t>(n));
        }
        return text;
    }
    int read_end = -1;
    int write_end = -1;
};

std::shared_ptr<spdlog::logger> logger_on(std::shared_ptr<StdoutLineSink> sink) {
    sink->set_pattern("%v");
    auto logger = std::make_shared<spdlog::logger>("sink-test", std::move(sink));
    logger->flush_on(spdlog::level::off);
    return logger;
}

TEST(StdoutLineSink, LinesWaitForTheFlushAndThenGoOutInOrder) {
    Pipe pipe;
    const auto logger = logger_on(std::make_shared<StdoutLineSink>(pipe.write_end));
    logger->info("first");
    logger->info("second");
    logger->warn("third");
    EXPECT_EQ(pipe.available(), "");
    logger->flush();
    EXPECT_EQ(pipe.available(), "first\nsecond\nthird\n");
    logger->flush();
    EXPECT_EQ(pipe.available(), "") << "a flush with nothing buffered writes nothing";
}

TEST(StdoutLineSink, AFullBufferIsWrittenWithoutAFlush) {
    Pipe pipe;
    const auto logger = logger_on(std::make_shared<StdoutLineSink>(pipe.write_end, 16));
    logger->info("0123456");  // 8 bytes with its newline
    EXPECT_EQ(pipe.available(), "");
    logger->info("abcdefg");  // 16: the buffer is full
    EXPECT_EQ(pipe.available(), "0123456\nabcdefg\n");
    logger->info("tail");
    EXPECT_EQ(pipe.available(), "");
}

TEST(StdoutLineSink, DestroyingTheSinkWritesWhatIsLeft) {
    Pipe pipe;
    {
        const auto logger = logger_on(std::make_shared<StdoutLineSink>(pipe.write_end));
        logger->info("last words");
    }
    EXPECT_EQ(pipe.available(), "last words\n");
}

// More than a pipe holds, on a non-blocking descriptor: the writer waits for the reader
// instead of dropping what does not fit.
TEST(StdoutLineSink, ABatchLargerThanThePipeArrivesWhole) {
    Pipe pipe;
    ASSERT_EQ(::fcntl(pipe.write_end, F_SETFL, ::fcntl(pipe.write_end, F_GETFL) | O_NONBLOCK), 0);
    const auto logger = logger_on(std::make_shared<StdoutLineSink>(pipe.write_end, 1024 * 1024));
    std::string expected;
    for (int i = 0; i < 20000; ++i) {
        const std::string line = "line " + std::to_string(i) + " of a batch larger than a pipe holds";
        logger->info(line);
        expected += line + "\n";
    }
    std::string received;
    std::thread reader([&] {
        char chunk[8192];
        while (received.size() < expected.size()) {
            const ssize_t n = ::read(pipe.read_end, chunk, sizeof chunk);
            if (n <= 0) {
                break;
            }
            received.append(chunk, static_cast<std::size_t>(n));
        }
    });
    logger->flush();
    ::close(std::exchange(pipe.write_end, -1));  // the reader sees the end of what was written
    reader.join();
    EXPECT_EQ(received.size(), expected.size());
    EXPECT_TRUE(received == expected) << "the lines arrived out of order or changed";
}

// The write fails (EPIPE): the lines are dropped and the flush returns, rather than retrying
// forever.
TEST(StdoutLineSink, AReaderThatIsGoneLosesTheLinesNotTheWriter) {
    Pipe pipe;
    const auto previous = std::signal(SIGPIPE, SIG_IGN);
    const auto logger = logger_on(std::make_shared<StdoutLineSink>(pipe.write_end));
    pipe.close_read_end();
    auto flushed = std::async(std::launch::async, [&] {
        logger->info("nobody reads this");
        logger->flush();
        logger->info("nor this");
        logger->flush();
    });
    EXPECT_EQ(flushed.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "flush kept retrying";
    flushed.wait();
    std::signal(SIGPIPE, previous);
}

}  // namespace
}  // namespace cell::observability
