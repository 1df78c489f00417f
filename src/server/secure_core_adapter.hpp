// coaps:// for one worker thread: datagrams from the io worker go through the DTLS server
// (handshakes, record protection), the application data inside them through the same
// protocol core as coap:// (secure = true), and the core's answers, notifications and
// retransmissions are sealed on the way out (RFC 7252 §9.1: CoAP over DTLS is CoAP with every
// datagram a DTLS record of the peer's session).
#pragma once

#include <cstdint>
#include <vector>

#include "coap/dtls.hpp"
#include "dtls/dtls_server.hpp"
#include "io/uring_worker.hpp"
#include "server_core.hpp"

namespace coap::detail {

/// The DTLS server settings ServerDtlsConfig describes; the PSK lookup copies the keys.
dtls::DtlsServerConfig dtls_server_config(const ServerDtlsConfig& config, std::size_t mtu);

/// Record overhead of TLS_PSK_WITH_AES_128_CCM_8: the io worker's buffers are this much larger
/// than the core's, so a full-size CoAP datagram still fits once sealed.
std::size_t dtls_record_overhead() noexcept;

class SecureCoreAdapter final : public io::DatagramProcessor, private dtls::DtlsEvents {
  public:
    /// Throws std::runtime_error when OpenSSL cannot set up the DTLS contexts.
    SecureCoreAdapter(ServerCore& core, const dtls::DtlsServerConfig& config,
                      std::size_t buffer_size);

    void attach(io::Outbox& out) noexcept override { out_ = &out; }
    std::size_t on_datagram(const Endpoint& peer, Bytes datagram, TimePoint now,
                            MutableBytes reply) noexcept override;
    void on_batch_end(TimePoint now, io::Outbox& out) noexcept override;
    void on_kernel_drops(std::uint64_t total) noexcept override { core_.note_kernel_drops(total); }

    const dtls::DtlsServer& dtls() const noexcept { return dtls_; }

  private:
    // Seals what the core sends on its own (separate responses, notifications).
    class SealingSink;

    void send(const Endpoint& peer, Bytes datagram) noexcept override;
    void received(const Endpoint& peer, Bytes application_data) noexcept override;

    ServerCore& core_;
    dtls::DtlsServer dtls_;
    io::Outbox* out_ = nullptr;
    std::vector<std::uint8_t> plain_reply_;
    TimePoint now_{};
};

}  // namespace coap::detail
