// Shared handshake machinery: RFC 6347 §4.1 (epochs), §4.1.2.6 (replay), §4.2.2-§4.2.6;
// RFC 5246 §7.2, §7.4.9, §8.1; RFC 4279 §2; RFC 7627 §4.
#include "dtls/handshake_core.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>

namespace coap::dtls {

namespace {
const CipherSuite& suite = tls_psk_with_aes_128_ccm_8;
// Messages that never enter the transcript (RFC 6347 §4.2.1, RFC 5246 §7.4.1.1), and Finished,
// which is hashed by the state machine after it was checked against the hash before it.
bool hashed_on_arrival(HandshakeType type) noexcept {
    return type != HandshakeType::finished && type != HandshakeType::hello_verify_request &&
           type != HandshakeType::hello_request;
}
}  // namespace

PskKey::PskKey(Bytes key) noexcept : size(std::min(key.size(), max_psk_size)) {
    if (size > 0) std::memcpy(bytes.data(), key.data(), size);
}

void HandshakeCore::reset_core(Role role, const HandshakeTiming& timing) noexcept {
    wipe();
    role_ = role;
    timing_ = &timing;
    status_ = HandshakeStatus::in_progress;
    failure_ = CloseReason::handshake_timeout;
    sent_alert_.reset();
    received_alert_.reset();
    extended_master_secret_ = resumed_ = sends_last_flight_ = accept_sequence_jump_ = false;
    next_send_seq_ = next_receive_seq_ = 0;
    repeat_trigger_.reset();
    read_epoch_ = write_epoch_ = 0;
    read_windows_[0].reset();
    read_windows_[1].reset();
    writers_[0] = EpochWriter{0, 0, nullptr};
    writers_[1] = EpochWriter{1, 0, nullptr};
    session_id_size_ = 0;
    flight_.clear();
    reassembler_.reset();
    (void)transcript_.reset();
}

void HandshakeCore::wipe() noexcept {
    secure_wipe(master_.bytes);
    secure_wipe(key_block_.client_write.key);
    secure_wipe(key_block_.client_write.iv);
    secure_wipe(key_block_.server_write.key);
    secure_wipe(key_block_.server_write.iv);
    secure_wipe(own_finished_);
    secure_wipe(identity_);
    secure_wipe(reassembly_buffer_);
    identity_size_ = 0;
    timer_.stop();
}

// RFC 6347 §4.1: epoch 0 is read throughout the handshake, epoch 1 once the peer's
// ChangeCipherSpec arrived; anything else is discarded. Replay check per epoch (§4.1.2.6).
Bytes HandshakeCore::open(const Record& record, MutableBytes buffer, CcmContext& aead) noexcept {
    const std::uint16_t epoch = record.header.epoch;
    if (epoch > read_epoch_) return {};
    ReplayWindow& window = read_windows_[epoch];
    if (!window.is_fresh(record.header.sequence)) return {};
    Bytes plaintext = record.fragment;
    if (epoch == 1) {
        const TrafficKeys& keys =
            role_ == Role::server ? key_block_.client_write : key_block_.server_write;
        auto opened = open_record(aead, suite, keys, record, buffer);
        if (!opened) {
            if (opened.error() == RecordError::bad_record_mac) undecryptable_ = true;
            return {};
        }
        plaintext = *opened;
    }
    window.mark_received(record.header.sequence);
    // An empty span also stands for "dropped"; no valid record of these types is empty.
    return plaintext;
}

void HandshakeCore::on_record(const Record& record, TimePoint now, Transmit& tx) noexcept {
    if (status_ != HandshakeStatus::in_progress) return;
    std::array<std::uint8_t, 512> decrypted;
    undecryptable_ = false;
    const Bytes plaintext = open(record, decrypted, tx.aead);
    if (undecryptable_ && record.header.type == ContentType::handshake) {
        // The only protected handshake message is the peer's Finished: when it does not even
        // authenticate, the keys differ (a wrong PSK). RFC 5246 §7.2.2: bad_record_mac.
        fail(AlertDescription::bad_record_mac, tx);
        return;
    }
    if (plaintext.empty()) return;
    switch (record.header.type) {
        case ContentType::handshake:
            on_handshake_record(plaintext, record.header.epoch, now, tx);
            break;
        case ContentType::change_cipher_spec:
            // RFC 5246 §7.1: a single byte of value 1.
            if (plaintext.size() == 1 && plaintext[0] == 1) on_change_cipher_spec(now, tx);
            break;
        case ContentType::alert:
            on_alert(plaintext);
            break;
        case ContentType::application_data:
            break;  // RFC 6347 §4.2.4: discarded until the handshake is complete
    }
    secure_wipe(decrypted);
}

void HandshakeCore::on_handshake_record(Bytes plaintext, std::uint16_t epoch, TimePoint now,
                                        Transmit& tx) noexcept {
    HandshakeReader reader(plaintext);
    while (!reader.done() && status_ == HandshakeStatus::in_progress) {
        auto fragment = reader.next();
        if (!fragment) return;  // malformed: the rest of the record cannot be framed
        on_fragment(*fragment, epoch, now, tx);
    }
}

// RFC 6347 §4.2.2: in-order messages are processed, older ones discarded (but the last message
// of the peer's previous flight, seen again, means our flight was lost: §4.2.4 resend it),
// newer ones discarded too (the peer retransmits them).
void HandshakeCore::on_fragment(const HandshakeFragment& fragment, std::uint16_t epoch,
                                TimePoint now, Transmit& tx) noexcept {
    const HandshakeHeader& header = fragment.header;
    if (header.message_seq < next_receive_seq_) {
        const bool last_fragment = header.fragment_offset + header.fragment_length == header.length;
        const bool repeated = repeat_trigger_ &&
                              repeat_trigger_->message_seq == header.message_seq &&
                              repeat_trigger_->type == header.type;
        if (repeated && last_fragment && !flight_.empty()) {
            (void)flight_.send(tx, writers_);
            timer_.restart(now);
        }
        return;
    }
    // Only the server's first message may skip ahead (its message_seq mirrors our hello's).
    const bool may_skip =
        accept_sequence_jump_ && (header.type == HandshakeType::server_hello ||
                                  header.type == HandshakeType::hello_verify_request);
    if (header.message_seq > next_receive_seq_ && !may_skip) return;

    HandshakeMessage message{header, fragment.body, epoch};
    if (!fragment.is_whole_message() || reassembler_.started()) {
        auto added = reassembler_.add(fragment);
        if (!added && added.error() == CodecError::mismatch) {
            // Left over from a message that never completed (a skipped sequence number).
            reassembler_.reset();
            added = reassembler_.add(fragment);
        }
        if (!added || !*added) return;  // incomplete, or unusable
        message.header = reassembler_.header();
        message.body = reassembler_.message();
    }
    next_receive_seq_ = static_cast<std::uint16_t>(header.message_seq + 1);
    accept_sequence_jump_ = false;
    deliver(message, now, tx);
    reassembler_.reset();
}

void HandshakeCore::deliver(const HandshakeMessage& message, TimePoint now, Transmit& tx) noexcept {
    if (hashed_on_arrival(message.header.type) && !hash_message(message)) {
        fail(AlertDescription::internal_error, tx);
        return;
    }
    on_message(message, now, tx);
}

bool HandshakeCore::hash_message(const HandshakeMessage& message) noexcept {
    std::array<std::uint8_t, handshake_header_size> header{};
    return write_handshake_header(message.header, header) && transcript_.update(header) &&
           transcript_.update(message.body);
}

// RFC 5246 §7.2: a fatal alert or close_notify ends the handshake; other warnings are ignored.
void HandshakeCore::on_alert(Bytes plaintext) noexcept {
    auto alert = Alert::parse(plaintext);
    if (!alert) return;
    if (!alert->is_fatal() && alert->description != AlertDescription::close_notify) return;
    received_alert_ = alert;
    status_ = HandshakeStatus::failed;
    failure_ = alert->description == AlertDescription::close_notify ? CloseReason::peer_close_notify
                                                                    : CloseReason::peer_alert;
    timer_.stop();
}

void HandshakeCore::on_timer(TimePoint now, Transmit& tx) noexcept {
    if (status_ != HandshakeStatus::in_progress) return;
    switch (timer_.poll(now, *timing_)) {
        case RetransmitTimer::Expiry::none:
            break;
        case RetransmitTimer::Expiry::retransmit:
            (void)flight_.send(tx, writers_);
            break;
        case RetransmitTimer::Expiry::give_up:
            status_ = HandshakeStatus::failed;
            failure_ = CloseReason::handshake_timeout;
            break;
    }
}

bool HandshakeCore::add_change_cipher_spec() noexcept {
    write_epoch_ = 1;
    return flight_.add_change_cipher_spec();
}

bool HandshakeCore::add_finished() noexcept {
    std::array<std::uint8_t, sha256_size> hash{};
    const Sender sender = role_ == Role::client ? Sender::client : Sender::server;
    if (!transcript_.snapshot(hash) || !finished_verify_data(master_, sender, hash, own_finished_))
        return false;
    own_finished_seq_ = next_send_seq_;
    return add_message(HandshakeType::finished, 1, [&](MutableBytes out) {
        return write_finished(Finished{own_finished_}, out);
    });
}

void HandshakeCore::send_flight(TimePoint now, Transmit& tx, bool expect_reply) noexcept {
    (void)flight_.send(tx, writers_);
    if (expect_reply)
        timer_.start(now, *timing_);
    else
        timer_.stop();
}

bool HandshakeCore::derive_from_psk(Bytes psk) noexcept {
    Secret<max_premaster_size> premaster;
    const std::size_t size = psk_premaster_secret(psk, premaster.bytes);
    if (size == 0) return false;
    const Bytes secret = premaster.view().first(size);
    bool ok = false;
    if (extended_master_secret_) {
        // RFC 7627 §3: the session hash covers the handshake up to ClientKeyExchange.
        std::array<std::uint8_t, sha256_size> session_hash{};
        ok = transcript_.snapshot(session_hash) &&
             derive_extended_master_secret(secret, session_hash, master_);
    } else {
        ok = derive_master_secret(secret, client_random_, server_random_, master_);
    }
    return ok && derive_traffic_keys();
}

bool HandshakeCore::derive_traffic_keys() noexcept {
    if (!derive_key_block(suite, master_, client_random_, server_random_, key_block_)) return false;
    writers_[1].keys = role_ == Role::client ? &key_block_.client_write : &key_block_.server_write;
    return true;
}

void HandshakeCore::import_resumable(const ResumableSession& session) noexcept {
    master_ = session.master;
    extended_master_secret_ = session.extended_master_secret;
    set_identity(session.identity_bytes());
    set_session_id(session.id());
}

void HandshakeCore::set_session_id(Bytes id) noexcept {
    session_id_size_ = static_cast<std::uint8_t>(std::min(id.size(), session_id_.size()));
    if (session_id_size_ > 0) std::memcpy(session_id_.data(), id.data(), session_id_size_);
}

void HandshakeCore::set_identity(Bytes identity) noexcept {
    identity_size_ = static_cast<std::uint8_t>(std::min(identity.size(), identity_.size()));
    if (identity_size_ > 0) std::memcpy(identity_.data(), identity.data(), identity_size_);
}

void HandshakeCore::continue_after_hello_record(std::uint64_t sequence) noexcept {
    writers_[0].next_sequence = sequence;
    read_windows_[0].mark_received(sequence);
}

void HandshakeCore::start_reading_epoch_1() noexcept {
    read_epoch_ = 1;
    read_windows_[1].reset();
}

HandshakeCore::FinishedCheck HandshakeCore::check_peer_finished(
    const HandshakeMessage& message) noexcept {
    auto finished = parse_finished(message.body);
    if (!finished) return FinishedCheck::malformed;
    std::array<std::uint8_t, sha256_size> hash{};
    std::array<std::uint8_t, verify_data_size> expected{};
    const Sender peer = role_ == Role::client ? Sender::server : Sender::client;
    if (!transcript_.snapshot(hash) || !finished_verify_data(master_, peer, hash, expected) ||
        CRYPTO_memcmp(expected.data(), finished->verify_data.data(), verify_data_size) != 0)
        return FinishedCheck::mismatch;
    peer_finished_seq_ = message.header.message_seq;
    return hash_message(message) ? FinishedCheck::valid : FinishedCheck::mismatch;
}

void HandshakeCore::fail(AlertDescription description, Transmit& tx) noexcept {
    const Alert alert = fatal_alert(description);
    DatagramBuilder builder(tx);
    const auto encoded = alert.encode();
    if (builder.add(writers_[write_epoch_], ContentType::alert, encoded)) builder.flush();
    sent_alert_ = alert;
    status_ = HandshakeStatus::failed;
    failure_ = CloseReason::local_alert;
    timer_.stop();
}

void HandshakeCore::complete() noexcept {
    status_ = HandshakeStatus::established;
    timer_.stop();
    reassembler_.reset();
}

void HandshakeCore::export_session(SessionSetup& out) const noexcept {
    out.role = role_;
    out.write_keys = role_ == Role::client ? key_block_.client_write : key_block_.server_write;
    out.read_keys = role_ == Role::client ? key_block_.server_write : key_block_.client_write;
    out.write_sequence = writers_[1].next_sequence;
    out.epoch0_write_sequence = writers_[0].next_sequence;
    out.read_window = read_windows_[1];
    out.identity = identity();
    out.own_finished = own_finished_;
    out.own_finished_seq = own_finished_seq_;
    out.peer_finished_seq = peer_finished_seq_;
    out.sent_last_flight = sends_last_flight_;
}

void HandshakeCore::export_resumable(ResumableSession& out) const noexcept {
    out.set_id(Bytes(session_id_).first(session_id_size_));
    out.master = master_;
    out.extended_master_secret = extended_master_secret_;
    out.set_identity(identity());
}

bool HandshakeCore::finished_ok(const HandshakeMessage& message, Transmit& tx) noexcept {
    switch (check_peer_finished(message)) {
        case FinishedCheck::valid:
            return true;
        case FinishedCheck::malformed:
            fail(AlertDescription::decode_error, tx);
            return false;
        case FinishedCheck::mismatch:
            fail(AlertDescription::decrypt_error, tx);
            return false;
    }
    return false;
}

}  // namespace coap::dtls
