// Where the sans-I/O DTLS code puts what it produces. The caller (the I/O layer or a test)
// implements these; nothing here allocates, and every call happens inside the DTLS call that
// caused it, so the views are valid only until the callback returns.
#pragma once

#include "coap/bytes.hpp"
#include "coap/endpoint.hpp"

namespace coap::dtls {

/// One peer's outgoing datagrams (used by the handshake state machines).
class DatagramSink {
  public:
    virtual void send(Bytes datagram) noexcept = 0;

  protected:
    ~DatagramSink() = default;
};

/// Why a session or handshake ended, for DtlsEvents::closed.
enum class CloseReason : std::uint8_t {
    local_close,        // close() was called
    peer_close_notify,  // the peer sent close_notify
    peer_alert,         // the peer sent a fatal alert
    local_alert,        // we sent a fatal alert (bad Finished, unknown identity, ...)
    handshake_timeout,  // the retransmission bound was reached
    idle_timeout,       // no records for the idle timeout
    evicted,            // the table was full and this was the least recently used session
    replaced,           // a new handshake from the same endpoint completed (RFC 6347 §4.2.8)
};

/// Everything a DTLS façade reports to its owner.
class DtlsEvents {
  public:
    /// A datagram to send to `peer`.
    virtual void send(const Endpoint& peer, Bytes datagram) noexcept = 0;
    /// Decrypted application data (one record) from `peer`.
    virtual void received(const Endpoint& peer, Bytes application_data) noexcept = 0;
    /// A handshake with `peer` completed; `identity` is the PSK identity used.
    virtual void established(const Endpoint& /*peer*/, Bytes /*identity*/) noexcept {}
    /// A session or handshake with `peer` ended.
    virtual void closed(const Endpoint& /*peer*/, CloseReason /*reason*/) noexcept {}

  protected:
    ~DtlsEvents() = default;
};

/// Adapts DtlsEvents to one peer's DatagramSink.
class PeerSink final : public DatagramSink {
  public:
    PeerSink(DtlsEvents& events, const Endpoint& peer) noexcept : events_(events), peer_(peer) {}
    void send(Bytes datagram) noexcept override { events_.send(peer_, datagram); }

  private:
    DtlsEvents& events_;
    const Endpoint& peer_;
};

}  // namespace coap::dtls
