#pragma once
// Keep-alive GETs for one routing key against one router, on a thread of their own, counting
// answers that are not a 200: the load under which config changes must fail no request.

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

namespace cell::testing {

class KeepAliveLoad {
public:
    KeepAliveLoad(unsigned short port, std::string key) : port_(port), key_(std::move(key)) {
        thread_ = std::thread([this] { run(); });
    }
    ~KeepAliveLoad() { stop(); }
    KeepAliveLoad(const KeepAliveLoad&) = delete;
    KeepAliveLoad& operator=(const KeepAliveLoad&) = delete;

    void stop() {
        stopping_ = true;
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    long ok() const { return ok_; }
    long failed() const { return failed_; }
    std::string last_failure() const {
        std::lock_guard lock(mutex_);
        return last_failure_;
    }

private:
    void run();

    unsigned short port_;
    std::string key_;
    std::atomic<bool> stopping_{false};
    std::atomic<long> ok_{0};
    std::atomic<long> failed_{0};
    mutable std::mutex mutex_;
    std::string last_failure_;
    std::thread thread_;
};

}  // namespace cell::testing
