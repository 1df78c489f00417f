// AES-128-CCM over OpenSSL EVP. The cipher is bound once per direction, at construction; every
// call passes a null cipher to EVP_CipherInit_ex, which keeps the provider context and only
// re-keys it (and only when the key changed), so sealing and opening records allocate nothing.
#include "dtls/ccm.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <climits>
#include <cstdint>
#include <cstring>
#include <utility>

namespace coap::dtls {

namespace {

bool valid_sizes(Bytes key, Bytes nonce, std::size_t tag_size) noexcept {
    return key.size() == ccm_key_size && nonce.size() >= 7 && nonce.size() <= 13 && tag_size >= 4 &&
           tag_size <= 16 && tag_size % 2 == 0;
}

// OpenSSL treats a null input pointer as "finalise", so empty inputs still need an address.
const std::uint8_t* non_null(Bytes data) noexcept {
    static constexpr std::uint8_t empty = 0;
    return data.empty() ? &empty : data.data();
}

bool fits_int(std::size_t size) noexcept {
    return size <= static_cast<std::size_t>(INT_MAX);
}

evp_cipher_ctx_st* new_context(bool encrypt) noexcept {
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    if (ctx != nullptr && EVP_CipherInit_ex(ctx, EVP_aes_128_ccm(), nullptr, nullptr, nullptr,
                                            encrypt ? 1 : 0) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        ctx = nullptr;
    }
    return ctx;
}

}  // namespace

CcmContext::CcmContext() noexcept {
    sealing_.ctx = new_context(true);
    opening_.ctx = new_context(false);
    if (!valid()) {
        sealing_.release();
        opening_.release();
    }
}

CcmContext::~CcmContext() {
    sealing_.release();
    opening_.release();
}

CcmContext::CcmContext(CcmContext&& other) noexcept
    : sealing_(std::exchange(other.sealing_, {})), opening_(std::exchange(other.opening_, {})) {}

CcmContext& CcmContext::operator=(CcmContext&& other) noexcept {
    std::swap(sealing_, other.sealing_);
    std::swap(opening_, other.opening_);
    return *this;
}

void CcmContext::Direction::forget() noexcept {
    OPENSSL_cleanse(key.data(), key.size());
    key_set = false;
    nonce_size = 0;
    tag_size = 0;
}

void CcmContext::Direction::release() noexcept {
    forget();
    EVP_CIPHER_CTX_free(ctx);
    ctx = nullptr;
}

// OpenSSL bakes the nonce and tag lengths into the CCM state when the key is set, so a change
// of either re-sends both and re-keys. The expected tag of a decryption can only be given once
// the context is set up for decrypting.
bool CcmContext::Direction::configure(bool encrypt, Bytes key_bytes, Bytes nonce, std::size_t tag,
                                      const void* expected_tag) noexcept {
    const bool same_sizes = nonce.size() == nonce_size && tag == tag_size;
    if (!same_sizes) {
        if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, static_cast<int>(nonce.size()),
                                nullptr) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(tag), nullptr) != 1)
            return false;
        nonce_size = nonce.size();
        tag_size = tag;
    }
    const bool same_key =
        same_sizes && key_set && CRYPTO_memcmp(key.data(), key_bytes.data(), key.size()) == 0;
    if (EVP_CipherInit_ex(ctx, nullptr, nullptr, same_key ? nullptr : key_bytes.data(),
                          nonce.data(), encrypt ? 1 : 0) != 1)
        return false;
    if (!same_key) {
        std::memcpy(key.data(), key_bytes.data(), key.size());
        key_set = true;
    }
    return encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(tag),
                                          const_cast<void*>(expected_tag)) == 1;
}

// Configures the context, then gives the message length (CCM needs it before any data) and the
// additional data.
bool CcmContext::Direction::start(bool encrypt, Bytes key_bytes, Bytes nonce, std::size_t tag,
                                  const void* expected_tag, std::size_t message_size,
                                  Bytes aad) noexcept {
    int length = 0;
    return configure(encrypt, key_bytes, nonce, tag, expected_tag) &&
           EVP_CipherUpdate(ctx, nullptr, &length, nullptr, static_cast<int>(message_size)) == 1 &&
           // An empty AAD is skipped: a null input here would reset the message length.
           (aad.empty() ||
            EVP_CipherUpdate(ctx, nullptr, &length, aad.data(), static_cast<int>(aad.size())) == 1);
}

bool CcmContext::seal(Bytes key, Bytes nonce, Bytes aad, Bytes plaintext, MutableBytes out,
                      std::size_t tag_size) noexcept {
    if (!valid() || !valid_sizes(key, nonce, tag_size)) return false;
    if (!fits_int(plaintext.size()) || !fits_int(aad.size())) return false;
    if (out.size() < plaintext.size() + tag_size) return false;
    EVP_CIPHER_CTX* ctx = sealing_.ctx;
    int length = 0;
    std::uint8_t* tag = out.data() + plaintext.size();
    const bool ok =
        sealing_.start(true, key, nonce, tag_size, nullptr, plaintext.size(), aad) &&
        EVP_CipherUpdate(ctx, out.data(), &length, non_null(plaintext),
                         static_cast<int>(plaintext.size())) == 1 &&
        EVP_CipherFinal_ex(ctx, tag, &length) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(tag_size), tag) == 1;
    if (!ok) {
        ERR_clear_error();
        sealing_.forget();
    }
    return ok;
}

bool CcmContext::open(Bytes key, Bytes nonce, Bytes aad, Bytes sealed, MutableBytes out,
                      std::size_t tag_size) noexcept {
    if (!valid() || !valid_sizes(key, nonce, tag_size)) return false;
    if (sealed.size() < tag_size || !fits_int(sealed.size()) || !fits_int(aad.size())) return false;
    const std::size_t size = sealed.size() - tag_size;
    if (out.size() < size) return false;
    // The tag is copied out first: decrypting in place overwrites the ciphertext before it.
    std::uint8_t tag[16];
    std::memcpy(tag, sealed.data() + size, tag_size);
    int length = 0;
    // A null output would make OpenSSL take the data as AAD and skip the tag check.
    std::uint8_t nothing = 0;
    std::uint8_t* target = size == 0 ? &nothing : out.data();
    // The tag check happens inside this last update (OpenSSL's CCM decrypt has no Final step).
    const bool ok = opening_.start(false, key, nonce, tag_size, tag, size, aad) &&
                    EVP_CipherUpdate(opening_.ctx, target, &length, non_null(sealed.first(size)),
                                     static_cast<int>(size)) == 1;
    if (!ok) {
        if (size > 0) std::memset(out.data(), 0, size);
        ERR_clear_error();  // a forged record must not leave entries in the thread's queue
        opening_.forget();
    }
    return ok;
}

}  // namespace coap::dtls
