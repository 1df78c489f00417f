// A bound UDP socket: the only place in the project that creates sockets.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string_view>

#include "coap/endpoint.hpp"

namespace coap::io {

/// An owned, bound, blocking UDP socket (io_uring does its own non-blocking attempts and polls).
///
/// Always sets SO_REUSEPORT, so several workers (each with its own socket) can share a port and
/// the kernel spreads datagrams between them. Binding "::" gives a dual-stack socket
/// (IPV6_V6ONLY=0) that also receives IPv4 datagrams, from v4-mapped peers.
class UdpSocket {
  public:
    /// Receive and send buffer sizes asked for; the kernel caps them at net.core.{r,w}mem_max.
    static constexpr int default_buffer_bytes = 4 * 1024 * 1024;

    UdpSocket() noexcept = default;
    ~UdpSocket();
    UdpSocket(UdpSocket&& other) noexcept;
    UdpSocket& operator=(UdpSocket&& other) noexcept;
    UdpSocket(const UdpSocket&) = delete;
    UdpSocket& operator=(const UdpSocket&) = delete;

    /// Creates a socket bound to `address` (an IP literal: "0.0.0.0", "::", "127.0.0.1", "::1",
    /// "[::1]", "fe80::1%eth0") and `port` (0 picks a port no other socket holds, with
    /// SO_REUSEPORT set after binding so later workers can join it; read it back with port()).
    /// Throws std::runtime_error for an address that is not an IP literal and std::system_error
    /// (with the errno) when a system call fails; messages name the address and port.
    static UdpSocket bind(std::string_view address, std::uint16_t port,
                          int buffer_bytes = default_buffer_bytes);

    bool is_open() const noexcept { return fd_ >= 0; }
    int fd() const noexcept { return fd_; }
    /// AF_INET or AF_INET6.
    int family() const noexcept { return family_; }
    /// The bound port (the one the kernel picked when binding port 0).
    std::uint16_t port() const noexcept { return port_; }

    /// Writes the destination address for `peer` in this socket's family and returns its length;
    /// 0 when the socket cannot reach it (an IPv6 peer on an IPv4 socket).
    socklen_t peer_address(const Endpoint& peer, sockaddr_storage& out) const noexcept;

    /// Closes the socket (idempotent).
    void close() noexcept;

  private:
    UdpSocket(int fd, int family, std::uint16_t port) noexcept
        : fd_(fd), family_(family), port_(port) {}

    int fd_ = -1;
    int family_ = 0;
    std::uint16_t port_ = 0;
};

}  // namespace coap::io
