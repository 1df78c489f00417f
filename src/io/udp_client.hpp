// A connected UDP socket for the client: resolve, connect, send, wait, receive.
#pragma once

#include <sys/types.h>
#include <cstdint>
#include <string>

#include "coap/bytes.hpp"
#include "coap/time.hpp"

namespace coap::io {

class UdpClientSocket {
  public:
    /// Resolves `host` (IP literal, "[::1]" or a name) and connects to it. Throws
    /// std::system_error naming the host when resolution or connect fails.
    UdpClientSocket(const std::string& host, std::uint16_t port);
    ~UdpClientSocket();
    UdpClientSocket(const UdpClientSocket&) = delete;
    UdpClientSocket& operator=(const UdpClientSocket&) = delete;

    /// 0 on success, else an errno value (ECONNREFUSED after an ICMP port unreachable).
    int send(Bytes datagram) noexcept;
    /// Waits until a datagram can be read or `timeout` passes; true when readable.
    bool wait_readable(Duration timeout) noexcept;
    /// Reads one datagram without blocking: its size, 0 when none is waiting, or -errno.
    ssize_t receive(MutableBytes buffer) noexcept;
    /// "127.0.0.1:5683" or "[::1]:5683".
    const std::string& peer_text() const noexcept { return peer_text_; }

  private:
    int fd_ = -1;
    std::string peer_text_;
};

}  // namespace coap::io
