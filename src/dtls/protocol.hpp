// Wire constants shared by the DTLS 1.2 record layer and handshake codec: protocol versions
// (RFC 6347 §4.1), content types (RFC 5246 §6.2.1), handshake types (RFC 6347 §4.2.2, RFC 5246
// §7.4) and the extension numbers this stack understands (RFC 7627 §5.1, RFC 5746 §3.2).
#pragma once

#include <cstddef>
#include <cstdint>

namespace coap::dtls {

struct ProtocolVersion {
    std::uint8_t major = 0;
    std::uint8_t minor = 0;
    friend constexpr bool operator==(ProtocolVersion, ProtocolVersion) = default;
};

/// DTLS versions are the 1's complement of TLS's: 1.2 is {254, 253}.
inline constexpr ProtocolVersion dtls_1_2{254, 253};
/// DTLS 1.0, still used for the record layer of a first ClientHello and for HelloVerifyRequest
/// (RFC 6347 §4.2.1).
inline constexpr ProtocolVersion dtls_1_0{254, 255};

enum class ContentType : std::uint8_t {
    change_cipher_spec = 20,
    alert = 21,
    handshake = 22,
    application_data = 23,
};

enum class HandshakeType : std::uint8_t {
    hello_request = 0,
    client_hello = 1,
    server_hello = 2,
    hello_verify_request = 3,
    certificate = 11,
    server_key_exchange = 12,
    certificate_request = 13,
    server_hello_done = 14,
    certificate_verify = 15,
    client_key_exchange = 16,
    finished = 20,
};

enum class ExtensionType : std::uint16_t {
    extended_master_secret = 23,  // RFC 7627 §5.1
    renegotiation_info = 0xff01,  // RFC 5746 §3.2
};

/// Sizes fixed by RFC 5246 §7.4.1.2 and §7.4.9.
inline constexpr std::size_t random_size = 32;
inline constexpr std::size_t max_session_id_size = 32;
inline constexpr std::size_t verify_data_size = 12;

}  // namespace coap::dtls
