// DTLS 1.2 record framing and AEAD record protection: RFC 6347 §4.1, §4.1.2.1, §4.1.2.7;
// RFC 5246 §6.2.3.3; RFC 6655 §3.
#include "dtls/record.hpp"

#include <array>
#include <cstring>
#include <optional>

#include "dtls/wire.hpp"

namespace coap::dtls {

namespace {

// The header fields as read, before any validation.
RecordHeader read_header(WireReader& reader) noexcept {
    RecordHeader header;
    header.type = static_cast<ContentType>(reader.u8());
    header.version.major = reader.u8();
    header.version.minor = reader.u8();
    header.epoch = reader.u16();
    header.sequence = reader.u48();
    header.length = reader.u16();
    return header;
}

bool known_type(ContentType type) noexcept {
    const auto value = static_cast<std::uint8_t>(type);
    return value >= static_cast<std::uint8_t>(ContentType::change_cipher_spec) &&
           value <= static_cast<std::uint8_t>(ContentType::application_data);
}

// RFC 6347 §4.1 (version), RFC 5246 §6.2.3 (length at most 2^14 + 2048).
std::optional<RecordError> invalid(const RecordHeader& header) noexcept {
    if (!known_type(header.type)) return RecordError::bad_type;
    if (header.version != dtls_1_2 && header.version != dtls_1_0) return RecordError::bad_version;
    if (header.length > max_ciphertext_size) return RecordError::bad_length;
    return std::nullopt;
}

// RFC 5246 §6.2.3.3 with RFC 6347 §4.1.2.1: seq_num (epoch + sequence) + type + version +
// plaintext length.
constexpr std::size_t aad_size = 13;
std::array<std::uint8_t, aad_size> additional_data(const RecordHeader& header,
                                                   std::size_t plaintext_size) noexcept {
    std::array<std::uint8_t, aad_size> aad{};
    WireWriter writer(aad);
    writer.u16(header.epoch);
    writer.u48(header.sequence);
    writer.u8(static_cast<std::uint8_t>(header.type));
    writer.u8(header.version.major);
    writer.u8(header.version.minor);
    writer.u16(plaintext_size);
    return aad;
}

// RFC 6655 §3: salt (the fixed write IV) + explicit nonce.
std::size_t build_nonce(const CipherSuite& suite, const TrafficKeys& keys, Bytes explicit_nonce,
                        std::array<std::uint8_t, max_nonce_size>& nonce) noexcept {
    std::memcpy(nonce.data(), keys.iv.data(), suite.fixed_iv_size);
    std::memcpy(nonce.data() + suite.fixed_iv_size, explicit_nonce.data(), explicit_nonce.size());
    return suite.fixed_iv_size + explicit_nonce.size();
}

bool usable(const CipherSuite& suite) noexcept {
    return suite.aead == AeadAlgorithm::aes_128_ccm && suite.key_size == ccm_key_size &&
           suite.fixed_iv_size + suite.record_iv_size <= max_nonce_size &&
           suite.record_iv_size <= max_record_iv_size;
}

}  // namespace

Expected<RecordHeader, RecordError> parse_record_header(Bytes input) noexcept {
    if (input.size() < record_header_size) return unexpected(RecordError::truncated);
    WireReader reader(input);
    const RecordHeader header = read_header(reader);
    if (auto error = invalid(header)) return unexpected(*error);
    return header;
}

bool write_record_header(const RecordHeader& header, MutableBytes out) noexcept {
    if (header.sequence > max_sequence_number) return false;
    WireWriter writer(out);
    writer.u8(static_cast<std::uint8_t>(header.type));
    writer.u8(header.version.major);
    writer.u8(header.version.minor);
    writer.u16(header.epoch);
    writer.u48(header.sequence);
    writer.u16(header.length);
    return writer.ok();
}

Expected<Record, RecordError> RecordReader::next() noexcept {
    WireReader reader(rest_);
    const RecordHeader header = read_header(reader);
    if (!reader.ok() || header.length > reader.remaining()) {
        rest_ = {};  // the framing is lost: drop the rest of the datagram
        return unexpected(RecordError::truncated);
    }
    const Record record{header, reader.bytes(header.length)};
    rest_ = reader.rest();
    if (auto error = invalid(header)) return unexpected(*error);
    return record;
}

Expected<std::size_t, RecordError> seal_record(CcmContext& aead, const CipherSuite& suite,
                                               const TrafficKeys& keys, const RecordHeader& header,
                                               Bytes plaintext, MutableBytes out) noexcept {
    if (!usable(suite)) return unexpected(RecordError::unsupported);
    if (header.sequence > max_sequence_number) return unexpected(RecordError::bad_sequence);
    if (plaintext.size() > max_plaintext_size) return unexpected(RecordError::bad_length);
    const std::size_t total = sealed_record_size(suite, plaintext.size());
    if (out.size() < total) return unexpected(RecordError::buffer_too_small);

    RecordHeader written = header;
    written.length = static_cast<std::uint16_t>(total - record_header_size);
    (void)write_record_header(written, out);
    // The explicit nonce is the DTLS seq_num, unique per key (RFC 6655 §3).
    MutableBytes explicit_nonce = out.subspan(record_header_size, suite.record_iv_size);
    WireWriter nonce_writer(explicit_nonce);
    nonce_writer.u16(header.epoch);
    nonce_writer.u48(header.sequence);

    std::array<std::uint8_t, max_nonce_size> nonce{};
    const std::size_t nonce_size = build_nonce(suite, keys, explicit_nonce, nonce);
    const auto aad = additional_data(header, plaintext.size());
    MutableBytes body = out.subspan(record_header_size + suite.record_iv_size);
    if (!aead.seal(Bytes(keys.key).first(suite.key_size), Bytes(nonce).first(nonce_size), aad,
                   plaintext, body, suite.tag_size))
        return unexpected(RecordError::crypto_failure);
    return total;
}

Expected<Bytes, RecordError> open_record(CcmContext& aead, const CipherSuite& suite,
                                         const TrafficKeys& keys, const Record& record,
                                         MutableBytes out) noexcept {
    if (!usable(suite)) return unexpected(RecordError::unsupported);
    const Bytes fragment = record.fragment;
    if (fragment.size() < record_expansion(suite)) return unexpected(RecordError::bad_length);
    const std::size_t plaintext_size = fragment.size() - record_expansion(suite);
    if (plaintext_size > max_plaintext_size) return unexpected(RecordError::bad_length);
    if (out.size() < plaintext_size) return unexpected(RecordError::buffer_too_small);

    std::array<std::uint8_t, max_nonce_size> nonce{};
    const std::size_t nonce_size =
        build_nonce(suite, keys, fragment.first(suite.record_iv_size), nonce);
    const auto aad = additional_data(record.header, plaintext_size);
    if (!aead.open(Bytes(keys.key).first(suite.key_size), Bytes(nonce).first(nonce_size), aad,
                   fragment.subspan(suite.record_iv_size), out, suite.tag_size))
        return unexpected(RecordError::bad_record_mac);
    return Bytes(out.first(plaintext_size));
}

}  // namespace coap::dtls
