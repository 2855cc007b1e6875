#pragma once
// Keep-alive load for the chaos scenarios: N client threads, each on one connection to the
// router (a new one after the router closes it or it fails), sending requests back to back.
// Every request ends as an answer (counted by status) or a failure (connect refused, reset,
// closed mid-response, or no answer within the timeout): never as nothing.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cell::testing {

struct LoadOptions {
    unsigned short port = 0;
    int threads = 4;
    std::string routing_key = "acme";
    std::string target = "/";
    std::chrono::milliseconds timeout{5000};  // per request: connect, send, or read
    std::chrono::milliseconds pause{0};        // between a thread's requests
};

// One finished request, for scenarios that look at when things happened.
struct LoadEvent {
    std::chrono::steady_clock::time_point at;  // when the request ended
    int status = 0;                            // 0: failed
    std::string routed_to;                     // X-Routed-To of the answer
    std::string failure;                       // why, when it failed
};

struct LoadCounts {
    std::uint64_t sent = 0;
    std::map<int, std::uint64_t> by_status;
    std::uint64_t failed = 0;
    std::map<std::string, std::uint64_t> failures;  // reason -> count

    std::uint64_t answered() const;
    std::uint64_t answered_with(int status) const;
    // "sent 1234, answered 200: 1200 502: 30, failed 4 (connection closed mid-response: 4)"
    std::string summary() const;
};

class LoadGenerator {
public:
    explicit LoadGenerator(LoadOptions options);
    ~LoadGenerator();
    LoadGenerator(const LoadGenerator&) = delete;
    LoadGenerator& operator=(const LoadGenerator&) = delete;

    // Stops the threads after their current request; returns the totals. Idempotent.
    LoadCounts stop();
    LoadCounts counts() const;
    std::vector<LoadEvent> events() const;
    // Blocks until at least `answers` more answers than at the call have arrived; false on timeout.
    bool wait_for_answers(std::uint64_t answers, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

private:
    void run(int index);
    void record(LoadEvent event);

    const LoadOptions options_;
    std::atomic<bool> stopping_{false};
    mutable std::mutex mutex_;
    LoadCounts counts_;
    std::vector<LoadEvent> events_;
    std::vector<std::thread> threads_;
};

// Prints "<scenario>: <summary>" to stdout, where ctest --output-on-failure and the CI log show it.
void print_load(const std::string& scenario, const LoadCounts& counts);

}  // namespace cell::testing
