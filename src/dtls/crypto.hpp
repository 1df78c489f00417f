// The TLS 1.2 key schedule for DTLS 1.2 PSK over OpenSSL's HMAC-SHA-256: the PRF (RFC 5246
// §5), the PSK premaster secret (RFC 4279 §2), the master secret (RFC 5246 §8.1) and extended
// master secret (RFC 7627 §4), the key block (RFC 5246 §6.3) and Finished verify_data (RFC 5246
// §7.4.9); plus secure wiping and random bytes. These run once per handshake, not per record.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "coap/bytes.hpp"
#include "dtls/cipher_suite.hpp"
#include "dtls/protocol.hpp"

namespace coap::dtls {

inline constexpr std::size_t master_secret_size = 48;
inline constexpr std::size_t sha256_size = 32;
/// RFC 4279 §5.3 requires PSKs up to 64 bytes; twice that is accepted.
inline constexpr std::size_t max_psk_size = 128;
inline constexpr std::size_t max_premaster_size = 4 + 2 * max_psk_size;

/// Overwrites `bytes` with zeros in a way the compiler cannot optimise out (OPENSSL_cleanse).
void secure_wipe(MutableBytes bytes) noexcept;

/// Fills `out` from OpenSSL's CSPRNG; false if it failed (the output must not be used).
[[nodiscard]] bool random_bytes(MutableBytes out) noexcept;

/// Fixed-size secret storage that wipes itself on destruction.
template <std::size_t N>
struct Secret {
    std::array<std::uint8_t, N> bytes{};
    Secret() = default;
    Secret(const Secret&) = default;
    Secret& operator=(const Secret&) = default;
    ~Secret() { secure_wipe(bytes); }
    Bytes view() const noexcept { return bytes; }
};

using MasterSecret = Secret<master_secret_size>;

/// RFC 5246 §5: PRF(secret, label, seed) = P_SHA256(secret, label + seed), `out.size()` bytes.
[[nodiscard]] bool prf_sha256(Bytes secret, std::string_view label, Bytes seed,
                              MutableBytes out) noexcept;

/// RFC 4279 §2: uint16 N, N zero bytes, uint16 N, psk. Returns the size written (4 + 2N), or 0
/// if the PSK is empty, longer than max_psk_size, or `out` is too small.
std::size_t psk_premaster_secret(Bytes psk, MutableBytes out) noexcept;

/// RFC 5246 §8.1: PRF(premaster, "master secret", client_random + server_random)[0..47].
[[nodiscard]] bool derive_master_secret(Bytes premaster, Bytes client_random, Bytes server_random,
                                        MasterSecret& out) noexcept;

/// RFC 7627 §4: PRF(premaster, "extended master secret", session_hash)[0..47], where the
/// session hash is the SHA-256 of the handshake up to and including ClientKeyExchange.
[[nodiscard]] bool derive_extended_master_secret(Bytes premaster, Bytes session_hash,
                                                 MasterSecret& out) noexcept;

/// One direction's record protection keys; the suite says how many bytes of each are used.
struct TrafficKeys {
    std::array<std::uint8_t, max_key_size> key{};
    std::array<std::uint8_t, max_fixed_iv_size> iv{};  // fixed_iv: the implicit nonce (salt)
    TrafficKeys() = default;
    TrafficKeys(const TrafficKeys&) = default;
    TrafficKeys& operator=(const TrafficKeys&) = default;
    ~TrafficKeys() {
        secure_wipe(key);
        secure_wipe(iv);
    }
};

struct KeyBlock {
    TrafficKeys client_write;
    TrafficKeys server_write;
};

/// RFC 5246 §6.3: key_block = PRF(master, "key expansion", server_random + client_random), cut
/// into MAC keys (none for AEAD), write keys and write IVs.
[[nodiscard]] bool derive_key_block(const CipherSuite& suite, const MasterSecret& master,
                                    Bytes client_random, Bytes server_random,
                                    KeyBlock& out) noexcept;

enum class Sender : std::uint8_t { client, server };

/// RFC 5246 §7.4.9: PRF(master, "client finished" | "server finished", handshake_hash)[0..11].
[[nodiscard]] bool finished_verify_data(const MasterSecret& master, Sender sender,
                                        Bytes handshake_hash,
                                        std::span<std::uint8_t, verify_data_size> out) noexcept;

}  // namespace coap::dtls
