// DTLS 1.2 handshake messages for the PSK key exchange: the 12-byte handshake header with
// message_seq and fragment fields (RFC 6347 §4.2.2), ClientHello with cookie and
// HelloVerifyRequest (RFC 6347 §4.2.1), ServerHello (RFC 5246 §7.4.1.3), the PSK
// ServerKeyExchange and ClientKeyExchange (RFC 4279 §2), ServerHelloDone (RFC 5246 §7.4.5) and
// Finished (RFC 5246 §7.4.9), with the hello extensions extended_master_secret (RFC 7627 §5.1)
// and renegotiation_info (RFC 5746 §3.2). Parsers return views into their input and validate
// every length; writers write message bodies (the caller puts the header in front).
#pragma once

#include <cstddef>
#include <cstdint>

#include "coap/bytes.hpp"
#include "coap/expected.hpp"
#include "dtls/protocol.hpp"

namespace coap::dtls {

inline constexpr std::size_t handshake_header_size = 12;
inline constexpr std::uint32_t max_handshake_length = 0xffffff;  // uint24

enum class CodecError : std::uint8_t {
    truncated,            // the input ends inside a field
    bad_length,           // a length field is inconsistent or outside its allowed range
    trailing_bytes,       // bytes left after the last field
    bad_extension,        // a recognised extension has malformed contents
    duplicate_extension,  // a recognised extension appears twice
    bad_value,            // a value to be written does not fit its field
    buffer_too_small,     // the output buffer is too short
    mismatch,             // a fragment disagrees with the message being reassembled
    too_fragmented,       // more disjoint fragment ranges than the reassembler tracks
    too_large,            // the message is longer than the reassembly buffer
};

struct HandshakeHeader {
    HandshakeType type = HandshakeType::hello_request;
    std::uint32_t length = 0;  // of the whole message body
    std::uint16_t message_seq = 0;
    std::uint32_t fragment_offset = 0;
    std::uint32_t fragment_length = 0;
};

/// A handshake message or a fragment of one: its header and a view of the fragment's bytes.
struct HandshakeFragment {
    HandshakeHeader header;
    Bytes body;
    /// Offset 0 and the whole length: an unfragmented message (RFC 6347 §4.2.3).
    bool is_whole_message() const noexcept {
        return header.fragment_offset == 0 && header.fragment_length == header.length;
    }
};

/// Parses the header and fragment at the start of `input`; the fragment must lie within the
/// message (offset + fragment length <= length) and within `input`.
Expected<HandshakeFragment, CodecError> parse_handshake_fragment(Bytes input) noexcept;

/// Writes the 12-byte header; false if `out` is shorter or a field exceeds 24 bits.
bool write_handshake_header(const HandshakeHeader& header, MutableBytes out) noexcept;

/// The fragments packed into one handshake record (RFC 6347 §4.2.3); the first malformed one
/// ends the iteration.
class HandshakeReader {
  public:
    explicit HandshakeReader(Bytes record_plaintext) noexcept : rest_(record_plaintext) {}
    Expected<HandshakeFragment, CodecError> next() noexcept;
    bool done() const noexcept { return rest_.empty(); }

  private:
    Bytes rest_;
};

/// The hello extensions this stack acts on; others are skipped after their length is checked.
struct HelloExtensions {
    bool extended_master_secret = false;  // RFC 7627: empty extension_data
    bool renegotiation_info = false;      // RFC 5746: renegotiated_connection<0..255>
    Bytes renegotiated_connection;
    bool unknown_extensions = false;  // some other extension was present (parse only)
    Bytes raw;  // the whole extension list as received, without its length (parse only)
};

struct ClientHello {
    ProtocolVersion client_version = dtls_1_2;
    Bytes random;               // random_size bytes
    Bytes session_id;           // 0..32 bytes
    Bytes cookie;               // 0..255 bytes (RFC 6347 §4.2.1)
    Bytes cipher_suites;        // big-endian uint16 values: 2..65534 bytes, even
    Bytes compression_methods;  // 1..255 bytes
    HelloExtensions extensions;

    bool offers_cipher_suite(std::uint16_t id) const noexcept;
    /// RFC 5246 §7.4.1.2: the null method (0) must be offered.
    bool offers_null_compression() const noexcept;
};

struct HelloVerifyRequest {
    ProtocolVersion server_version = dtls_1_0;  // RFC 6347 §4.2.1 SHOULD
    Bytes cookie;                               // 0..255 bytes
};

struct ServerHello {
    ProtocolVersion server_version = dtls_1_2;
    Bytes random;      // random_size bytes
    Bytes session_id;  // 0..32 bytes
    std::uint16_t cipher_suite = 0;
    std::uint8_t compression_method = 0;
    HelloExtensions extensions;
};

/// RFC 4279 §2: ServerKeyExchange for psk carries only psk_identity_hint<0..2^16-1>.
struct PskServerKeyExchange {
    Bytes identity_hint;
};

/// ServerHelloDone has an empty body.
struct ServerHelloDone {};

/// RFC 4279 §2: ClientKeyExchange for psk carries psk_identity<0..2^16-1> (§5.3: identities up
/// to 128 bytes must be supported; the codec takes any length the field allows).
struct PskClientKeyExchange {
    Bytes identity;
};

struct Finished {
    Bytes verify_data;  // verify_data_size bytes
};

Expected<ClientHello, CodecError> parse_client_hello(Bytes body) noexcept;
Expected<HelloVerifyRequest, CodecError> parse_hello_verify_request(Bytes body) noexcept;
Expected<ServerHello, CodecError> parse_server_hello(Bytes body) noexcept;
Expected<PskServerKeyExchange, CodecError> parse_psk_server_key_exchange(Bytes body) noexcept;
Expected<ServerHelloDone, CodecError> parse_server_hello_done(Bytes body) noexcept;
Expected<PskClientKeyExchange, CodecError> parse_psk_client_key_exchange(Bytes body) noexcept;
Expected<Finished, CodecError> parse_finished(Bytes body) noexcept;

/// Each writer writes the message body to `out` and returns its size.
Expected<std::size_t, CodecError> write_client_hello(const ClientHello& hello,
                                                     MutableBytes out) noexcept;
Expected<std::size_t, CodecError> write_hello_verify_request(const HelloVerifyRequest& request,
                                                             MutableBytes out) noexcept;
Expected<std::size_t, CodecError> write_server_hello(const ServerHello& hello,
                                                     MutableBytes out) noexcept;
Expected<std::size_t, CodecError> write_psk_server_key_exchange(const PskServerKeyExchange& message,
                                                                MutableBytes out) noexcept;
Expected<std::size_t, CodecError> write_psk_client_key_exchange(const PskClientKeyExchange& message,
                                                                MutableBytes out) noexcept;
Expected<std::size_t, CodecError> write_finished(const Finished& finished,
                                                 MutableBytes out) noexcept;

}  // namespace coap::dtls
