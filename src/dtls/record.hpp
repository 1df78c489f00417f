// The DTLS 1.2 record layer (RFC 6347 §4.1): the 13-byte header, splitting a datagram into
// records, and AEAD record protection for epochs >= 1 (RFC 5246 §6.2.3.3 with the DTLS
// seq_num of RFC 6347 §4.1.2.1, nonce of RFC 6655 §3). Invalid records come back as error
// values for the caller to drop silently (RFC 6347 §4.1.2.7); nothing here throws.
#pragma once

#include <cstddef>
#include <cstdint>

#include "coap/bytes.hpp"
#include "coap/expected.hpp"
#include "dtls/ccm.hpp"
#include "dtls/cipher_suite.hpp"
#include "dtls/crypto.hpp"
#include "dtls/protocol.hpp"

namespace coap::dtls {

inline constexpr std::size_t record_header_size = 13;
/// RFC 5246 §6.2.1 and §6.2.3: plaintext and protected fragment limits.
inline constexpr std::size_t max_plaintext_size = std::size_t{1} << 14;
inline constexpr std::size_t max_ciphertext_size = max_plaintext_size + 2048;
inline constexpr std::uint64_t max_sequence_number = (std::uint64_t{1} << 48) - 1;

enum class RecordError : std::uint8_t {
    truncated,         // shorter than its header or its length field says; ends the datagram
    bad_type,          // not one of the four content types
    bad_version,       // not DTLS 1.2, nor 1.0 (used by a first ClientHello, RFC 6347 §4.2.1)
    bad_length,        // longer than the protocol allows, or too short to hold nonce and tag
    bad_sequence,      // sequence number beyond 48 bits (when sealing)
    buffer_too_small,  // the output buffer cannot hold the result
    unsupported,       // the suite's AEAD algorithm is not implemented
    bad_record_mac,    // authentication failed
    crypto_failure,    // OpenSSL failed to seal
    bad_epoch,         // not the epoch the receiver reads (RFC 6347 §4.1: discarded)
    replayed,          // already received, or left of the anti-replay window (§4.1.2.6)
};

struct RecordHeader {
    ContentType type = ContentType::handshake;
    ProtocolVersion version = dtls_1_2;
    std::uint16_t epoch = 0;
    std::uint64_t sequence = 0;  // 48 bits on the wire
    std::uint16_t length = 0;
};

/// One record of a datagram: its header and a view of its fragment inside the datagram.
struct Record {
    RecordHeader header;
    Bytes fragment;
};

/// Reads and validates the header at the start of `input` (the fragment is not required).
Expected<RecordHeader, RecordError> parse_record_header(Bytes input) noexcept;

/// Writes the 13-byte header; false if `out` is shorter or the sequence exceeds 48 bits.
bool write_record_header(const RecordHeader& header, MutableBytes out) noexcept;

/// Splits a datagram into records (RFC 6347 §4.1.1: several may share one datagram).
///     for (RecordReader reader(datagram); !reader.done();)
///         if (auto record = reader.next()) handle(*record);
/// A record with a bad type or version is skipped and reported; one whose length runs past the
/// datagram ends the iteration, since nothing after it can be framed.
class RecordReader {
  public:
    explicit RecordReader(Bytes datagram) noexcept : rest_(datagram) {}
    Expected<Record, RecordError> next() noexcept;
    bool done() const noexcept { return rest_.empty(); }

  private:
    Bytes rest_;
};

/// The size of a protected record carrying `plaintext_size` bytes.
constexpr std::size_t sealed_record_size(const CipherSuite& suite,
                                         std::size_t plaintext_size) noexcept {
    return record_header_size + record_expansion(suite) + plaintext_size;
}

/// Protects `plaintext` as one record with `header`'s type, version, epoch and sequence (its
/// length is computed) and writes header, explicit nonce (epoch + sequence), ciphertext and
/// tag to `out`. `plaintext` must not overlap `out`, except that it may already sit at
/// out.data() + record_header_size + suite.record_iv_size (sealing in place).
/// Returns the record's size.
Expected<std::size_t, RecordError> seal_record(CcmContext& aead, const CipherSuite& suite,
                                               const TrafficKeys& keys, const RecordHeader& header,
                                               Bytes plaintext, MutableBytes out) noexcept;

/// Verifies and decrypts a protected record into `out`, which may start exactly at the
/// ciphertext (record.fragment.data() + suite.record_iv_size) to open in place. Returns the
/// plaintext as a view of `out`. Check the replay window before, update it after success.
Expected<Bytes, RecordError> open_record(CcmContext& aead, const CipherSuite& suite,
                                         const TrafficKeys& keys, const Record& record,
                                         MutableBytes out) noexcept;

}  // namespace coap::dtls
