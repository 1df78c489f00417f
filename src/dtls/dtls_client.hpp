// The DTLS 1.2 PSK client for one server, sans-I/O: datagrams and the time come in, datagrams
// and decrypted application data go out through DtlsEvents. It runs the handshake
// (ClientHandshake), keeps the established Session, remembers the last session for an
// abbreviated handshake on the next connect() (RFC 5246 §7.3, RFC 7925 §7), and refuses
// renegotiation (RFC 7925 §17: a HelloRequest is answered with no_renegotiation).
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "coap/bytes.hpp"
#include "coap/endpoint.hpp"
#include "coap/expected.hpp"
#include "coap/time.hpp"
#include "dtls/ccm.hpp"
#include "dtls/client_handshake.hpp"
#include "dtls/datagram_sink.hpp"
#include "dtls/dtls_server.hpp"
#include "dtls/session.hpp"

namespace coap::dtls {

struct DtlsClientConfig {
    ClientHandshakeConfig handshake;
    /// Largest datagram our flights use; the ClientHello must fit unfragmented.
    std::size_t mtu = 1232;
    /// Offer the previous session again on connect() (abbreviated handshake).
    bool resume = true;
};

enum class ClientState : std::uint8_t { idle, handshaking, established, closed };

class DtlsClient {
  public:
    DtlsClient(DtlsClientConfig config, const Endpoint& server);
    DtlsClient(const DtlsClient&) = delete;
    DtlsClient& operator=(const DtlsClient&) = delete;

    bool valid() const noexcept { return aead_.valid() && handshake_.valid(); }

    /// Starts a handshake (abandoning any session), resuming the remembered session if any.
    void connect(TimePoint now, DtlsEvents& events) noexcept;
    /// Handles one datagram; datagrams from anyone but the server are ignored.
    void on_datagram(const Endpoint& from, Bytes datagram, TimePoint now,
                     DtlsEvents& events) noexcept;
    /// Seals `data` as one application-data record to the server and sends it.
    Expected<std::size_t, DtlsError> seal(Bytes data, DtlsEvents& events) noexcept;
    /// Handshake retransmissions and give-up.
    void on_timer(TimePoint now, DtlsEvents& events) noexcept;
    std::optional<TimePoint> next_deadline() const noexcept { return handshake_.deadline(); }
    /// Sends close_notify and ends the session; the session stays resumable (RFC 5246 §7.2.1).
    void close(DtlsEvents& events) noexcept;

    ClientState state() const noexcept { return state_; }
    const Endpoint& server() const noexcept { return server_; }
    /// The handshake in progress or last run (alerts, resumed(), ...).
    const ClientHandshake& handshake() const noexcept { return handshake_; }
    /// The session remembered for resumption (unusable if none).
    const ResumableSession& resumable() const noexcept { return resumable_; }
    void set_resumable(const ResumableSession& session) noexcept { resumable_ = session; }
    void forget_resumable() noexcept { resumable_.wipe(); }

  private:
    Transmit transmit(DatagramSink& sink) noexcept;
    void on_record(const Record& record, TimePoint now, DtlsEvents& events) noexcept;
    void settle(TimePoint now, DtlsEvents& events) noexcept;
    void on_session_record(const Record& record, DtlsEvents& events) noexcept;
    void on_session_handshake(Bytes plaintext, DtlsEvents& events) noexcept;
    void send_alert(Alert alert, DtlsEvents& events) noexcept;
    void end(CloseReason reason, DtlsEvents& events) noexcept;

    DtlsClientConfig config_;
    Endpoint server_;
    CcmContext aead_;
    ClientHandshake handshake_;
    Session session_;
    ResumableSession resumable_;
    ClientState state_ = ClientState::idle;
    std::vector<std::uint8_t> out_buffer_;
    std::vector<std::uint8_t> open_buffer_;
};

}  // namespace coap::dtls
