#pragma once
// The sink both loggers write through: whole lines appended to a buffer, which goes out in one
// write(2) when it is flushed or holds `flush_bytes`. spdlog's own stdout sink flushes stdio
// after every line, one system call per access line; here a batch of access lines costs one.
// Include only where loggers are made (spdlog's sink headers).
//
// Thread safety: base_sink's mutex serialises every call.

#include <cstddef>
#include <mutex>
#include <string>

#include <spdlog/sinks/base_sink.h>

namespace cell::observability {

class StdoutLineSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    static constexpr std::size_t default_flush_bytes = 64 * 1024;

    // `fd` is where the lines go (stdout, or a pipe in tests); the sink does not own it.
    explicit StdoutLineSink(int fd, std::size_t flush_bytes = default_flush_bytes);
    ~StdoutLineSink() override;

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override;
    void flush_() override;

private:
    void write_buffered();

    int fd_;
    std::size_t flush_bytes_;
    std::string buffer_;
};

}  // namespace cell::observability
