// An established DTLS 1.2 association (RFC 6347): epoch-1 record protection in both directions,
// the write sequence numbers, the anti-replay window (§4.1.2.6), the peer's PSK identity and
// what is needed to answer a retransmitted final flight after the handshake (§4.2.4: the side
// that sent the last flight must resend it when the peer's previous flight arrives again).
// Records are sealed and opened with the caller's CcmContext: nothing allocates.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "coap/bytes.hpp"
#include "coap/endpoint.hpp"
#include "coap/expected.hpp"
#include "coap/time.hpp"
#include "dtls/alert.hpp"
#include "dtls/ccm.hpp"
#include "dtls/crypto.hpp"
#include "dtls/flight.hpp"
#include "dtls/record.hpp"
#include "dtls/replay_window.hpp"

namespace coap::dtls {

/// RFC 4279 §5.3: identities up to 128 bytes must be supported.
inline constexpr std::size_t max_identity_size = 128;

enum class Role : std::uint8_t { client, server };

/// What a completed handshake hands over to its session.
struct SessionSetup {
    Role role = Role::server;
    TrafficKeys write_keys;
    TrafficKeys read_keys;
    std::uint64_t write_sequence = 0;         // next epoch-1 record sequence number
    std::uint64_t epoch0_write_sequence = 0;  // next epoch-0 one (for a resent ChangeCipherSpec)
    ReplayWindow read_window;                 // epoch 1, with the peer's Finished marked
    Bytes identity;
    std::array<std::uint8_t, verify_data_size> own_finished{};
    std::uint16_t own_finished_seq = 0;
    std::uint16_t peer_finished_seq = 0;
    bool sent_last_flight = false;  // we sent the handshake's final flight (RFC 6347 §4.2.4)
};

class Session {
  public:
    Session() = default;
    ~Session() { wipe(); }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void establish(const Endpoint& peer, const SessionSetup& setup, TimePoint now) noexcept;
    /// Erases keys and identity (secure_wipe); the session is then unusable.
    void wipe() noexcept;

    const Endpoint& peer() const noexcept { return peer_; }
    Role role() const noexcept { return role_; }
    Bytes identity() const noexcept { return Bytes(identity_).first(identity_size_); }
    TimePoint last_activity() const noexcept { return last_activity_; }
    void touch(TimePoint now) noexcept { last_activity_ = now; }
    std::uint64_t next_write_sequence() const noexcept { return write_sequence_; }

    /// Seals `plaintext` as one epoch-1 record of `type` into `out`; returns the record size.
    Expected<std::size_t, RecordError> seal(CcmContext& aead, ContentType type, Bytes plaintext,
                                            MutableBytes out) noexcept;
    /// Checks the epoch and replay window, then authenticates and decrypts into `out` (may be
    /// in place, see open_record) and marks the record received. Returns the plaintext.
    Expected<Bytes, RecordError> open(CcmContext& aead, const Record& record,
                                      MutableBytes out) noexcept;

    /// True when `handshake_plaintext` is the peer's handshake-final Finished again and this
    /// side sent the last flight, i.e. that flight should be resent (RFC 6347 §4.2.4).
    bool is_repeated_peer_finished(Bytes handshake_plaintext) const noexcept;
    /// Sends ChangeCipherSpec (epoch 0) and our Finished (epoch 1) again, packed into
    /// datagrams of at most tx.mtu like the handshake's own flight (RFC 6347 §4.1.1.1, §4.2.3).
    bool send_last_flight(Transmit& tx) noexcept;
    /// The same into one datagram in `out`; returns its size (0 on failure or if it takes more
    /// than one datagram of out.size()).
    std::size_t write_last_flight(CcmContext& aead, MutableBytes out) noexcept;
    /// The peer sent application data, so it has our Finished: stop answering retransmits.
    void peer_confirmed() noexcept { sent_last_flight_ = false; }

  private:
    Endpoint peer_;
    TrafficKeys write_keys_;
    TrafficKeys read_keys_;
    std::uint64_t write_sequence_ = 0;
    std::uint64_t epoch0_write_sequence_ = 0;
    ReplayWindow read_window_;
    TimePoint last_activity_{};
    std::array<std::uint8_t, verify_data_size> own_finished_{};
    std::uint16_t own_finished_seq_ = 0;
    std::uint16_t peer_finished_seq_ = 0;
    Role role_ = Role::server;
    bool sent_last_flight_ = false;
    std::uint8_t identity_size_ = 0;
    std::array<std::uint8_t, max_identity_size> identity_{};
};

/// Bytes of one Session object (the table adds its index and list links).
inline constexpr std::size_t session_object_size = sizeof(Session);
static_assert(session_object_size <= 512, "an established session must stay within 512 bytes");

}  // namespace coap::dtls
