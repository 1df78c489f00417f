// The client's DTLS layer (RFC 7252 §9.1, RFC 6347): one DtlsClient to one server, sans-I/O.
// Plain CoAP datagrams go in and come out sealed through a DatagramSink; sealed datagrams come
// in and their application data goes to a callback. It counts handshakes and remembers why the
// last one failed, and reports a failed handshake or a session the server closed once, for
// the owner to fail what was outstanding. Used by the public Client and by coap-bench.
#pragma once

#include <cstdint>
#include <optional>

#include "coap/bytes.hpp"
#include "coap/client.hpp"
#include "coap/dtls.hpp"
#include "coap/endpoint.hpp"
#include "coap/time.hpp"
#include "dtls/datagram_sink.hpp"
#include "dtls/dtls_client.hpp"

namespace coap::detail {

/// The DtlsClient settings for `config` (the handshake timer of RFC 6347 §4.2.4.1).
dtls::DtlsClientConfig dtls_client_config(const ClientDtlsConfig& config);

class SecureChannel final : private dtls::DtlsEvents {
  public:
    /// What happened since take_outcome() was last called.
    enum class Outcome : std::uint8_t { none, handshake_failed, session_closed };

    /// Sealed datagrams go to `out`, which must outlive the channel.
    SecureChannel(const ClientDtlsConfig& config, dtls::DatagramSink& out);
    SecureChannel(const SecureChannel&) = delete;
    SecureChannel& operator=(const SecureChannel&) = delete;

    /// False if OpenSSL could not set up the cipher or the transcript hash.
    bool valid() const noexcept { return dtls_.valid(); }
    bool established() const noexcept { return dtls_.state() == dtls::ClientState::established; }
    bool handshaking() const noexcept { return dtls_.state() == dtls::ClientState::handshaking; }

    /// Starts a handshake (abbreviated when a session is remembered) unless one is running or
    /// a session is up.
    void start(TimePoint now) noexcept;
    /// Seals one plain datagram into a record and sends it; false without a session (or when
    /// larger than a record).
    bool seal(Bytes plaintext) noexcept;
    /// One datagram from the server: handshake records drive the handshake, and the plaintext
    /// of each application-data record goes to `deliver(Bytes)` (valid during that call only).
    template <typename Deliver>
    void on_datagram(Bytes datagram, TimePoint now, Deliver& deliver) noexcept {
        deliver_context_ = &deliver;
        deliver_ = [](void* context, Bytes plaintext) {
            (*static_cast<Deliver*>(context))(plaintext);
        };
        dtls_.on_datagram(server_, datagram, now, *this);
        deliver_ = nullptr;
        deliver_context_ = nullptr;
    }
    /// Handshake retransmissions and giving up (RFC 6347 §4.2.4).
    void on_timer(TimePoint now) noexcept { dtls_.on_timer(now, *this); }
    std::optional<TimePoint> next_deadline() const noexcept { return dtls_.next_deadline(); }
    /// Sends close_notify (RFC 5246 §7.2.1) when a session is up and ends it (or the handshake);
    /// the session stays resumable. Reports no outcome.
    void close() noexcept;
    /// Gives up a running handshake because the server cannot be reached.
    void abort_unreachable() noexcept;

    Outcome take_outcome() noexcept;
    const DtlsClientStatus& status() const noexcept { return status_; }

  private:
    void send(const Endpoint& peer, Bytes datagram) noexcept override;
    void received(const Endpoint& peer, Bytes application_data) noexcept override;
    void established(const Endpoint& peer, Bytes identity) noexcept override;
    void closed(const Endpoint& peer, dtls::CloseReason reason) noexcept override;
    void record_failure(DtlsHandshakeFailure failure) noexcept;

    Endpoint server_;  // the socket is connected: every datagram is the server's
    dtls::DatagramSink& out_;
    dtls::DtlsClient dtls_;
    DtlsClientStatus status_;
    Outcome outcome_ = Outcome::none;
    bool closing_ = false;  // close() or abort_unreachable() is ending it: no outcome
    void (*deliver_)(void*, Bytes) = nullptr;
    void* deliver_context_ = nullptr;
};

}  // namespace coap::detail
