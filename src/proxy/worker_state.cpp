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

// Both run on the worker's thread, which runs every session: nothing else can be using the
// sockets at the same moment.
void SessionRegistry::close_idle() {
    for (auto& entry : entries_) {
        if (entry.idle) {
            close_session_sockets(entry, false);
        }
    }
}

void SessionRegistry::close_all() {
    for (auto& entry : entries_) {
        close_session_sockets(entry, true);
    }
}

RelayBuffers::Lease RelayBuffers::take() {
    if (free_.empty()) {
        // Not zero-filled (make_unique would write all 64 KiB): a page of it becomes resident
        // only when a body is written there, so a small response costs one page, not sixteen,
        // and a burst of concurrent small requests does not raise the peak RSS by 64 KiB each.
        return Lease(*this, std::unique_ptr<char[]>(new char[buffer_size]));
    }
    auto buffer = std::move(free_.back());
    free_.pop_back();
    return Lease(*this, std::move(buffer));
}

void RelayBuffers::give_back(std::unique_ptr<char[]> buffer) {
    if (free_.size() < max_kept) {
        free_.push_back(std::move(buffer));
    }
}

}  // namespace cell::proxy
