#include "fake_control_plane.hpp"

#include <atomic>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace cell::testing {

namespace net = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;

struct FakeControlPlane::Impl {
    net::io_context context;
    tcp::acceptor acceptor{context};
    std::thread accept_thread;
    mutable std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::string> greeting;
    std::vector<std::string> frames;
    std::vector<std::shared_ptr<websocket::stream<tcp::socket>>> sockets;
    std::vector<std::thread> readers;
    std::atomic<bool> silent{false};
    std::atomic<bool> stopping{false};
    int connections = 0;

    void serve(std::shared_ptr<websocket::stream<tcp::socket>> ws) {
        boost::system::error_code ec;
        ws->accept(ec);
        if (ec) {
            return;
        }
        std::vector<std::string> hello;
        {
            std::lock_guard lock(mutex);
            ++connections;
            sockets.push_back(ws);
            hello = greeting;
        }
        changed.notify_all();
        for (const auto& frame : hello) {
            std::lock_guard lock(mutex);
            ws->text(true);
            ws->write(net::buffer(frame), ec);
        }
        boost::beast::flat_buffer buffer;
        while (!stopping) {
            if (silent) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                continue;
            }
            ws->read(buffer, ec);
            if (ec) {
                return;
            }
            {
                std::lock_guard lock(mutex);
                frames.push_back(boost::beast::buffers_to_string(buffer.data()));
            }
            buffer.consume(buffer.size());
            changed.notify_all();
        }
    }
};

FakeControlPlane::FakeControlPlane() : impl_(std::make_unique<Impl>()) {
    impl_->acceptor.open(tcp::v4());
    impl_->acceptor.set_option(net::socket_base::reuse_address(true));
    impl_->acceptor.bind(tcp::endpoint(net::ip::address_v4::loopback(), 0));
    impl_->acceptor.listen();
    port_ = impl_->acceptor.local_endpoint().port();
    impl_->accept_thread = std::thread([impl = impl_.get()] {
        while (!impl->stopping) {
            boost::system::error_code ec;
            tcp::socket socket(impl->context);
            impl->acceptor.accept(socket, ec);
            if (ec || impl->stopping) {
                return;
            }
            auto ws = std::make_shared<websocket::stream<tcp::socket>>(std::move(socket));
            std::lock_guard lock(impl->mutex);
            impl->readers.emplace_back([impl, ws] { impl->serve(ws); });
        }
    });
}

FakeControlPlane::~FakeControlPlane() {
    impl_->stopping = true;
    boost::system::error_code ignored;
    // shutdown() wakes the readers blocked on these sockets; each is closed only after its reader
    // has been joined, since closing a socket under a blocked read races with the read.
    {
        std::lock_guard lock(impl_->mutex);
        for (auto& ws : impl_->sockets) {
            ws->next_layer().shutdown(tcp::socket::shutdown_both, ignored);
        }
    }
    // Wake the accept thread with a connection of our own; the acceptor is closed only once that
    // thread is gone, since closing it under a blocked accept() races with the accept.
    try {
        net::io_context poke;
        tcp::socket socket(poke);
        socket.connect(tcp::endpoint(net::ip::address_v4::loopback(), port_), ignored);
    } catch (...) {
    }
    impl_->accept_thread.join();
    impl_->acceptor.close(ignored);
    std::vector<std::thread> readers;
    {
        std::lock_guard lock(impl_->mutex);
        readers.swap(impl_->readers);
    }
    for (auto& reader : readers) {
        reader.join();
    }
    std::lock_guard lock(impl_->mutex);
    for (auto& ws : impl_->sockets) {
        ws->next_layer().close(ignored);
    }
}

void FakeControlPlane::set_greeting(std::vector<std::string> frames) {
    std::lock_guard lock(impl_->mutex);
    impl_->greeting = std::move(frames);
}

bool FakeControlPlane::send(const std::string& frame) {
    std::lock_guard lock(impl_->mutex);
    if (impl_->sockets.empty()) {
        return false;
    }
    boost::system::error_code ec;
    auto& ws = impl_->sockets.back();
    ws->text(true);
    ws->write(net::buffer(frame), ec);
    return !ec;
}

void FakeControlPlane::go_silent() { impl_->silent = true; }

int FakeControlPlane::connections() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->connections;
}

std::vector<std::string> FakeControlPlane::received() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->frames;
}

std::string FakeControlPlane::wait_for_frame(const std::string& needle, std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->mutex);
    std::string found;
    impl_->changed.wait_for(lock, timeout, [&] {
        for (const auto& frame : impl_->frames) {
            if (frame.find(needle) != std::string::npos) {
                found = frame;
                return true;
            }
        }
        return false;
    });
    return found;
}

}  // namespace cell::testing
