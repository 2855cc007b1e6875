#include "keep_alive_load.hpp"

#include "harness.hpp"

namespace cell::testing {

void KeepAliveLoad::run() {
    while (!stopping_) {
        try {
            Connection connection(port_);
            for (int i = 0; i < 200 && !stopping_; ++i) {
                connection.send(make_request("GET", "/", {{"X-Routing-Key", key_}}));
                const auto response = connection.read_response();
                if (response.status == 200) {
                    ++ok_;
                } else {
                    ++failed_;
                    std::lock_guard lock(mutex_);
                    last_failure_ = std::to_string(response.status) + " " + response.body;
                }
            }
        } catch (const std::exception& e) {
            ++failed_;
            std::lock_guard lock(mutex_);
            last_failure_ = e.what();
        }
    }
}

}  // namespace cell::testing
