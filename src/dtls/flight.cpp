// Flight storage, fragmentation (RFC 6347 §4.2.3) and datagram packing (§4.1.1).
#include "dtls/flight.hpp"

#include <algorithm>
#include <cstring>

namespace coap::dtls {

DatagramBuilder::DatagramBuilder(Transmit& tx) noexcept
    : tx_(tx), capacity_(std::min(tx.scratch.size(), tx.mtu)) {}

std::size_t DatagramBuilder::overhead(const EpochWriter& writer) const noexcept {
    return record_header_size +
           (writer.keys != nullptr ? record_expansion(tls_psk_with_aes_128_ccm_8) : 0);
}

std::size_t DatagramBuilder::room(const EpochWriter& writer) const noexcept {
    const std::size_t needed = used_ + overhead(writer);
    return needed >= capacity_ ? 0 : std::min(capacity_ - needed, max_plaintext_size);
}

MutableBytes DatagramBuilder::plaintext_area(const EpochWriter& writer) noexcept {
    const std::size_t start =
        used_ + record_header_size +
        (writer.keys != nullptr ? tls_psk_with_aes_128_ccm_8.record_iv_size : 0);
    return tx_.scratch.subspan(std::min(start, tx_.scratch.size()), room(writer));
}

bool DatagramBuilder::commit(EpochWriter& writer, ContentType type, std::size_t size) noexcept {
    if (size > room(writer)) return false;
    RecordHeader header;
    header.type = type;
    header.epoch = writer.epoch;
    header.sequence = writer.next_sequence;
    header.length = static_cast<std::uint16_t>(size);
    MutableBytes out = tx_.scratch.subspan(used_, capacity_ - used_);
    std::size_t written = 0;
    if (writer.keys != nullptr) {
        const auto sealed = seal_record(tx_.aead, tls_psk_with_aes_128_ccm_8, *writer.keys, header,
                                        plaintext_area(writer).first(size), out);
        if (!sealed) return false;
        written = *sealed;
    } else {
        if (!write_record_header(header, out)) return false;
        written = record_header_size + size;
    }
    ++writer.next_sequence;
    used_ += written;
    return true;
}

bool DatagramBuilder::add(EpochWriter& writer, ContentType type, Bytes plaintext) noexcept {
    if (room(writer) < plaintext.size()) flush();
    if (room(writer) < plaintext.size()) return false;
    MutableBytes area = plaintext_area(writer);
    if (!plaintext.empty()) std::memmove(area.data(), plaintext.data(), plaintext.size());
    return commit(writer, type, plaintext.size());
}

void DatagramBuilder::flush() noexcept {
    if (used_ == 0) return;
    tx_.sink.send(Bytes(tx_.scratch.first(used_)));
    used_ = 0;
}

MutableBytes Flight::body_area() noexcept {
    if (count_ == max_entries || used_ + handshake_header_size > capacity) return {};
    return MutableBytes(bytes_).subspan(used_ + handshake_header_size);
}

Bytes Flight::add_message(HandshakeType type, std::uint16_t message_seq, std::size_t body_size,
                          std::uint16_t epoch) noexcept {
    if (count_ == max_entries || used_ + handshake_header_size + body_size > capacity) return {};
    const auto length = static_cast<std::uint32_t>(body_size);
    const HandshakeHeader header{type, length, message_seq, 0, length};
    if (!write_handshake_header(header, MutableBytes(bytes_).subspan(used_))) return {};
    const std::size_t size = handshake_header_size + body_size;
    entries_[count_++] = {static_cast<std::uint16_t>(used_), static_cast<std::uint16_t>(size),
                          static_cast<std::uint8_t>(epoch), false};
    const Bytes whole = Bytes(bytes_).subspan(used_, size);
    used_ += size;
    return whole;
}

bool Flight::add_change_cipher_spec() noexcept {
    if (count_ == max_entries) return false;
    entries_[count_++] = {0, 0, 0, true};
    return true;
}

// Fragments one message so that each record fills the rest of the current datagram, starting
// a new datagram when fewer than a few body bytes would fit.
bool Flight::send_message(DatagramBuilder& builder, EpochWriter& writer, Bytes message) noexcept {
    auto parsed = parse_handshake_fragment(message);
    if (!parsed) return false;
    const HandshakeHeader whole = parsed->header;
    const Bytes body = parsed->body;
    constexpr std::size_t min_fragment = 16;
    std::size_t offset = 0;
    do {
        const std::size_t left = body.size() - offset;
        if (builder.room(writer) < handshake_header_size + std::min(left, min_fragment))
            builder.flush();
        const std::size_t room = builder.room(writer);
        if (room < handshake_header_size + std::min<std::size_t>(left, 1)) return false;
        const std::size_t take = std::min(left, room - handshake_header_size);
        HandshakeHeader header = whole;
        header.fragment_offset = static_cast<std::uint32_t>(offset);
        header.fragment_length = static_cast<std::uint32_t>(take);
        MutableBytes area = builder.plaintext_area(writer);
        if (!write_handshake_header(header, area)) return false;
        if (take > 0) std::memcpy(area.data() + handshake_header_size, body.data() + offset, take);
        if (!builder.commit(writer, ContentType::handshake, handshake_header_size + take))
            return false;
        offset += take;
    } while (offset < body.size());
    return true;
}

bool Flight::send(Transmit& tx, EpochWriter (&writers)[2]) const noexcept {
    DatagramBuilder builder(tx);
    bool ok = true;
    for (std::size_t i = 0; i < count_ && ok; ++i) {
        const Entry& entry = entries_[i];
        if (entry.change_cipher_spec) {
            static constexpr std::uint8_t change_cipher_spec[1] = {1};
            ok = builder.add(writers[0], ContentType::change_cipher_spec, change_cipher_spec);
        } else {
            ok = send_message(builder, writers[entry.epoch & 1],
                              Bytes(bytes_).subspan(entry.offset, entry.size));
        }
    }
    builder.flush();
    return ok;
}

}  // namespace coap::dtls
