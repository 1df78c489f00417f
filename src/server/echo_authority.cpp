// Echo values as MAC-protected timestamps (RFC 9175 App. A item 2), with HMAC-SHA256 from
// libcrypto.
#include "server/echo_authority.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string_view>

namespace coap::detail {

namespace {

constexpr std::uint8_t format_version = 1;
// Value layout: version | low 32 bits of t0 | truncated MAC.
constexpr std::size_t stamp_offset = 1;
constexpr std::size_t mac_offset = 5;
constexpr std::size_t mac_size = echo_value_size - mac_offset;  // 8 bytes: App. A item 2, §5
// MAC input: version | t0 (64 bits) | address (16) | scope id (4) | port (2).
constexpr std::size_t mac_input_size = 1 + 8 + 16 + 4 + 2;
// Derives the timeline offset; its length differs from every MAC input above, so the two uses of
// the key cannot collide.
constexpr std::string_view offset_label = "coap echo timeline offset";

void put_big_endian(std::uint8_t* out, std::uint64_t value, std::size_t size) noexcept {
    for (std::size_t i = 0; i < size; ++i)
        out[i] = static_cast<std::uint8_t>(value >> (8 * (size - 1 - i)));
}

std::uint64_t get_big_endian(const std::uint8_t* in, std::size_t size) noexcept {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < size; ++i)
        value = value << 8 | in[i];
    return value;
}

std::array<std::uint8_t, mac_input_size> mac_input(std::uint64_t stamp,
                                                   const Endpoint& peer) noexcept {
    std::array<std::uint8_t, mac_input_size> input;
    input[0] = format_version;
    put_big_endian(&input[1], stamp, 8);
    std::memcpy(&input[9], peer.address().data(), 16);
    put_big_endian(&input[25], peer.scope_id(), 4);
    put_big_endian(&input[29], peer.port(), 2);
    return input;
}

}  // namespace

void EchoAuthority::MacContextFree::operator()(evp_mac_ctx_st* context) const noexcept {
    EVP_MAC_CTX_free(context);
}

EchoAuthority::EchoAuthority(std::span<const std::uint8_t, 32> secret, Duration freshness) noexcept
    : current_(keyed_context(secret)) {
    auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(max_echo_freshness);
    auto window = std::chrono::floor<std::chrono::milliseconds>(freshness);
    freshness_ms_ = std::clamp(window, std::chrono::milliseconds(0), limit).count();
    // §5 "MAY generate a random offset applied to all timestamps", §6: unencrypted timestamps
    // could reveal the time since reboot. Derived from the key so that workers sharing a key
    // share a timeline.
    Digest digest;
    if (current_ && compute(current_.get(), as_bytes(offset_label), digest))
        offset_ms_ = get_big_endian(digest.data(), 8);
    else
        current_.reset();
}

EchoSecret EchoAuthority::random_secret() {
    EchoSecret secret;
    if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1)
        throw std::runtime_error("Echo: RAND_bytes failed, no secure random key available");
    return secret;
}

EchoAuthority EchoAuthority::with_random_secret(Duration freshness) {
    EchoSecret secret = random_secret();
    EchoAuthority authority(secret, freshness);
    OPENSSL_cleanse(secret.data(), secret.size());
    if (!authority.usable()) throw std::runtime_error("Echo: libcrypto has no HMAC-SHA256");
    return authority;
}

EchoAuthority::MacContext EchoAuthority::keyed_context(
    std::span<const std::uint8_t, 32> secret) noexcept {
    EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (hmac == nullptr) return nullptr;
    MacContext context(EVP_MAC_CTX_new(hmac));
    EVP_MAC_free(hmac);  // the context holds its own reference
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                           OSSL_PARAM_construct_end()};
    if (!context || EVP_MAC_init(context.get(), secret.data(), secret.size(), params) != 1)
        return nullptr;
    return context;
}

// Re-initialising a keyed context reuses its key schedule: about 5x cheaper than HMAC().
bool EchoAuthority::compute(evp_mac_ctx_st* key, Bytes input, Digest& digest) noexcept {
    std::size_t length = 0;
    return EVP_MAC_init(key, nullptr, 0, nullptr) == 1 &&
           EVP_MAC_update(key, input.data(), input.size()) == 1 &&
           EVP_MAC_final(key, digest.data(), &length, digest.size()) == 1 &&
           length == digest.size();
}

bool EchoAuthority::mac_matches(evp_mac_ctx_st* key, std::uint64_t stamp, const Endpoint& peer,
                                Bytes value) noexcept {
    Digest digest;
    auto input = mac_input(stamp, peer);
    return compute(key, input, digest) &&
           CRYPTO_memcmp(digest.data(), value.data() + mac_offset, mac_size) == 0;
}

std::uint64_t EchoAuthority::stamp_at(TimePoint now) const noexcept {
    auto since_epoch = std::chrono::floor<std::chrono::milliseconds>(now.time_since_epoch());
    // Unsigned arithmetic: wraps instead of overflowing; only differences matter.
    return static_cast<std::uint64_t>(since_epoch.count()) + offset_ms_;
}

std::size_t EchoAuthority::make(const Endpoint& peer, TimePoint now,
                                std::span<std::uint8_t, max_echo_size> out) const noexcept {
    if (!current_) return 0;
    std::uint64_t stamp = stamp_at(now);
    Digest digest;
    if (!compute(current_.get(), mac_input(stamp, peer), digest)) return 0;
    out[0] = format_version;
    put_big_endian(&out[stamp_offset], stamp & 0xffffffffu, 4);
    std::memcpy(&out[mac_offset], digest.data(), mac_size);
    return echo_value_size;
}

bool EchoAuthority::verify(const Endpoint& peer, Bytes value, TimePoint now) const noexcept {
    if (!current_ || value.size() != echo_value_size || value[0] != format_version) return false;
    std::uint64_t now_stamp = stamp_at(now);
    auto low = static_cast<std::uint32_t>(get_big_endian(&value[stamp_offset], 4));
    // The age modulo 2^32, read as signed: the full t0 is the one nearest to now. A value older
    // than 2^31 ms extends to the wrong t0 and fails the MAC, so the 32-bit wrap cannot make an
    // old value fresh again.
    auto age_ms = static_cast<std::int32_t>(static_cast<std::uint32_t>(now_stamp) - low);
    auto skew_ms = std::chrono::duration_cast<std::chrono::milliseconds>(echo_clock_skew).count();
    // RFC 9175 §2.3: fresh when t1 - t0 is within the threshold T.
    if (age_ms > freshness_ms_ || age_ms < -skew_ms) return false;
    std::uint64_t stamp = now_stamp - static_cast<std::uint64_t>(static_cast<std::int64_t>(age_ms));
    if (mac_matches(current_.get(), stamp, peer, value)) return true;
    return previous_ && now <= previous_until_ && mac_matches(previous_.get(), stamp, peer, value);
}

bool EchoAuthority::rotate(std::span<const std::uint8_t, 32> new_secret, TimePoint now) noexcept {
    MacContext next = keyed_context(new_secret);
    if (!next || !current_) return false;
    previous_ = std::move(current_);
    current_ = std::move(next);
    previous_until_ = now + freshness();
    return true;
}

bool exceeds_amplification_limit(std::size_t request_size, std::size_t response_size,
                                 unsigned factor) noexcept {
    // response > factor * request, without overflowing the product.
    if (factor != 0 && request_size > SIZE_MAX / factor) return false;
    return response_size > request_size * factor;
}

}  // namespace coap::detail
