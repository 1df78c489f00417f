// What the client and server handshake state machines share (RFC 6347 §4.2): turning records
// into whole handshake messages in message_seq order (§4.2.2, reassembly §4.2.3), the running
// transcript (§4.2.6), the key schedule (RFC 4279 §2, RFC 5246 §8.1, RFC 7627 §4), the
// current flight with its retransmission timer (§4.2.4), epoch switching on ChangeCipherSpec
// (§4.1) and alerts (RFC 5246 §7.2). The state machines derive from it and act on complete
// messages through on_message() and on_change_cipher_spec().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "coap/bytes.hpp"
#include "coap/time.hpp"
#include "dtls/alert.hpp"
#include "dtls/crypto.hpp"
#include "dtls/flight.hpp"
#include "dtls/handshake_codec.hpp"
#include "dtls/handshake_reassembler.hpp"
#include "dtls/record.hpp"
#include "dtls/replay_window.hpp"
#include "dtls/resumption.hpp"
#include "dtls/retransmit_timer.hpp"
#include "dtls/session.hpp"
#include "dtls/transcript_hash.hpp"

namespace coap::dtls {

/// A complete handshake message: its header as if unfragmented (RFC 6347 §4.2.6) and body.
struct HandshakeMessage {
    HandshakeHeader header;
    Bytes body;
    std::uint16_t epoch = 0;  // the epoch of the record(s) it came in
};

enum class HandshakeStatus : std::uint8_t { in_progress, established, failed };

/// A pre-shared key (RFC 4279), wiped on destruction.
struct PskKey {
    std::array<std::uint8_t, max_psk_size> bytes{};
    std::size_t size = 0;

    PskKey() = default;
    explicit PskKey(Bytes key) noexcept;
    PskKey(const PskKey&) = default;
    PskKey& operator=(const PskKey&) = default;
    ~PskKey() { secure_wipe(bytes); }
    Bytes view() const noexcept { return Bytes(bytes).first(size); }
};

class HandshakeCore {
  public:
    HandshakeCore(const HandshakeCore&) = delete;
    HandshakeCore& operator=(const HandshakeCore&) = delete;

    /// False if OpenSSL could not allocate the transcript hash.
    bool valid() const noexcept { return transcript_.valid(); }
    HandshakeStatus status() const noexcept { return status_; }
    /// Why it failed (meaningful when status() is failed).
    CloseReason failure() const noexcept { return failure_; }
    /// The fatal alert we sent or received, if any (for diagnostics and tests).
    std::optional<Alert> sent_alert() const noexcept { return sent_alert_; }
    std::optional<Alert> received_alert() const noexcept { return received_alert_; }
    /// When on_timer() is next due.
    std::optional<TimePoint> deadline() const noexcept { return timer_.deadline(); }
    /// Whether epoch-1 records are read (the peer's ChangeCipherSpec arrived).
    bool reads_epoch_1() const noexcept { return read_epoch_ == 1; }
    Bytes identity() const noexcept { return Bytes(identity_).first(identity_size_); }
    bool resumed() const noexcept { return resumed_; }
    bool extended_master_secret() const noexcept { return extended_master_secret_; }

    /// Processes one record from the peer; invalid ones are dropped (RFC 6347 §4.1.2.7).
    void on_record(const Record& record, TimePoint now, Transmit& tx) noexcept;
    /// Retransmits the flight or gives up when the timer is due.
    void on_timer(TimePoint now, Transmit& tx) noexcept;
    /// The session's keys and state; call once status() is established.
    void export_session(SessionSetup& out) const noexcept;
    /// The session id, master secret, EMS flag and identity, for later resumption.
    void export_resumable(ResumableSession& out) const noexcept;
    /// Wipes secrets and stops the timer.
    void wipe() noexcept;

  protected:
    HandshakeCore() noexcept = default;
    ~HandshakeCore() { wipe(); }

    /// A complete, in-order message. Everything but Finished, HelloVerifyRequest and
    /// HelloRequest is already in the transcript.
    virtual void on_message(const HandshakeMessage& message, TimePoint now,
                            Transmit& tx) noexcept = 0;
    virtual void on_change_cipher_spec(TimePoint now, Transmit& tx) noexcept = 0;

    void reset_core(Role role, const HandshakeTiming& timing) noexcept;

    /// Appends a message to the flight and the transcript; `write_body(MutableBytes)` returns
    /// Expected<std::size_t, CodecError>.
    template <class WriteBody>
    bool add_message(HandshakeType type, std::uint16_t epoch, WriteBody&& write_body) noexcept {
        auto size = write_body(flight_.body_area());
        if (!size) return false;
        const Bytes whole = flight_.add_message(type, next_send_seq_, *size, epoch);
        if (whole.empty() || !transcript_.update(whole)) return false;
        ++next_send_seq_;
        return true;
    }
    /// ChangeCipherSpec; later records (and alerts) go out in epoch 1.
    bool add_change_cipher_spec() noexcept;
    /// Our Finished (RFC 5246 §7.4.9) over the transcript so far, in epoch 1.
    bool add_finished() noexcept;
    /// Sends the flight; with `expect_reply` the retransmission timer runs (§4.2.4 WAITING).
    void send_flight(TimePoint now, Transmit& tx, bool expect_reply) noexcept;

    /// Premaster secret from `psk` (RFC 4279 §2), master secret (extended when negotiated,
    /// using the transcript so far as session hash) and traffic keys.
    bool derive_from_psk(Bytes psk) noexcept;
    /// Traffic keys from master_ and both randoms (RFC 5246 §6.3).
    bool derive_traffic_keys() noexcept;
    void import_resumable(const ResumableSession& session) noexcept;
    void set_session_id(Bytes id) noexcept;
    void set_identity(Bytes identity) noexcept;
    void start_reading_epoch_1() noexcept;
    /// RFC 6347 §4.2.1: a server that answered statelessly continues with the record sequence
    /// number of the ClientHello it accepted (which is marked received).
    void continue_after_hello_record(std::uint64_t sequence) noexcept;

    enum class FinishedCheck { valid, malformed, mismatch };
    /// Verifies the peer's Finished against the transcript before it, then hashes it.
    FinishedCheck check_peer_finished(const HandshakeMessage& message) noexcept;
    /// check_peer_finished, failing the handshake with the RFC 5246 §7.2.2 alert when it is not
    /// valid: decode_error for a malformed Finished, decrypt_error for a wrong one.
    bool finished_ok(const HandshakeMessage& message, Transmit& tx) noexcept;

    /// Sends a fatal alert in the current write epoch and ends the handshake.
    void fail(AlertDescription description, Transmit& tx) noexcept;
    void complete() noexcept;

    TranscriptHash transcript_;
    Role role_ = Role::server;
    HandshakeStatus status_ = HandshakeStatus::failed;
    bool extended_master_secret_ = false;
    bool resumed_ = false;
    bool sends_last_flight_ = false;
    bool accept_sequence_jump_ = false;  // the server's first message may skip message_seq
    std::uint16_t next_send_seq_ = 0;
    std::uint16_t next_receive_seq_ = 0;
    // The peer's last message of its last flight: seen again, ours was lost (§4.2.4). Its type
    // counts too: a message of the peer's next handshake may reuse the number (a client that
    // restarted), and taking it for a repeat makes both sides resend to each other forever.
    struct RepeatTrigger {
        std::uint16_t message_seq;
        HandshakeType type;
    };
    std::optional<RepeatTrigger> repeat_trigger_;
    std::array<std::uint8_t, random_size> client_random_{};
    std::array<std::uint8_t, random_size> server_random_{};
    std::array<std::uint8_t, max_session_id_size> session_id_{};
    std::uint8_t session_id_size_ = 0;
    Flight flight_;

  private:
    Bytes open(const Record& record, MutableBytes buffer, CcmContext& aead) noexcept;
    void on_handshake_record(Bytes plaintext, std::uint16_t epoch, TimePoint now,
                             Transmit& tx) noexcept;
    void on_fragment(const HandshakeFragment& fragment, std::uint16_t epoch, TimePoint now,
                     Transmit& tx) noexcept;
    void deliver(const HandshakeMessage& message, TimePoint now, Transmit& tx) noexcept;
    void on_alert(Bytes plaintext) noexcept;
    bool hash_message(const HandshakeMessage& message) noexcept;

    const HandshakeTiming* timing_ = nullptr;
    RetransmitTimer timer_;
    CloseReason failure_ = CloseReason::handshake_timeout;
    std::optional<Alert> sent_alert_;
    std::optional<Alert> received_alert_;
    bool undecryptable_ = false;  // the last epoch-1 record failed authentication
    std::uint16_t read_epoch_ = 0;
    std::uint16_t write_epoch_ = 0;
    ReplayWindow read_windows_[2];
    EpochWriter writers_[2];
    MasterSecret master_;
    KeyBlock key_block_;
    std::array<std::uint8_t, verify_data_size> own_finished_{};
    std::uint16_t own_finished_seq_ = 0;
    std::uint16_t peer_finished_seq_ = 0;
    std::uint8_t identity_size_ = 0;
    std::array<std::uint8_t, max_identity_size> identity_{};
    std::array<std::uint8_t, 512> reassembly_buffer_{};
    HandshakeReassembler reassembler_{reassembly_buffer_};
};

}  // namespace coap::dtls
