// Cipher suite descriptors: everything the key schedule (RFC 5246 §6.3) and the AEAD record
// protection (RFC 5246 §6.2.3.3) need to know about a suite. Only TLS_PSK_WITH_AES_128_CCM_8
// (RFC 6655 §4, the RFC 7925 §4.3 mandatory suite) exists today; another AEAD suite is one more
// descriptor plus its algorithm in the record layer.
#pragma once

#include <cstddef>
#include <cstdint>

namespace coap::dtls {

enum class AeadAlgorithm : std::uint8_t {
    aes_128_ccm,
};

struct CipherSuite {
    std::uint16_t id;
    AeadAlgorithm aead;
    std::uint8_t mac_key_size;    // SecurityParameters.mac_key_length: 0 for AEAD suites
    std::uint8_t key_size;        // enc_key_length
    std::uint8_t fixed_iv_size;   // fixed_iv_length: the implicit nonce part (salt)
    std::uint8_t record_iv_size;  // record_iv_length: the explicit nonce sent in each record
    std::uint8_t tag_size;        // AEAD authentication tag
};

/// RFC 6655 §4: AES-128-CCM with an 8-byte tag, 4-byte salt, 8-byte explicit nonce.
inline constexpr CipherSuite tls_psk_with_aes_128_ccm_8{
    .id = 0xC0A8,
    .aead = AeadAlgorithm::aes_128_ccm,
    .mac_key_size = 0,
    .key_size = 16,
    .fixed_iv_size = 4,
    .record_iv_size = 8,
    .tag_size = 8,
};

/// Upper bounds over every supported suite, for fixed-size key storage.
inline constexpr std::size_t max_key_size = 32;
inline constexpr std::size_t max_fixed_iv_size = 12;
inline constexpr std::size_t max_record_iv_size = 8;
inline constexpr std::size_t max_nonce_size = 13;
inline constexpr std::size_t max_mac_key_size = 48;
inline constexpr std::size_t max_key_block_size =
    2 * (max_mac_key_size + max_key_size + max_fixed_iv_size);

/// The descriptor for a suite number, or nullptr when the suite is not supported.
constexpr const CipherSuite* find_cipher_suite(std::uint16_t id) noexcept {
    return id == tls_psk_with_aes_128_ccm_8.id ? &tls_psk_with_aes_128_ccm_8 : nullptr;
}

/// Bytes a protected record adds to its plaintext: explicit nonce and tag (16 for CCM_8).
constexpr std::size_t record_expansion(const CipherSuite& suite) noexcept {
    return std::size_t{suite.record_iv_size} + suite.tag_size;
}

/// RFC 5246 §6.3: the key block holds both MAC keys, both write keys and both write IVs.
constexpr std::size_t key_block_size(const CipherSuite& suite) noexcept {
    return 2 * (std::size_t{suite.mac_key_size} + suite.key_size + suite.fixed_iv_size);
}

}  // namespace coap::dtls
