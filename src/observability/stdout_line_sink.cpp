#include "cell/observability/stdout_line_sink.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace cell::observability {

StdoutLineSink::StdoutLineSink(int fd, std::size_t flush_bytes) : fd_(fd), flush_bytes_(flush_bytes) {}

StdoutLineSink::~StdoutLineSink() {
    const std::lock_guard lock(mutex_);
    write_buffered();
}

void StdoutLineSink::sink_it_(const spdlog::details::log_msg& msg) {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    buffer_.append(formatted.data(), formatted.size());
    if (buffer_.size() >= flush_bytes_) {
        write_buffered();
    }
}

void StdoutLineSink::flush_() { write_buffered(); }

// Writes all of the buffer, as stdio's fflush did: a pipe that is full (a slow log collector)
// is waited for, also when the descriptor is non-blocking. When the lines cannot be written at
// all (the reader is gone, the disk is full), they are dropped: there is nowhere else to say so.
void StdoutLineSink::write_buffered() {
    std::size_t written = 0;
    while (written < buffer_.size()) {
        const ssize_t n = ::write(fd_, buffer_.data() + written, buffer_.size() - written);
        if (n > 0) {
            written += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd ready{fd_, POLLOUT, 0};
            ::poll(&ready, 1, -1);
        } else {
            break;
        }
    }
    buffer_.clear();
}

}  // namespace cell::observability
