#include "load_generator.hpp"

#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "harness.hpp"

namespace cell::testing {

std::uint64_t LoadCounts::answered() const {
    std::uint64_t total = 0;
    for (const auto& [status, count] : by_status) {
        total += count;
    }
    return total;
}

std::uint64_t LoadCounts::answered_with(int status) const {
    const auto found = by_status.find(status);
    return found == by_status.end() ? 0 : found->second;
}

std::string LoadCounts::summary() const {
    std::ostringstream text;
    text << "sent " << sent << ", answered " << answered();
    if (!by_status.empty()) {
        text << " (";
        bool first = true;
        for (const auto& [status, count] : by_status) {
            text << (first ? "" : ", ") << status << ": " << count;
            first = false;
        }
        text << ")";
    }
    text << ", failed " << failed;
    if (!failures.empty()) {
        text << " (";
        bool first = true;
        for (const auto& [reason, count] : failures) {
            text << (first ? "" : "; ") << reason << ": " << count;
            first = false;
        }
        text << ")";
    }
    return text.str();
}

LoadGenerator::LoadGenerator(LoadOptions options) : options_(std::move(options)) {
    for (int i = 0; i < options_.threads; ++i) {
        threads_.emplace_back([this, i] { run(i); });
    }
}

LoadGenerator::~LoadGenerator() { stop(); }

LoadCounts LoadGenerator::stop() {
    stopping_ = true;
    for (auto& thread : threads_) {
        if (thread.joinable()) {
            thread.join();
        }
    }
    return counts();
}

LoadCounts LoadGenerator::counts() const {
    std::lock_guard lock(mutex_);
    return counts_;
}

std::vector<LoadEvent> LoadGenerator::events() const {
    std::lock_guard lock(mutex_);
    return events_;
}

bool LoadGenerator::wait_for_answers(std::uint64_t answers, std::chrono::milliseconds timeout) const {
    const std::uint64_t target = counts().answered() + answers;
    return eventually([&] { return counts().answered() >= target; }, timeout);
}

void LoadGenerator::record(LoadEvent event) {
    std::lock_guard lock(mutex_);
    ++counts_.sent;
    if (event.status == 0) {
        ++counts_.failed;
        ++counts_.failures[event.failure];
    } else {
        ++counts_.by_status[event.status];
    }
    events_.push_back(std::move(event));
}

namespace {

// The failure's kind without the details that differ per request (port numbers).
std::string failure_kind(const std::string& message) {
    if (message.rfind("connect to port", 0) == 0) {
        const auto colon = message.find(": ");
        return "connect failed: " + (colon == std::string::npos ? message : message.substr(colon + 2));
    }
    return message;
}

}  // namespace

void LoadGenerator::run(int index) {
    const std::string request =
        make_request("GET", options_.target + (options_.target.find('?') == std::string::npos ? "?" : "&") +
                                "client=" + std::to_string(index),
                     {{"X-Routing-Key", options_.routing_key}});
    std::unique_ptr<Connection> connection;
    while (!stopping_) {
        LoadEvent event;
        try {
            if (!connection) {
                connection = std::make_unique<Connection>(options_.port, options_.timeout);
            }
            connection->send(request);
            const Response response = connection->read_response();
            event.status = response.status;
            event.routed_to = response.header("X-Routed-To");
            if (response.header("Connection") == "close") {
                connection.reset();
            }
        } catch (const std::exception& e) {
            event.failure = failure_kind(e.what());
            connection.reset();
        }
        event.at = std::chrono::steady_clock::now();
        const bool failed = event.status == 0;
        record(std::move(event));
        if (failed && !stopping_) {
            // A refused connect returns at once: do not spin on it.
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        } else if (options_.pause.count() > 0) {
            std::this_thread::sleep_for(options_.pause);
        }
    }
}

void print_load(const std::string& scenario, const LoadCounts& counts) {
    std::printf("[chaos] %s: %s\n", scenario.c_str(), counts.summary().c_str());
    std::fflush(stdout);
}

}  // namespace cell::testing
