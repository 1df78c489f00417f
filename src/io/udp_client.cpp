#include "udp_client.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>

#include "coap/endpoint.hpp"

namespace coap::io {

namespace {

std::string strip_brackets(const std::string& host) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        return host.substr(1, host.size() - 2);
    return host;
}

}  // namespace

UdpClientSocket::UdpClientSocket(const std::string& host, std::uint16_t port) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_family = AF_UNSPEC;
    addrinfo* found = nullptr;
    std::string name = strip_brackets(host);
    std::string service = std::to_string(port);
    if (int error = getaddrinfo(name.c_str(), service.c_str(), &hints, &found); error != 0)
        throw std::system_error(EHOSTUNREACH, std::generic_category(),
                                "cannot resolve " + host + ": " + gai_strerror(error));
    int last_error = 0;
    for (addrinfo* candidate = found; candidate != nullptr; candidate = candidate->ai_next) {
        int fd = ::socket(candidate->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            last_error = errno;
            continue;
        }
        if (::connect(fd, candidate->ai_addr, candidate->ai_addrlen) == 0) {
            fd_ = fd;
            if (auto endpoint =
                    Endpoint::from_sockaddr(candidate->ai_addr, candidate->ai_addrlen)) {
                char text[endpoint_text_size];
                peer_text_ = std::string(endpoint->format(text));
            }
            break;
        }
        last_error = errno;
        ::close(fd);
    }
    freeaddrinfo(found);
    if (fd_ < 0)
        throw std::system_error(last_error, std::generic_category(),
                                "cannot connect a UDP socket to " + host + ":" + service);
}

UdpClientSocket::~UdpClientSocket() {
    if (fd_ >= 0) ::close(fd_);
}

int UdpClientSocket::send(Bytes datagram) noexcept {
    for (;;) {
        ssize_t sent = ::send(fd_, datagram.data(), datagram.size(), 0);
        if (sent >= 0) return 0;
        if (errno == EINTR) continue;
        return errno;
    }
}

bool UdpClientSocket::wait_readable(Duration timeout) noexcept {
    pollfd descriptor{fd_, POLLIN, 0};
    auto milliseconds = std::chrono::ceil<std::chrono::milliseconds>(timeout).count();
    if (milliseconds < 0) milliseconds = 0;
    if (milliseconds > 60'000) milliseconds = 60'000;
    int ready = ::poll(&descriptor, 1, static_cast<int>(milliseconds));
    return ready > 0;
}

ssize_t UdpClientSocket::receive(MutableBytes buffer) noexcept {
    for (;;) {
        ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), MSG_TRUNC);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -errno;
    }
}

}  // namespace coap::io
