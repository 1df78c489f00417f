// AES-128-CCM (RFC 3610; NIST SP 800-38C) over reusable OpenSSL cipher contexts, re-keyed when
// the key changes: the record path never allocates. Used with an 8-byte tag and a 12-byte nonce for
// TLS_PSK_WITH_AES_128_CCM_8 (RFC 6655 §3); nonce (7..13 bytes) and tag length (4..16, even)
// are parameters so that the RFC 3610 and SP 800-38C vectors can be checked too.
// A context is not thread-safe: own one per worker thread, created at set-up.
// Successful calls allocate nothing. A failed authentication makes OpenSSL push an error entry
// (two small allocations, released again at once by ERR_clear_error).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "coap/bytes.hpp"

struct evp_cipher_ctx_st;

namespace coap::dtls {

inline constexpr std::size_t ccm_key_size = 16;
inline constexpr std::size_t ccm_8_tag_size = 8;

class CcmContext {
  public:
    /// Allocates the OpenSSL contexts; valid() is false if that failed.
    CcmContext() noexcept;
    ~CcmContext();
    CcmContext(CcmContext&& other) noexcept;
    CcmContext& operator=(CcmContext&& other) noexcept;
    CcmContext(const CcmContext&) = delete;
    CcmContext& operator=(const CcmContext&) = delete;

    bool valid() const noexcept { return sealing_.ctx != nullptr && opening_.ctx != nullptr; }

    /// Encrypts and authenticates: writes ciphertext followed by the tag into `out`, which
    /// needs plaintext.size() + tag_size bytes and may start exactly at `plaintext` (in place).
    /// False on bad sizes (key 16 bytes, nonce 7..13, tag 4..16 even) or an OpenSSL failure.
    [[nodiscard]] bool seal(Bytes key, Bytes nonce, Bytes aad, Bytes plaintext, MutableBytes out,
                            std::size_t tag_size = ccm_8_tag_size) noexcept;

    /// Verifies and decrypts `sealed` (ciphertext followed by the tag) into `out`, which needs
    /// sealed.size() - tag_size bytes and may start exactly at `sealed`. False when the tag does
    /// not verify (`out` is then zeroed) or on bad sizes.
    [[nodiscard]] bool open(Bytes key, Bytes nonce, Bytes aad, Bytes sealed, MutableBytes out,
                            std::size_t tag_size = ccm_8_tag_size) noexcept;

  private:
    // One OpenSSL context per direction: OpenSSL picks its bulk CCM routine for the direction
    // when the key is set, so a key set for sealing cannot be reused for opening.
    // Each remembers what it is set to, so that an unchanged key and sizes are not sent again:
    // re-keying and parameter calls are most of the cost of a short record.
    struct Direction {
        evp_cipher_ctx_st* ctx = nullptr;
        std::array<std::uint8_t, ccm_key_size> key{};
        bool key_set = false;
        std::size_t nonce_size = 0;
        std::size_t tag_size = 0;

        bool configure(bool encrypt, Bytes key_bytes, Bytes nonce, std::size_t tag,
                       const void* expected_tag) noexcept;
        bool start(bool encrypt, Bytes key_bytes, Bytes nonce, std::size_t tag,
                   const void* expected_tag, std::size_t message_size, Bytes aad) noexcept;
        void forget() noexcept;
        void release() noexcept;
    };

    Direction sealing_;
    Direction opening_;
};

}  // namespace coap::dtls
