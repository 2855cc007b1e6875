#include "full_backlog_listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace cell::testing {
namespace {

constexpr int max_fillers = 64;
constexpr int connect_wait_ms = 200;

sockaddr_in loopback(unsigned short port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

// Starts a non-blocking connect; true when it completed within connect_wait_ms.
bool connect_completes(int fd, unsigned short port) {
    const sockaddr_in address = loopback(port);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) return true;
    if (errno != EINPROGRESS) throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    pollfd waiting{fd, POLLOUT, 0};
    if (::poll(&waiting, 1, connect_wait_ms) <= 0) return false;
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    return error == 0;
}

}  // namespace

FullBacklogListener::FullBacklogListener() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in address = loopback(0);
    socklen_t length = sizeof address;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listen_fd_, 0) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        ::close(listen_fd_);
        throw std::runtime_error(std::string("full-backlog listener: ") + std::strerror(errno));
    }
    port_ = ntohs(address.sin_port);
    for (int i = 0; i < max_fillers; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) break;
        fillers_.push_back(fd);
        if (!connect_completes(fd, port_)) return;  // the queue is full: this one stays pending
    }
    for (int fd : fillers_) ::close(fd);
    ::close(listen_fd_);
    throw std::runtime_error("full-backlog listener: the accept queue never filled");
}

FullBacklogListener::~FullBacklogListener() {
    for (int fd : fillers_) ::close(fd);
    if (listen_fd_ >= 0) ::close(listen_fd_);
}

}  // namespace cell::testing
