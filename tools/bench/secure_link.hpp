// One coap-bench endpoint's DTLS session (coaps://): the client library's SecureChannel on the
// endpoint's connected socket. Handshake flights and alerts go straight out with send(2) (a
// few per handshake); sealed requests are handed back to the caller, who batches them like
// plain ones (sendmmsg or io_uring).
#pragma once

#include <cstdint>

#include "client/secure_channel.hpp"
#include "coap/bytes.hpp"
#include "coap/dtls.hpp"
#include "dtls/datagram_sink.hpp"

namespace coap::bench {

class SecureLink final : private dtls::DatagramSink {
  public:
    SecureLink(const ClientDtlsConfig& config, int fd);
    SecureLink(const SecureLink&) = delete;
    SecureLink& operator=(const SecureLink&) = delete;

    detail::SecureChannel& channel() noexcept { return channel_; }
    const detail::SecureChannel& channel() const noexcept { return channel_; }

    /// Seals one plain datagram: the record to send, valid until the next call into the
    /// channel, or an empty view when no session is up.
    Bytes seal(Bytes plaintext) noexcept;

    /// Datagrams send(2) refused since the last call: all of them, and those refused with
    /// ECONNREFUSED (ICMP port unreachable).
    struct SendFailures {
        std::uint64_t failed = 0;
        std::uint64_t refused = 0;
    };
    SendFailures take_send_failures() noexcept;

  private:
    void send(Bytes datagram) noexcept override;

    int fd_;
    bool capturing_ = false;
    Bytes captured_{};
    SendFailures failures_{};
    detail::SecureChannel channel_;
};

}  // namespace coap::bench
