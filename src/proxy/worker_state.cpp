#include "cell/proxy/worker_state.hpp"

namespace cell::proxy {

namespace {

void close_session_sockets(const SessionRegistry::Entry& entry, bool include_upstream) {
    boost::system::error_code ignored;
    entry.stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    entry.stream->socket().close(ignored);
    // A session waiting on its cell would not notice the client side closing.
    if (include_upstream && entry.upstream != nullptr) {
        entry.upstream->socket().close(ignored);
    }
}

}  // namespace

void SessionRegistry::close_idle() {
    std::lock_guard guard(lock_);
    for (auto& entry : entries_) {
        if (entry.idle) {
            close_on_session_executor(entry, true);
        }
    }
}

void SessionRegistry::close_all() {
    std::lock_guard guard(lock_);
    for (auto& entry : entries_) {
        close_on_session_executor(entry, false);
    }
}

void SessionRegistry::close_on_session_executor(const Entry& entry, bool only_if_idle) {
    if constexpr (!shared_io_context) {
        // We are on the worker's thread, which runs every session: close right here.
        close_session_sockets(entry, !only_if_idle);
        return;
    }
    // Another thread may be running this session right now. Its executor is a strand, so a
    // handler posted there runs between the session's steps; by then the session may have
    // finished, so look it up again (sessions unregister on that same strand).
    net::post(entry.session_executor, [this, stream = entry.stream, only_if_idle] {
        std::lock_guard guard(lock_);
        for (const auto& current : entries_) {
            if (current.stream == stream && (current.idle || !only_if_idle)) {
                close_session_sockets(current, !only_if_idle);
                return;
            }
        }
    });
}

RelayBuffers::Lease RelayBuffers::take() {
    std::lock_guard guard(lock_);
    if (free_.empty()) {
        return Lease(*this, std::make_unique<char[]>(buffer_size));
    }
    auto buffer = std::move(free_.back());
    free_.pop_back();
    return Lease(*this, std::move(buffer));
}

void RelayBuffers::give_back(std::unique_ptr<char[]> buffer) {
    std::lock_guard guard(lock_);
    if (free_.size() < max_kept) {
        free_.push_back(std::move(buffer));
    }
}

}  // namespace cell::proxy
