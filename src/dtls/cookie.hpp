// Stateless HelloVerifyRequest cookies (RFC 6347 §4.2.1): Cookie = HMAC-SHA256(secret, client
// address | port | the ClientHello fields that must not change between the two hellos:
// version, random, session_id, cipher_suites, compression_methods, extensions), truncated.
// Two secrets are accepted, the current and the previous one, so rotating the secret does not
// break a client between its two ClientHellos (§4.2.1 "accepts both secrets"); a cookie lives
// at most two rotation periods. Nothing is stored per client.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "coap/bytes.hpp"
#include "coap/endpoint.hpp"
#include "dtls/handshake_codec.hpp"

struct evp_mac_ctx_st;

namespace coap::dtls {

inline constexpr std::size_t min_cookie_size = 16;
inline constexpr std::size_t max_cookie_size = 32;  // an HMAC-SHA256 output
using CookieSecret = std::array<std::uint8_t, 32>;

class CookieAuthority {
  public:
    /// `cookie_size` is clamped to [16, 32]. valid() is false if libcrypto has no HMAC.
    CookieAuthority(std::span<const std::uint8_t, 32> secret, std::size_t cookie_size) noexcept;
    ~CookieAuthority();
    CookieAuthority(const CookieAuthority&) = delete;
    CookieAuthority& operator=(const CookieAuthority&) = delete;

    bool valid() const noexcept { return current_ != nullptr; }
    std::size_t cookie_size() const noexcept { return cookie_size_; }

    /// Writes the cookie for this client and hello (hello.cookie is not covered) to `out`;
    /// returns its size, 0 on failure.
    std::size_t make(const Endpoint& peer, const ClientHello& hello,
                     std::span<std::uint8_t, max_cookie_size> out) const noexcept;

    /// True when hello.cookie was made by make() under the current or the previous secret.
    bool verify(const Endpoint& peer, const ClientHello& hello) const noexcept;

    /// The current secret becomes the previous one; cookies made before the last rotation but
    /// one stop verifying. False (nothing changed) if the new key could not be set.
    bool rotate(std::span<const std::uint8_t, 32> new_secret) noexcept;

  private:
    static evp_mac_ctx_st* keyed(std::span<const std::uint8_t, 32> secret) noexcept;
    static bool compute(evp_mac_ctx_st* key, const Endpoint& peer, const ClientHello& hello,
                        std::span<std::uint8_t, max_cookie_size> out) noexcept;
    bool matches(evp_mac_ctx_st* key, const Endpoint& peer,
                 const ClientHello& hello) const noexcept;

    evp_mac_ctx_st* current_ = nullptr;
    evp_mac_ctx_st* previous_ = nullptr;
    std::size_t cookie_size_;
};

}  // namespace coap::dtls
