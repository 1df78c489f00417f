// HMAC-SHA256 cookies over keyed, reused OpenSSL MAC contexts (RFC 6347 §4.2.1).
#include "dtls/cookie.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>

#include "dtls/wire.hpp"

namespace coap::dtls {

namespace {

bool update(evp_mac_ctx_st* key, Bytes data) noexcept {
    return data.empty() || EVP_MAC_update(key, data.data(), data.size()) == 1;
}

// Each variable field with its length in front, so that field boundaries cannot shift.
bool update_vector(evp_mac_ctx_st* key, Bytes data) noexcept {
    std::array<std::uint8_t, 2> length{static_cast<std::uint8_t>(data.size() >> 8),
                                       static_cast<std::uint8_t>(data.size())};
    return update(key, length) && update(key, data);
}

}  // namespace

CookieAuthority::CookieAuthority(std::span<const std::uint8_t, 32> secret,
                                 std::size_t cookie_size) noexcept
    : current_(keyed(secret)),
      cookie_size_(std::clamp(cookie_size, min_cookie_size, max_cookie_size)) {}

CookieAuthority::~CookieAuthority() {
    EVP_MAC_CTX_free(current_);
    EVP_MAC_CTX_free(previous_);
}

evp_mac_ctx_st* CookieAuthority::keyed(std::span<const std::uint8_t, 32> secret) noexcept {
    EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (hmac == nullptr) return nullptr;
    EVP_MAC_CTX* context = EVP_MAC_CTX_new(hmac);
    EVP_MAC_free(hmac);  // the context keeps its own reference
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                           OSSL_PARAM_construct_end()};
    if (context != nullptr && EVP_MAC_init(context, secret.data(), secret.size(), params) != 1) {
        EVP_MAC_CTX_free(context);
        context = nullptr;
    }
    return context;
}

bool CookieAuthority::compute(evp_mac_ctx_st* key, const Endpoint& peer, const ClientHello& hello,
                              std::span<std::uint8_t, max_cookie_size> out) noexcept {
    std::array<std::uint8_t, 16 + 4 + 2 + 2> fixed{};
    WireWriter writer(fixed);
    writer.bytes(peer.address());
    writer.u16(peer.scope_id() >> 16);
    writer.u16(peer.scope_id() & 0xffff);
    writer.u16(peer.port());
    writer.u8(hello.client_version.major);
    writer.u8(hello.client_version.minor);
    std::size_t length = 0;
    // Re-initialising with no key reuses the key schedule set up in keyed().
    return EVP_MAC_init(key, nullptr, 0, nullptr) == 1 && update(key, fixed) &&
           update(key, hello.random) && update_vector(key, hello.session_id) &&
           update_vector(key, hello.cipher_suites) &&
           update_vector(key, hello.compression_methods) &&
           update_vector(key, hello.extensions.raw) &&
           EVP_MAC_final(key, out.data(), &length, out.size()) == 1 && length == out.size();
}

std::size_t CookieAuthority::make(const Endpoint& peer, const ClientHello& hello,
                                  std::span<std::uint8_t, max_cookie_size> out) const noexcept {
    if (current_ == nullptr || !compute(current_, peer, hello, out)) return 0;
    return cookie_size_;
}

bool CookieAuthority::matches(evp_mac_ctx_st* key, const Endpoint& peer,
                              const ClientHello& hello) const noexcept {
    std::array<std::uint8_t, max_cookie_size> expected{};
    return key != nullptr && compute(key, peer, hello, expected) &&
           CRYPTO_memcmp(expected.data(), hello.cookie.data(), cookie_size_) == 0;
}

bool CookieAuthority::verify(const Endpoint& peer, const ClientHello& hello) const noexcept {
    if (hello.cookie.size() != cookie_size_) return false;
    return matches(current_, peer, hello) || matches(previous_, peer, hello);
}

bool CookieAuthority::rotate(std::span<const std::uint8_t, 32> new_secret) noexcept {
    evp_mac_ctx_st* next = keyed(new_secret);
    if (next == nullptr) return false;
    EVP_MAC_CTX_free(previous_);
    previous_ = current_;
    current_ = next;
    return true;
}

}  // namespace coap::dtls
