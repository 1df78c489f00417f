// Epoch-1 record protection for an established association: RFC 6347 §4.1, §4.1.2.6, §4.2.4.
#include "dtls/session.hpp"

#include <algorithm>
#include <cstring>

#include "dtls/handshake_codec.hpp"

namespace coap::dtls {

namespace {
constexpr std::uint16_t session_epoch = 1;
const CipherSuite& suite = tls_psk_with_aes_128_ccm_8;
}  // namespace

void Session::establish(const Endpoint& peer, const SessionSetup& setup, TimePoint now) noexcept {
    peer_ = peer;
    role_ = setup.role;
    write_keys_ = setup.write_keys;
    read_keys_ = setup.read_keys;
    write_sequence_ = setup.write_sequence;
    epoch0_write_sequence_ = setup.epoch0_write_sequence;
    read_window_ = setup.read_window;
    identity_size_ = static_cast<std::uint8_t>(std::min(setup.identity.size(), max_identity_size));
    if (identity_size_ > 0) std::memcpy(identity_.data(), setup.identity.data(), identity_size_);
    own_finished_ = setup.own_finished;
    own_finished_seq_ = setup.own_finished_seq;
    peer_finished_seq_ = setup.peer_finished_seq;
    sent_last_flight_ = setup.sent_last_flight;
    last_activity_ = now;
}

void Session::wipe() noexcept {
    secure_wipe(write_keys_.key);
    secure_wipe(write_keys_.iv);
    secure_wipe(read_keys_.key);
    secure_wipe(read_keys_.iv);
    secure_wipe(own_finished_);
    secure_wipe(identity_);
    identity_size_ = 0;
    sent_last_flight_ = false;
    read_window_.reset();
}

Expected<std::size_t, RecordError> Session::seal(CcmContext& aead, ContentType type,
                                                 Bytes plaintext, MutableBytes out) noexcept {
    // RFC 6347 §4.1: the sequence number must not wrap; the association ends before it would.
    if (write_sequence_ > max_sequence_number) return unexpected(RecordError::bad_sequence);
    RecordHeader header;
    header.type = type;
    header.epoch = session_epoch;
    header.sequence = write_sequence_;
    auto sealed = seal_record(aead, suite, write_keys_, header, plaintext, out);
    if (sealed) ++write_sequence_;
    return sealed;
}

Expected<Bytes, RecordError> Session::open(CcmContext& aead, const Record& record,
                                           MutableBytes out) noexcept {
    if (record.header.epoch != session_epoch) return unexpected(RecordError::bad_epoch);
    // §4.1.2.6: the replay check comes first; the window moves only after authentication.
    if (!read_window_.is_fresh(record.header.sequence)) return unexpected(RecordError::replayed);
    auto opened = open_record(aead, suite, read_keys_, record, out);
    if (opened) read_window_.mark_received(record.header.sequence);
    return opened;
}

bool Session::is_repeated_peer_finished(Bytes handshake_plaintext) const noexcept {
    if (!sent_last_flight_) return false;
    auto fragment = parse_handshake_fragment(handshake_plaintext);
    return fragment && fragment->header.type == HandshakeType::finished &&
           fragment->header.message_seq == peer_finished_seq_;
}

// The flight is rebuilt and cut by the same code as the handshake's: a small MTU splits it
// into two datagrams (and the Finished into fragments) instead of exceeding the MTU.
bool Session::send_last_flight(Transmit& tx) noexcept {
    // §4.1: sequence numbers never wrap (as in seal()); a fragmented Finished takes two.
    if (write_sequence_ >= max_sequence_number) return false;
    Flight flight;
    if (!flight.add_change_cipher_spec()) return false;
    MutableBytes body = flight.body_area();
    if (body.size() < verify_data_size) return false;
    std::memcpy(body.data(), own_finished_.data(), verify_data_size);
    if (flight
            .add_message(HandshakeType::finished, own_finished_seq_, verify_data_size,
                         session_epoch)
            .empty())
        return false;
    EpochWriter writers[2] = {{0, epoch0_write_sequence_, nullptr},
                              {session_epoch, write_sequence_, &write_keys_}};
    const bool sent = flight.send(tx, writers);
    epoch0_write_sequence_ = writers[0].next_sequence;
    write_sequence_ = writers[1].next_sequence;
    return sent;
}

std::size_t Session::write_last_flight(CcmContext& aead, MutableBytes out) noexcept {
    struct OneDatagram final : DatagramSink {
        std::size_t size = 0;
        std::size_t count = 0;
        void send(Bytes datagram) noexcept override {
            size = datagram.size();
            ++count;
        }
    } sink;
    Transmit tx{aead, out, sink, out.size()};
    return send_last_flight(tx) && sink.count == 1 ? sink.size : 0;
}

}  // namespace coap::dtls
