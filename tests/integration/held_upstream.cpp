#include "held_upstream.hpp"

#include <poll.h>
#include <sys/socket.h>

namespace cell::testing {

HeldUpstream::HeldUpstream(std::string response)
    : response_(std::move(response)), upstream_([this](int fd, int) { serve(fd); }) {}

HeldUpstream::~HeldUpstream() { release(); }

void HeldUpstream::serve(int fd) {
    while (!fake_read_head(fd, 30s).empty()) {
        std::unique_lock lock(mutex_);
        ++received_;
        changed_.notify_all();
        // Bounded, so a test that forgets to release still ends; the peer closing is noticed too.
        const auto give_up_at = std::chrono::steady_clock::now() + 30s;
        while (!released_ && std::chrono::steady_clock::now() < give_up_at) {
            changed_.wait_for(lock, 20ms);
            lock.unlock();
            pollfd descriptor{fd, POLLIN, 0};
            char byte = 0;
            const bool peer_gone = ::poll(&descriptor, 1, 0) > 0 && ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
            lock.lock();
            if (peer_gone) {
                ++abandoned_;
                changed_.notify_all();
                return;
            }
        }
        lock.unlock();
        if (!fake_send(fd, response_)) {
            return;
        }
    }
}

bool HeldUpstream::wait_for_requests(int count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return received_ >= count; });
}

void HeldUpstream::release() {
    const std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
}

int HeldUpstream::abandoned() const {
    const std::lock_guard lock(mutex_);
    return abandoned_;
}

}  // namespace cell::testing
