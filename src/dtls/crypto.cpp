// The TLS 1.2 key schedule over OpenSSL's HMAC-SHA-256 (EVP_MAC): RFC 5246 §5, §6.3, §7.4.9,
// §8.1; RFC 4279 §2; RFC 7627 §4. Handshake-time code: it may allocate inside OpenSSL.
#include "dtls/crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstring>

namespace coap::dtls {

void secure_wipe(MutableBytes bytes) noexcept {
    if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
}

bool random_bytes(MutableBytes out) noexcept {
    if (out.size() > static_cast<std::size_t>(INT_MAX)) return false;
    return out.empty() || RAND_bytes(out.data(), static_cast<int>(out.size())) == 1;
}

namespace {

// HMAC-SHA-256 with one EVP_MAC_CTX reused for every block of a PRF call.
class HmacSha256 {
  public:
    HmacSha256() noexcept
        : mac_(EVP_MAC_fetch(nullptr, "HMAC", nullptr)),
          ctx_(mac_ != nullptr ? EVP_MAC_CTX_new(mac_) : nullptr) {}
    ~HmacSha256() {
        EVP_MAC_CTX_free(ctx_);
        EVP_MAC_free(mac_);
    }
    HmacSha256(const HmacSha256&) = delete;
    HmacSha256& operator=(const HmacSha256&) = delete;

    bool valid() const noexcept { return ctx_ != nullptr; }

    bool begin(Bytes key) noexcept {
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
            OSSL_PARAM_construct_end(),
        };
        // A null key would mean "keep the previous key"; an empty secret is still a key.
        static constexpr std::uint8_t no_key = 0;
        return EVP_MAC_init(ctx_, key.empty() ? &no_key : key.data(), key.size(), params) == 1;
    }
    bool update(Bytes data) noexcept {
        return data.empty() || EVP_MAC_update(ctx_, data.data(), data.size()) == 1;
    }
    bool finish(std::span<std::uint8_t, sha256_size> out) noexcept {
        std::size_t written = 0;
        return EVP_MAC_final(ctx_, out.data(), &written, out.size()) == 1 && written == sha256_size;
    }

  private:
    EVP_MAC* mac_;
    EVP_MAC_CTX* ctx_;
};

}  // namespace

// RFC 5246 §5: A(0) = label + seed, A(i) = HMAC(secret, A(i-1)),
// P_SHA256 = HMAC(secret, A(1) + label + seed) + HMAC(secret, A(2) + label + seed) + ...
bool prf_sha256(Bytes secret, std::string_view label, Bytes seed, MutableBytes out) noexcept {
    HmacSha256 hmac;
    if (!hmac.valid()) return false;
    const Bytes label_bytes = as_bytes(label);
    std::array<std::uint8_t, sha256_size> a{};
    std::array<std::uint8_t, sha256_size> block{};
    bool ok = hmac.begin(secret) && hmac.update(label_bytes) && hmac.update(seed) && hmac.finish(a);
    std::size_t done = 0;
    while (ok && done < out.size()) {
        ok = hmac.begin(secret) && hmac.update(a) && hmac.update(label_bytes) &&
             hmac.update(seed) && hmac.finish(block);
        const std::size_t take = std::min(block.size(), out.size() - done);
        if (ok) std::memcpy(out.data() + done, block.data(), take);
        done += take;
        if (ok && done < out.size()) ok = hmac.begin(secret) && hmac.update(a) && hmac.finish(a);
    }
    secure_wipe(a);
    secure_wipe(block);
    if (!ok) secure_wipe(out);
    return ok;
}

std::size_t psk_premaster_secret(Bytes psk, MutableBytes out) noexcept {
    const std::size_t n = psk.size();
    const std::size_t size = 4 + 2 * n;
    if (n == 0 || n > max_psk_size || out.size() < size) return 0;
    // other_secret<0..2^16-1> is N zeros for plain PSK, then psk<0..2^16-1>.
    out[0] = static_cast<std::uint8_t>(n >> 8);
    out[1] = static_cast<std::uint8_t>(n);
    std::memset(out.data() + 2, 0, n);
    out[2 + n] = static_cast<std::uint8_t>(n >> 8);
    out[3 + n] = static_cast<std::uint8_t>(n);
    std::memcpy(out.data() + 4 + n, psk.data(), n);
    return size;
}

bool derive_master_secret(Bytes premaster, Bytes client_random, Bytes server_random,
                          MasterSecret& out) noexcept {
    if (client_random.size() != random_size || server_random.size() != random_size) return false;
    std::array<std::uint8_t, 2 * random_size> seed{};
    std::memcpy(seed.data(), client_random.data(), random_size);
    std::memcpy(seed.data() + random_size, server_random.data(), random_size);
    return prf_sha256(premaster, "master secret", seed, out.bytes);
}

bool derive_extended_master_secret(Bytes premaster, Bytes session_hash,
                                   MasterSecret& out) noexcept {
    return prf_sha256(premaster, "extended master secret", session_hash, out.bytes);
}

bool derive_key_block(const CipherSuite& suite, const MasterSecret& master, Bytes client_random,
                      Bytes server_random, KeyBlock& out) noexcept {
    if (client_random.size() != random_size || server_random.size() != random_size) return false;
    if (suite.key_size > max_key_size || suite.fixed_iv_size > max_fixed_iv_size) return false;
    if (suite.mac_key_size > max_mac_key_size) return false;
    // The seed order is the reverse of the master secret's (RFC 5246 §6.3).
    std::array<std::uint8_t, 2 * random_size> seed{};
    std::memcpy(seed.data(), server_random.data(), random_size);
    std::memcpy(seed.data() + random_size, client_random.data(), random_size);
    Secret<max_key_block_size> block;
    const std::size_t size = key_block_size(suite);
    if (!prf_sha256(master.view(), "key expansion", seed, MutableBytes(block.bytes).first(size)))
        return false;
    // client_write_MAC_key, server_write_MAC_key, client_write_key, server_write_key,
    // client_write_IV, server_write_IV.
    const std::uint8_t* p = block.bytes.data() + 2 * suite.mac_key_size;
    std::memcpy(out.client_write.key.data(), p, suite.key_size);
    p += suite.key_size;
    std::memcpy(out.server_write.key.data(), p, suite.key_size);
    p += suite.key_size;
    std::memcpy(out.client_write.iv.data(), p, suite.fixed_iv_size);
    p += suite.fixed_iv_size;
    std::memcpy(out.server_write.iv.data(), p, suite.fixed_iv_size);
    return true;
}

bool finished_verify_data(const MasterSecret& master, Sender sender, Bytes handshake_hash,
                          std::span<std::uint8_t, verify_data_size> out) noexcept {
    const std::string_view label = sender == Sender::client ? "client finished" : "server finished";
    return prf_sha256(master.view(), label, handshake_hash, out);
}

}  // namespace coap::dtls
