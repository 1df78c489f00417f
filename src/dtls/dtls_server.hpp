// The DTLS 1.2 PSK server of one worker thread, sans-I/O: datagrams and the time come in,
// datagrams and decrypted application data go out through DtlsEvents. It answers ClientHellos
// without a valid cookie statelessly with a HelloVerifyRequest (RFC 6347 §4.2.1), runs
// handshakes in a fixed pool of slots, keeps established sessions in a fixed table (idle
// timeout, LRU eviction), resumes sessions from a fixed cache, and refuses renegotiation with a
// no_renegotiation warning (RFC 5246 §7.2.2, RFC 7925 §17).
//
// Not thread-safe: one DtlsServer per worker. Event callbacks must not call back into the
// server, except seal_to() from received().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "coap/bytes.hpp"
#include "coap/endpoint.hpp"
#include "coap/expected.hpp"
#include "coap/time.hpp"
#include "dtls/ccm.hpp"
#include "dtls/cookie.hpp"
#include "dtls/datagram_sink.hpp"
#include "dtls/handshake_pool.hpp"
#include "dtls/resumption.hpp"
#include "dtls/server_handshake.hpp"
#include "dtls/session_table.hpp"

namespace coap::dtls {

struct DtlsServerConfig {
    std::size_t session_count = 65536;  // dtls_session_count
    std::size_t handshake_count = 256;
    std::size_t resumption_cache_size = 4096;  // 0: no resumption, empty session ids
    Duration session_idle_timeout = std::chrono::minutes(10);
    /// Cookies stay valid for one to two of these (current and previous secret).
    Duration cookie_rotation_interval = std::chrono::seconds(30);
    std::size_t cookie_size = 16;
    /// Largest datagram our handshake flights use (RFC 6347 §4.1.1.1); IPv6 minimum MTU minus
    /// IP and UDP headers by default.
    std::size_t mtu = 1232;
    ServerHandshakeConfig handshake;
};

struct DtlsServerStats {
    std::uint64_t hello_verify_requests = 0;
    std::uint64_t handshakes_started = 0;
    std::uint64_t handshakes_completed = 0;
    std::uint64_t handshakes_resumed = 0;
    std::uint64_t handshakes_failed = 0;
    std::uint64_t handshakes_refused = 0;  // the handshake pool was full
    std::uint64_t records_dropped = 0;     // malformed, wrong epoch, failed authentication
    std::uint64_t records_replayed = 0;
    std::uint64_t sessions_evicted = 0;
    std::uint64_t sessions_expired = 0;
    std::uint64_t renegotiations_refused = 0;
};

enum class DtlsError : std::uint8_t {
    no_session,  // no established session with that peer
    too_large,   // more than a record can carry (RFC 5246 §6.2.1: 2^14 bytes)
    failed,      // sealing failed, or the sequence numbers are exhausted
};

class DtlsServer {
  public:
    /// Allocates every table; throws std::bad_alloc only here.
    explicit DtlsServer(DtlsServerConfig config);
    DtlsServer(const DtlsServer&) = delete;
    DtlsServer& operator=(const DtlsServer&) = delete;

    /// False if OpenSSL could not set up the AEAD, HMAC or digest contexts or give randomness.
    bool valid() const noexcept;

    /// Handles one datagram from `peer`: handshake records, alerts, and application data
    /// (delivered through events.received).
    void on_datagram(const Endpoint& peer, Bytes datagram, TimePoint now,
                     DtlsEvents& events) noexcept;
    /// Seals `data` as one application-data record to `peer` and sends it.
    Expected<std::size_t, DtlsError> seal_to(const Endpoint& peer, Bytes data, TimePoint now,
                                             DtlsEvents& events) noexcept;
    /// Retransmissions, handshake give-ups, idle sessions and cookie secret rotation.
    void on_timer(TimePoint now, DtlsEvents& events) noexcept;
    /// When on_timer() is next needed.
    std::optional<TimePoint> next_deadline() const noexcept;
    /// Sends close_notify and forgets the session (or abandons a handshake).
    void close(const Endpoint& peer, DtlsEvents& events) noexcept;

    bool has_session(const Endpoint& peer) noexcept { return sessions_.find(peer) != nullptr; }
    /// The PSK identity of `peer`'s session; empty without one.
    Bytes identity_of(const Endpoint& peer) noexcept;
    std::size_t session_count() const noexcept { return sessions_.size(); }
    std::size_t handshake_count() const noexcept { return handshakes_.size(); }
    std::size_t resumption_count() const noexcept { return resumption_.size(); }
    const DtlsServerStats& stats() const noexcept { return stats_; }
    const DtlsServerConfig& config() const noexcept { return config_; }

  private:
    Transmit transmit(DatagramSink& sink) noexcept;
    void on_record(const Endpoint& peer, const Record& record, std::size_t datagram_size,
                   TimePoint now, DtlsEvents& events) noexcept;
    void on_client_hello(const Endpoint& peer, const Record& record, std::size_t datagram_size,
                         TimePoint now, DtlsEvents& events) noexcept;
    void send_hello_verify_request(const Endpoint& peer, const Record& record,
                                   const HandshakeFragment& fragment, const ClientHello& hello,
                                   std::size_t datagram_size, DtlsEvents& events) noexcept;
    void feed_handshake(const Endpoint& peer, ServerHandshake& handshake, const Record& record,
                        TimePoint now, DtlsEvents& events) noexcept;
    void settle(const Endpoint& peer, ServerHandshake& handshake, TimePoint now,
                DtlsEvents& events) noexcept;
    void promote(const Endpoint& peer, ServerHandshake& handshake, TimePoint now,
                 DtlsEvents& events) noexcept;
    void on_session_record(Session& session, const Record& record, TimePoint now,
                           DtlsEvents& events) noexcept;
    void on_session_alert(Session& session, Bytes plaintext, DtlsEvents& events) noexcept;
    void on_session_handshake(Session& session, Bytes plaintext, DtlsEvents& events) noexcept;
    void send_alert(Session& session, Alert alert, DtlsEvents& events) noexcept;
    void rotate_cookie_secret(TimePoint now) noexcept;

    DtlsServerConfig config_;
    CcmContext aead_;
    CookieAuthority cookies_;
    SessionTable sessions_;
    HandshakePool handshakes_;
    ResumptionCache resumption_;
    std::vector<std::uint8_t> out_buffer_;   // one outgoing datagram
    std::vector<std::uint8_t> open_buffer_;  // one decrypted record
    std::optional<TimePoint> next_rotation_;
    bool cookie_secret_ok_ = true;
    DtlsServerStats stats_;
};

}  // namespace coap::dtls
