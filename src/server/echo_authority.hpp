// Stateless Echo option values for the server (RFC 9175 §2): an integrity-protected timestamp
// (Appendix A item 2) bound to the peer's transport address, so proving freshness or
// reachability needs no per-client state. Also the amplification rule of §2.4 item 3.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "coap/bytes.hpp"
#include "coap/endpoint.hpp"
#include "coap/time.hpp"

struct evp_mac_ctx_st;  // OpenSSL's EVP_MAC_CTX; libcrypto headers stay out of this header.

namespace coap::detail {

/// Longest Echo option value (RFC 9175 §2.2.1, Table 1: length 1-40).
inline constexpr std::size_t max_echo_size = 40;

/// Length of every value an EchoAuthority makes: a format version byte, the low 32 bits of a
/// millisecond timestamp and a 64-bit truncated HMAC-SHA256. App. A item 2 gives 32-bit time +
/// 64-bit MAC = 12 bytes as the reference size; §5 equates 64 MAC bits with AES_128_CCM_8.
inline constexpr std::size_t echo_value_size = 13;

/// Default freshness window. The value must survive the client's resend after a 4.01 (one round
/// trip, plus the first CON retransmissions at ~3 s and ~9 s, RFC 7252 §4.8) and may be reused
/// for several requests within the window (§2.4 item 1). Shorter limits how long a value seen
/// on the path can be replayed, both for delay attacks (§2.1) and to spoof the address.
inline constexpr Duration default_echo_freshness = std::chrono::seconds(10);

/// Longest freshness accepted (longer is clamped). The wire carries 32 bits of a millisecond
/// clock; `verify` extends them using `now`, which is unambiguous only within +-2^31 ms.
inline constexpr Duration max_echo_freshness = std::chrono::hours(24);

/// How far in the future a value's timestamp may be and still verify. Values come only from
/// this process's monotonic clock (§5: "SHOULD use a monotonic clock"), so this only absorbs
/// worker threads whose loop timestamps differ slightly.
inline constexpr Duration echo_clock_skew = std::chrono::seconds(1);

/// A 256-bit HMAC key (App. A item 2: a random key known only to the server).
using EchoSecret = std::array<std::uint8_t, 32>;

/// Makes and checks Echo values of the form
///   version (1) | t0 mod 2^32 (4, big endian) | HMAC-SHA256(k, version | t0 | peer)[0..8)
/// where t0 is milliseconds on a timeline private to the authority (the caller's steady clock
/// plus a secret offset derived from the key, so values do not reveal uptime: §5, §6), and
/// "peer" is the full transport address: IP address, scope id and port (App. A item 2 "MAC(k,
/// t0, claimed network address)").
///
/// The port is bound on purpose: reachability is proven for an endpoint (RFC 7252 §1.2: address
/// and port), the unit the exchange cache and the client (§2.3: values go back only to the
/// endpoint they came from) use. Without it, any host sharing the victim's IP address (a NAT or
/// carrier-grade NAT, a multi-user host) could fetch a value on its own port and then spoof the
/// victim's port. The cost is one extra 4.01 round trip after a NAT rebinding.
///
/// Threading: make and verify reuse one OpenSSL context per key (2 small libcrypto allocations
/// per MAC instead of 11-13 for a fresh context), so an authority is used by one thread at a
/// time, like the rest of the core. Give each worker its own authority built from the same
/// secret: they then accept each other's values.
class EchoAuthority {
  public:
    /// `secret` is the HMAC key; `freshness` how long a value stays valid (clamped to
    /// [0, max_echo_freshness], counted in whole milliseconds). Never throws: if libcrypto cannot
    /// set up HMAC-SHA256, `usable()` is false and nothing verifies.
    EchoAuthority(std::span<const std::uint8_t, 32> secret, Duration freshness) noexcept;

    /// An authority with a fresh random key. Throws std::runtime_error if libcrypto has no
    /// randomness or no HMAC (set-up time only).
    static EchoAuthority with_random_secret(Duration freshness);
    /// 32 bytes from RAND_bytes; throws std::runtime_error if the generator fails.
    static EchoSecret random_secret();

    /// False only if libcrypto failed at construction (or the object was moved from).
    bool usable() const noexcept { return current_ != nullptr; }
    Duration freshness() const noexcept { return std::chrono::milliseconds(freshness_ms_); }

    /// Writes a fresh Echo value for `peer` at `now` into `out` and returns its length
    /// (echo_value_size). Returns 0 only if libcrypto fails; send no Echo then.
    std::size_t make(const Endpoint& peer, TimePoint now,
                     std::span<std::uint8_t, max_echo_size> out) const noexcept;

    /// True when `value` was made by this authority (or one with the same key) for exactly
    /// `peer`, at most `freshness` before `now` and at most echo_clock_skew after it. Any other
    /// input, of any length, is false. Compares the MAC in constant time.
    bool verify(const Endpoint& peer, Bytes value, TimePoint now) const noexcept;

    /// Switches to `new_secret` for new values. Values made with the key being replaced keep
    /// verifying until `now + freshness`; the key before that is dropped at once. Returns false
    /// (and changes nothing) if libcrypto cannot set up the new key.
    [[nodiscard]] bool rotate(std::span<const std::uint8_t, 32> new_secret, TimePoint now) noexcept;

  private:
    struct MacContextFree {
        void operator()(evp_mac_ctx_st* context) const noexcept;
    };
    using MacContext = std::unique_ptr<evp_mac_ctx_st, MacContextFree>;
    using Digest = std::array<std::uint8_t, 32>;

    static MacContext keyed_context(std::span<const std::uint8_t, 32> secret) noexcept;
    static bool compute(evp_mac_ctx_st* key, Bytes input, Digest& digest) noexcept;
    static bool mac_matches(evp_mac_ctx_st* key, std::uint64_t stamp, const Endpoint& peer,
                            Bytes value) noexcept;
    std::uint64_t stamp_at(TimePoint now) const noexcept;

    MacContext current_;
    MacContext previous_;  // null when there is no previous key
    TimePoint previous_until_{};
    std::uint64_t offset_ms_ = 0;
    std::int64_t freshness_ms_ = 0;
};

/// RFC 9175 §2.4 item 3 (and §2.6, updating RFC 7252 §11.3): for a peer that has not proven it
/// receives at its address (no verified Echo in this request), true when a response of
/// `response_size` bytes to a request of `request_size` bytes must be replaced by a 4.01
/// Unauthorized with an Echo option. The limit is "don't send more than three times the number of
/// bytes received", the factor 3 of RFC 9000 §8.1 that RFC 9175 cites. Pass datagram (UDP
/// payload) sizes, as QUIC counts them, and the total of all responses to one request. Counting
/// Ethernet/IPv6/UDP headers (62 bytes) on both sides instead gives RFC 9175's looser figure of
/// 136 bytes for a minimal 4-byte request. Exactly `factor` times the request is allowed.
bool exceeds_amplification_limit(std::size_t request_size, std::size_t response_size,
                                 unsigned factor = 3) noexcept;

}  // namespace coap::detail
