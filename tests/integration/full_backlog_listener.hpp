#pragma once
// A loopback listener whose accept queue is full: a connect to it never completes (the kernel
// drops the SYN), which is how tests make a connect time out without leaving 127.0.0.1.

#include <string>
#include <vector>

namespace cell::testing {

class FullBacklogListener {
public:
    // Listens on 127.0.0.1 with the smallest backlog and never accepts; connects until one stays
    // pending, so the queue is known to be full. Throws std::runtime_error when it cannot.
    FullBacklogListener();
    ~FullBacklogListener();
    FullBacklogListener(const FullBacklogListener&) = delete;
    FullBacklogListener& operator=(const FullBacklogListener&) = delete;

    unsigned short port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

private:
    int listen_fd_ = -1;
    unsigned short port_ = 0;
    std::vector<int> fillers_;  // the connections that fill the queue (and the pending one)
};

}  // namespace cell::testing
