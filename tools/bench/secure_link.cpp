#include "bench/secure_link.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <utility>

namespace coap::bench {

SecureLink::SecureLink(const ClientDtlsConfig& config, int fd)
    : fd_(fd), channel_(config, static_cast<dtls::DatagramSink&>(*this)) {}

Bytes SecureLink::seal(Bytes plaintext) noexcept {
    capturing_ = true;
    captured_ = {};
    channel_.seal(plaintext);
    capturing_ = false;
    return std::exchange(captured_, Bytes{});
}

SecureLink::SendFailures SecureLink::take_send_failures() noexcept {
    return std::exchange(failures_, SendFailures{});
}

void SecureLink::send(Bytes datagram) noexcept {
    if (capturing_) {
        captured_ = datagram;
        return;
    }
    for (;;) {
        if (::send(fd_, datagram.data(), datagram.size(), 0) >= 0) return;
        if (errno == EINTR) continue;
        ++failures_.failed;
        if (errno == ECONNREFUSED) ++failures_.refused;
        return;
    }
}

}  // namespace coap::bench
