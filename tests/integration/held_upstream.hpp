#pragma once
// A scripted cell that holds every request it receives until the test releases it: a test can
// act while a request is certainly in flight, instead of sleeping and hoping it is.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include "harness.hpp"

namespace cell::testing {

class HeldUpstream {
public:
    // `response` is sent, verbatim, for each request once released.
    explicit HeldUpstream(std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone");
    ~HeldUpstream();
    HeldUpstream(const HeldUpstream&) = delete;
    HeldUpstream& operator=(const HeldUpstream&) = delete;

    std::string url() const { return upstream_.url(); }
    // Waits until `count` request heads have arrived; false on timeout.
    bool wait_for_requests(int count, std::chrono::milliseconds timeout = 10s);
    // Lets every held request (and every later one) be answered.
    void release();
    // Connections the router opened whose request never completed (EOF before the answer).
    int abandoned() const;

private:
    void serve(int fd);

    std::string response_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    int received_ = 0;
    int abandoned_ = 0;
    bool released_ = false;
    FakeUpstream upstream_;  // last: its threads use the members above
};

}  // namespace cell::testing
