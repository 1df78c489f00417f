// Known-answer and cross-check tests for the DTLS crypto primitives: the TLS 1.2 PRF (RFC 5246
// §5) against the published vector and OpenSSL's TLS1-PRF KDF, the PSK premaster secret
// (RFC 4279 §2), master/extended master secret, key block and verify_data (RFC 5246 §6.3,
// §7.4.9, §8.1; RFC 7627 §4), the transcript hash, and AES-CCM against RFC 3610 §8 and NIST
// SP 800-38C Appendix C; plus a check that sealing and opening allocate nothing in OpenSSL and
// a timing printout for 100-byte records.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "dtls/ccm.hpp"
#include "dtls/crypto.hpp"
#include "dtls/transcript_hash.hpp"

namespace {

// Counts OpenSSL's heap allocations. Installed before main(), before OpenSSL allocates.
std::atomic<std::size_t> openssl_allocations{0};
void* counting_malloc(std::size_t size, const char*, int) {
    ++openssl_allocations;
    return std::malloc(size);
}
void* counting_realloc(void* p, std::size_t size, const char*, int) {
    ++openssl_allocations;
    return std::realloc(p, size);
}
void counting_free(void* p, const char*, int) {
    std::free(p);
}
const bool allocation_hooks =
    CRYPTO_set_mem_functions(counting_malloc, counting_realloc, counting_free) == 1;

}  // namespace

namespace coap::dtls {
namespace {

using Buffer = std::vector<std::uint8_t>;

Buffer hex(std::string_view text) {
    Buffer out;
    for (std::size_t i = 0; i + 1 < text.size(); i += 2)
        out.push_back(
            static_cast<std::uint8_t>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16)));
    return out;
}

Buffer concat(Bytes a, Bytes b) {
    Buffer out(a.begin(), a.end());
    out.insert(out.end(), b.begin(), b.end());
    return out;
}

// The reference: OpenSSL's own TLS 1.2 PRF (EVP_KDF "TLS1-PRF"), seed = label + seed.
Buffer openssl_prf(Bytes secret, std::string_view label, Bytes seed, std::size_t size) {
    EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "TLS1-PRF", nullptr);
    EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET,
                                          const_cast<std::uint8_t*>(secret.data()), secret.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, const_cast<char*>(label.data()),
                                          label.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED,
                                          const_cast<std::uint8_t*>(seed.data()), seed.size()),
        OSSL_PARAM_construct_end(),
    };
    Buffer out(size);
    const int ok = EVP_KDF_derive(ctx, out.data(), out.size(), params);
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    EXPECT_EQ(ok, 1);
    return out;
}

Buffer our_prf(Bytes secret, std::string_view label, Bytes seed, std::size_t size) {
    Buffer out(size);
    EXPECT_TRUE(prf_sha256(secret, label, seed, out));
    return out;
}

TEST(DtlsPrf, MatchesThePublishedSha256Vector) {
    const Buffer secret = hex("9bbe436ba940f017b17652849a71db35");
    const Buffer seed = hex("a0ba9f936cda311827a6f796ffd5198c");
    const Buffer expected = hex(
        "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e"
        "14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5"
        "a72e5a5110fff70187347b66");
    ASSERT_EQ(expected.size(), 100u);
    EXPECT_EQ(our_prf(secret, "test label", seed, 100), expected);
    EXPECT_EQ(openssl_prf(secret, "test label", seed, 100), expected);
}

TEST(DtlsPrf, AgreesWithOpenSslKdfForManySizes) {
    const Buffer secret = hex("000102030405060708090a0b0c0d0e0f1011121314151617");
    const Buffer seed = hex("f0e1d2c3b4a5968778695a4b3c2d1e0f");
    for (std::size_t size : {1u, 12u, 31u, 32u, 33u, 48u, 64u, 65u, 104u, 200u})
        EXPECT_EQ(our_prf(secret, "key expansion", seed, size),
                  openssl_prf(secret, "key expansion", seed, size))
            << size;
    // A long secret (longer than the SHA-256 block, so HMAC hashes it first).
    const Buffer long_secret(100, 0x5a);
    EXPECT_EQ(our_prf(long_secret, "x", seed, 40), openssl_prf(long_secret, "x", seed, 40));
}

TEST(DtlsPrf, EmptyOutputIsFine) {
    const Buffer secret = hex("01");
    EXPECT_TRUE(prf_sha256(secret, "label", {}, {}));
}

TEST(DtlsKeySchedule, PskPremasterSecretLayout) {
    std::array<std::uint8_t, max_premaster_size> out{};
    ASSERT_EQ(psk_premaster_secret(as_bytes("abc"), out), 10u);
    EXPECT_EQ(Buffer(out.begin(), out.begin() + 10), hex("00030000000003616263"));

    const Buffer psk64(64, 0xab);
    ASSERT_EQ(psk_premaster_secret(psk64, out), 132u);
    EXPECT_EQ(out[0], 0);
    EXPECT_EQ(out[1], 64);
    for (std::size_t i = 2; i < 66; ++i)
        EXPECT_EQ(out[i], 0) << i;
    EXPECT_EQ(out[66], 0);
    EXPECT_EQ(out[67], 64);
    EXPECT_EQ(Buffer(out.begin() + 68, out.begin() + 132), psk64);
}

TEST(DtlsKeySchedule, PskPremasterSecretRejectsBadSizes) {
    std::array<std::uint8_t, max_premaster_size> out{};
    EXPECT_EQ(psk_premaster_secret({}, out), 0u);
    const Buffer too_long(max_psk_size + 1, 1);
    EXPECT_EQ(psk_premaster_secret(too_long, out), 0u);
    const Buffer longest(max_psk_size, 1);
    EXPECT_EQ(psk_premaster_secret(longest, out), max_premaster_size);
    std::array<std::uint8_t, 9> small{};
    EXPECT_EQ(psk_premaster_secret(as_bytes("abc"), small), 0u);
}

struct HandshakeInputs {
    Buffer premaster = hex("00040000000000040102030405");
    Buffer client_random = Buffer(32, 0x11);
    Buffer server_random = Buffer(32, 0x22);
};

TEST(DtlsKeySchedule, MasterSecretIsThePrfOverBothRandoms) {
    HandshakeInputs in;
    for (std::size_t i = 0; i < 32; ++i)
        in.client_random[i] = static_cast<std::uint8_t>(i);
    MasterSecret master;
    ASSERT_TRUE(derive_master_secret(in.premaster, in.client_random, in.server_random, master));
    const Buffer expected =
        openssl_prf(in.premaster, "master secret", concat(in.client_random, in.server_random), 48);
    EXPECT_EQ(Buffer(master.bytes.begin(), master.bytes.end()), expected);
    EXPECT_FALSE(derive_master_secret(in.premaster, Bytes(in.client_random).first(31),
                                      in.server_random, master));
}

TEST(DtlsKeySchedule, ExtendedMasterSecretUsesTheSessionHash) {
    HandshakeInputs in;
    const Buffer session_hash =
        hex("a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf");
    MasterSecret master;
    ASSERT_TRUE(derive_extended_master_secret(in.premaster, session_hash, master));
    EXPECT_EQ(Buffer(master.bytes.begin(), master.bytes.end()),
              openssl_prf(in.premaster, "extended master secret", session_hash, 48));
    MasterSecret classic;
    ASSERT_TRUE(derive_master_secret(in.premaster, in.client_random, in.server_random, classic));
    EXPECT_NE(master.bytes, classic.bytes);
}

TEST(DtlsKeySchedule, KeyBlockIsCutInRfcOrder) {
    HandshakeInputs in;
    MasterSecret master;
    for (std::size_t i = 0; i < master.bytes.size(); ++i)
        master.bytes[i] = static_cast<std::uint8_t>(0x80 + i);
    KeyBlock keys;
    ASSERT_TRUE(derive_key_block(tls_psk_with_aes_128_ccm_8, master, in.client_random,
                                 in.server_random, keys));
    ASSERT_EQ(key_block_size(tls_psk_with_aes_128_ccm_8), 40u);
    // Seed: server_random + client_random. No MAC keys; two 16-byte keys, two 4-byte IVs.
    const Buffer block =
        openssl_prf(master.view(), "key expansion", concat(in.server_random, in.client_random), 40);
    EXPECT_EQ(Buffer(keys.client_write.key.begin(), keys.client_write.key.begin() + 16),
              Buffer(block.begin(), block.begin() + 16));
    EXPECT_EQ(Buffer(keys.server_write.key.begin(), keys.server_write.key.begin() + 16),
              Buffer(block.begin() + 16, block.begin() + 32));
    EXPECT_EQ(Buffer(keys.client_write.iv.begin(), keys.client_write.iv.begin() + 4),
              Buffer(block.begin() + 32, block.begin() + 36));
    EXPECT_EQ(Buffer(keys.server_write.iv.begin(), keys.server_write.iv.begin() + 4),
              Buffer(block.begin() + 36, block.begin() + 40));
}

TEST(DtlsKeySchedule, VerifyDataUsesTheSenderLabel) {
    MasterSecret master;
    master.bytes.fill(0x42);
    const Buffer hash(32, 0x99);
    std::array<std::uint8_t, verify_data_size> client{};
    std::array<std::uint8_t, verify_data_size> server{};
    ASSERT_TRUE(finished_verify_data(master, Sender::client, hash, client));
    ASSERT_TRUE(finished_verify_data(master, Sender::server, hash, server));
    EXPECT_EQ(Buffer(client.begin(), client.end()),
              openssl_prf(master.view(), "client finished", hash, 12));
    EXPECT_EQ(Buffer(server.begin(), server.end()),
              openssl_prf(master.view(), "server finished", hash, 12));
}

TEST(DtlsCryptoUtil, SecureWipeZeroesAndRandomBytesAreRandom) {
    std::array<std::uint8_t, 32> a{};
    std::array<std::uint8_t, 32> b{};
    ASSERT_TRUE(random_bytes(a));
    ASSERT_TRUE(random_bytes(b));
    EXPECT_NE(a, b);
    secure_wipe(a);
    EXPECT_EQ(a, (std::array<std::uint8_t, 32>{}));
    EXPECT_TRUE(random_bytes({}));
}

std::array<std::uint8_t, sha256_size> sha256_once(Bytes data) {
    std::array<std::uint8_t, sha256_size> out{};
    unsigned int size = 0;
    EXPECT_EQ(EVP_Digest(data.data(), data.size(), out.data(), &size, EVP_sha256(), nullptr), 1);
    return out;
}

TEST(DtlsTranscriptHash, SnapshotsDoNotDisturbTheRunningHash) {
    TranscriptHash transcript;
    ASSERT_TRUE(transcript.valid());
    std::array<std::uint8_t, sha256_size> digest{};
    ASSERT_TRUE(transcript.snapshot(digest));
    EXPECT_EQ(Buffer(digest.begin(), digest.end()),
              hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    ASSERT_TRUE(transcript.update(as_bytes("ab")));
    ASSERT_TRUE(transcript.snapshot(digest));
    EXPECT_EQ(digest, sha256_once(as_bytes("ab")));
    ASSERT_TRUE(transcript.update(as_bytes("c")));
    ASSERT_TRUE(transcript.snapshot(digest));
    EXPECT_EQ(Buffer(digest.begin(), digest.end()),
              hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    ASSERT_TRUE(transcript.snapshot(digest));  // twice in a row: same answer
    EXPECT_EQ(digest, sha256_once(as_bytes("abc")));

    TranscriptHash moved = std::move(transcript);
    ASSERT_TRUE(moved.update(as_bytes("d")));
    ASSERT_TRUE(moved.snapshot(digest));
    EXPECT_EQ(digest, sha256_once(as_bytes("abcd")));
    ASSERT_TRUE(moved.reset());
    ASSERT_TRUE(moved.update(as_bytes("xyz")));
    ASSERT_TRUE(moved.snapshot(digest));
    EXPECT_EQ(digest, sha256_once(as_bytes("xyz")));
}

struct CcmVector {
    int number;
    const char* key;
    const char* nonce;
    const char* aad;
    const char* plaintext;
    const char* sealed;  // ciphertext + tag
};

// RFC 3610 §8, packet vectors #1-#24 (13-byte nonces; tags of 8 or 10 bytes).
constexpr CcmVector rfc3610_vectors[] = {
    {1, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000003020100a0a1a2a3a4a5", "0001020304050607",
     "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e",
     "588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0"},
    {2, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000004030201a0a1a2a3a4a5", "0001020304050607",
     "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "72c91a36e135f8cf291ca894085c87e3cc15c439c9e43a3ba091d56e10400916"},
    {3, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000005040302a0a1a2a3a4a5", "0001020304050607",
     "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
     "51b1e5f44a197d1da46b0f8e2d282ae871e838bb64da8596574adaa76fbd9fb0c5"},
    {4, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000006050403a0a1a2a3a4a5",
     "000102030405060708090a0b", "0c0d0e0f101112131415161718191a1b1c1d1e",
     "a28c6865939a9a79faaa5c4c2a9d4a91cdac8c96c861b9c9e61ef1"},
    {5, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000007060504a0a1a2a3a4a5",
     "000102030405060708090a0b", "0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "dcf1fb7b5d9e23fb9d4e131253658ad86ebdca3e51e83f077d9c2d93"},
    {6, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000008070605a0a1a2a3a4a5",
     "000102030405060708090a0b", "0c0d0e0f101112131415161718191a1b1c1d1e1f20",
     "6fc1b011f006568b5171a42d953d469b2570a4bd87405a0443ac91cb94"},
    {7, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000009080706a0a1a2a3a4a5", "0001020304050607",
     "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e",
     "0135d1b2c95f41d5d1d4fec185d166b8094e999dfed96c048c56602c97acbb7490"},
    {8, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "0000000a090807a0a1a2a3a4a5", "0001020304050607",
     "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "7b75399ac0831dd2f0bbd75879a2fd8f6cae6b6cd9b7db24c17b4433f434963f34b4"},
    {9, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "0000000b0a0908a0a1a2a3a4a5", "0001020304050607",
     "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
     "82531a60cc24945a4b8279181ab5c84df21ce7f9b73f42e197ea9c07e56b5eb17e5f4e"},
    {10, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "0000000c0b0a09a0a1a2a3a4a5",
     "000102030405060708090a0b", "0c0d0e0f101112131415161718191a1b1c1d1e",
     "07342594157785152b074098330abb141b947b566aa9406b4d999988dd"},
    {11, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "0000000d0c0b0aa0a1a2a3a4a5",
     "000102030405060708090a0b", "0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "676bb20380b0e301e8ab79590a396da78b834934f53aa2e9107a8b6c022c"},
    {12, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "0000000e0d0c0ba0a1a2a3a4a5",
     "000102030405060708090a0b", "0c0d0e0f101112131415161718191a1b1c1d1e1f20",
     "c0ffa0d6f05bdb67f24d43a4338d2aa4bed7b20e43cd1aa31662e7ad65d6db"},
    {13, "d7828d13b2b0bdc325a76236df93cc6b", "00412b4ea9cdbe3c9696766cfa", "0be1a88bace018b1",
     "08e8cf97d820ea258460e96ad9cf5289054d895ceac47c",
     "4cb97f86a2a4689a877947ab8091ef5386a6ffbdd080f8e78cf7cb0cddd7b3"},
    {14, "d7828d13b2b0bdc325a76236df93cc6b", "0033568ef7b2633c9696766cfa", "63018f76dc8a1bcb",
     "9020ea6f91bdd85afa0039ba4baff9bfb79c7028949cd0ec",
     "4ccb1e7ca981befaa0726c55d378061298c85c92814abc33c52ee81d7d77c08a"},
    {15, "d7828d13b2b0bdc325a76236df93cc6b", "00103fe41336713c9696766cfa", "aa6cfa36cae86b40",
     "b916e0eacc1c00d7dcec68ec0b3bbb1a02de8a2d1aa346132e",
     "b1d23a2220ddc0ac900d9aa03c61fcf4a559a4417767089708a776796edb723506"},
    {16, "d7828d13b2b0bdc325a76236df93cc6b", "00764c63b8058e3c9696766cfa",
     "d0d0735c531e1becf049c244", "12daac5630efa5396f770ce1a66b21f7b2101c",
     "14d253c3967b70609b7cbb7c499160283245269a6f49975bcadeaf"},
    {17, "d7828d13b2b0bdc325a76236df93cc6b", "00f8b678094e3b3c9696766cfa",
     "77b60f011c03e1525899bcae", "e88b6a46c78d63e52eb8c546efb5de6f75e9cc0d",
     "5545ff1a085ee2efbf52b2e04bee1e2336c73e3f762c0c7744fe7e3c"},
    {18, "d7828d13b2b0bdc325a76236df93cc6b", "00d560912d3f703c9696766cfa",
     "cd9044d2b71fdb8120ea60c0", "6435acbafb11a82e2f071d7ca4a5ebd93a803ba87f",
     "009769ecabdf48625594c59251e6035722675e04c847099e5ae0704551"},
    {19, "d7828d13b2b0bdc325a76236df93cc6b", "0042fff8f1951c3c9696766cfa", "d85bc7e69f944fb8",
     "8a19b950bcf71a018e5e6701c91787659809d67dbedd18",
     "bc218daa947427b6db386a99ac1aef23ade0b52939cb6a637cf9bec2408897c6ba"},
    {20, "d7828d13b2b0bdc325a76236df93cc6b", "00920f40e56cdc3c9696766cfa", "74a0ebc9069f5b37",
     "1761433c37c5a35fc1f39f406302eb907c6163be38c98437",
     "5810e6fd25874022e80361a478e3e9cf484ab04f447efff6f0a477cc2fc9bf548944"},
    {21, "d7828d13b2b0bdc325a76236df93cc6b", "0027ca0c7120bc3c9696766cfa", "44a3aa3aae6475ca",
     "a434a8e58500c6e41530538862d686ea9e81301b5ae4226bfa",
     "f2beed7bc5098e83feb5b31608f8e29c38819a89c8e776f1544d4151a4ed3a8b87b9ce"},
    {22, "d7828d13b2b0bdc325a76236df93cc6b", "005b8ccbcd9af83c9696766cfa",
     "ec46bb63b02520c33c49fd70", "b96b49e21d621741632875db7f6c9243d2d7c2",
     "31d750a09da3ed7fddd49a2032aabf17ec8ebf7d22c8088c666be5c197"},
    {23, "d7828d13b2b0bdc325a76236df93cc6b", "003ebe94044b9a3c9696766cfa",
     "47a65ac78b3d594227e85e71", "e2fcfbb880442c731bf95167c8ffd7895e337076",
     "e882f1dbd38ce3eda7c23f04dd65071eb41342acdf7e00dccec7ae52987d"},
    {24, "d7828d13b2b0bdc325a76236df93cc6b", "008d493b30ae8b3c9696766cfa",
     "6e37a6ef546d955d34ab6059", "abf21c0b02feb88f856df4a37381bce3cc128517d4",
     "f32905b88a641b04b9c9ffb58cc390900f3da12ab16dce9e82efa16da62059"},
};

// NIST SP 800-38C Appendix C, examples 1-3 (example 3: 12-byte nonce and 8-byte tag as in TLS).
constexpr CcmVector sp800_38c_vectors[] = {
    {1, "404142434445464748494a4b4c4d4e4f", "10111213141516", "0001020304050607", "20212223",
     "7162015b4dac255d"},
    {2, "404142434445464748494a4b4c4d4e4f", "1011121314151617", "000102030405060708090a0b0c0d0e0f",
     "202122232425262728292a2b2c2d2e2f", "d2a1f0e051ea5f62081a7792073d593d1fc64fbfaccd"},
    {3, "404142434445464748494a4b4c4d4e4f", "101112131415161718191a1b",
     "000102030405060708090a0b0c0d0e0f10111213", "202122232425262728292a2b2c2d2e2f3031323334353637",
     "e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951"},
};

void check_vector(CcmContext& ccm, const CcmVector& v) {
    const Buffer key = hex(v.key), nonce = hex(v.nonce), aad = hex(v.aad);
    const Buffer plaintext = hex(v.plaintext), sealed = hex(v.sealed);
    const std::size_t tag_size = sealed.size() - plaintext.size();
    Buffer out(sealed.size());
    ASSERT_TRUE(ccm.seal(key, nonce, aad, plaintext, out, tag_size)) << v.number;
    EXPECT_EQ(out, sealed) << v.number;
    Buffer opened(plaintext.size());
    ASSERT_TRUE(ccm.open(key, nonce, aad, sealed, opened, tag_size)) << v.number;
    EXPECT_EQ(opened, plaintext) << v.number;
    Buffer forged = sealed;
    forged.back() ^= 0x01;
    EXPECT_FALSE(ccm.open(key, nonce, aad, forged, opened, tag_size)) << v.number;
}

TEST(DtlsCcm, Rfc3610PacketVectors) {
    CcmContext ccm;
    ASSERT_TRUE(ccm.valid());
    for (const CcmVector& v : rfc3610_vectors)
        check_vector(ccm, v);
}

TEST(DtlsCcm, NistSp80038cExamples) {
    CcmContext ccm;
    for (const CcmVector& v : sp800_38c_vectors)
        check_vector(ccm, v);
}

TEST(DtlsCcm, AnyFlippedBitFailsAndZeroesTheOutput) {
    CcmContext ccm;
    const Buffer key(16, 0x01), nonce(12, 0x02), aad = hex("0102030405");
    const Buffer plaintext(40, 0x33);
    Buffer sealed(48);
    ASSERT_TRUE(ccm.seal(key, nonce, aad, plaintext, sealed));
    for (std::size_t bit = 0; bit < sealed.size() * 8; ++bit) {
        Buffer forged = sealed;
        forged[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
        Buffer out(40, 0xee);
        EXPECT_FALSE(ccm.open(key, nonce, aad, forged, out)) << bit;
        EXPECT_EQ(out, Buffer(40, 0)) << bit;
    }
    Buffer out(40);
    Buffer other_aad = aad;
    other_aad[0] ^= 0x80;
    EXPECT_FALSE(ccm.open(key, nonce, other_aad, sealed, out));
    Buffer other_nonce = nonce;
    other_nonce[11] ^= 0x01;
    EXPECT_FALSE(ccm.open(key, other_nonce, aad, sealed, out));
    EXPECT_TRUE(ccm.open(key, nonce, aad, sealed, out));  // the context still works
    EXPECT_EQ(out, plaintext);
}

TEST(DtlsCcm, EmptyPlaintextAndAadStillAuthenticate) {
    CcmContext ccm;
    const Buffer key(16, 0x07), nonce(12, 0x08), aad = hex("aa");
    Buffer tag(8);
    ASSERT_TRUE(ccm.seal(key, nonce, aad, {}, tag));
    EXPECT_TRUE(ccm.open(key, nonce, aad, tag, {}));
    Buffer forged = tag;
    forged[0] ^= 1;
    EXPECT_FALSE(ccm.open(key, nonce, aad, forged, {}));
    EXPECT_FALSE(ccm.open(key, nonce, {}, tag, {}));

    const Buffer plaintext = hex("0001020304");
    Buffer sealed(13);
    ASSERT_TRUE(ccm.seal(key, nonce, {}, plaintext, sealed));
    Buffer out(5);
    EXPECT_TRUE(ccm.open(key, nonce, {}, sealed, out));
    EXPECT_EQ(out, plaintext);
    EXPECT_FALSE(ccm.open(key, nonce, aad, sealed, out));
}

TEST(DtlsCcm, SealsAndOpensInPlace) {
    CcmContext ccm;
    const Buffer key(16, 0x01), nonce(12, 0x02), aad = hex("0102");
    const Buffer plaintext = hex("00112233445566778899aabbccddeeff0102030405");
    Buffer separate(plaintext.size() + 8);
    ASSERT_TRUE(ccm.seal(key, nonce, aad, plaintext, separate));
    Buffer buffer = plaintext;
    buffer.resize(plaintext.size() + 8);
    ASSERT_TRUE(ccm.seal(key, nonce, aad, Bytes(buffer).first(plaintext.size()), buffer));
    EXPECT_EQ(buffer, separate);
    ASSERT_TRUE(ccm.open(key, nonce, aad, buffer, buffer));
    EXPECT_EQ(Buffer(buffer.begin(), buffer.begin() + plaintext.size()), plaintext);
}

TEST(DtlsCcm, RejectsBadSizes) {
    CcmContext ccm;
    const Buffer key(16), nonce(12), plaintext(10);
    Buffer out(18);
    EXPECT_FALSE(ccm.seal(Buffer(32), nonce, {}, plaintext, out));
    EXPECT_FALSE(ccm.seal(key, Buffer(6), {}, plaintext, out));
    EXPECT_FALSE(ccm.seal(key, Buffer(14), {}, plaintext, out));
    EXPECT_FALSE(ccm.seal(key, nonce, {}, plaintext, out, 7));
    EXPECT_FALSE(ccm.seal(key, nonce, {}, plaintext, out, 18));
    EXPECT_FALSE(ccm.seal(key, nonce, {}, plaintext, MutableBytes(out).first(17)));
    ASSERT_TRUE(ccm.seal(key, nonce, {}, plaintext, out));
    Buffer opened(9);
    EXPECT_FALSE(ccm.open(key, nonce, {}, out, opened));
    EXPECT_FALSE(ccm.open(key, nonce, {}, Bytes(out).first(7), opened));
    CcmContext moved_from;
    CcmContext moved = std::move(moved_from);
    EXPECT_TRUE(moved.valid());
    EXPECT_FALSE(moved_from.valid());  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_FALSE(moved_from.seal(key, nonce, {}, plaintext, out));
}

// The context skips re-sending an unchanged key, nonce length or tag length; interleaving keys,
// sizes and directions must give what a fresh context gives.
TEST(DtlsCcm, ReusedContextMatchesFreshContexts) {
    CcmContext reused;
    const Buffer keys[] = {Buffer(16, 0x01), Buffer(16, 0x02)};
    const Buffer nonces[] = {Buffer(12, 0x03), Buffer(13, 0x04), Buffer(7, 0x05)};
    const Buffer aad = hex("0102"), plaintext = hex("000102030405060708090a0b0c0d0e0f10");
    for (int round = 0; round < 24; ++round) {
        const Buffer& key = keys[round % 2];
        const Buffer& nonce = nonces[(round / 2) % 3];
        const std::size_t tag_size = round % 4 < 2 ? 8 : 16;
        Buffer expected(plaintext.size() + tag_size), sealed(plaintext.size() + tag_size);
        CcmContext fresh;
        ASSERT_TRUE(fresh.seal(key, nonce, aad, plaintext, expected, tag_size));
        ASSERT_TRUE(reused.seal(key, nonce, aad, plaintext, sealed, tag_size)) << round;
        EXPECT_EQ(sealed, expected) << round;
        Buffer opened(plaintext.size());
        if (round % 3 == 0) {  // a forged record in between must not disturb what follows
            Buffer forged = sealed;
            forged[0] ^= 1;
            EXPECT_FALSE(reused.open(key, nonce, aad, forged, opened, tag_size));
        }
        ASSERT_TRUE(reused.open(key, nonce, aad, sealed, opened, tag_size)) << round;
        EXPECT_EQ(opened, plaintext) << round;
        EXPECT_FALSE(reused.open(keys[(round + 1) % 2], nonce, aad, sealed, opened, tag_size));
    }
}

TEST(DtlsCcm, SealAndOpenAllocateNothingAfterSetUp) {
    if (!allocation_hooks) GTEST_SKIP() << "OpenSSL allocated before the hooks were installed";
    CcmContext ccm;
    const Buffer key(16, 0x01), nonce(12, 0x02), aad(13, 0x03), plaintext(100, 0x04);
    Buffer sealed(108), opened(100);
    ASSERT_TRUE(ccm.seal(key, nonce, aad, plaintext, sealed));  // warm up
    ASSERT_TRUE(ccm.open(key, nonce, aad, sealed, opened));
    std::size_t before = openssl_allocations.load();
    for (int i = 0; i < 100; ++i) {
        ASSERT_TRUE(ccm.seal(key, nonce, aad, plaintext, sealed));
        ASSERT_TRUE(ccm.open(key, nonce, aad, sealed, opened));
    }
    EXPECT_EQ(openssl_allocations.load(), before);

    // A forged record makes OpenSSL raise an error entry: a couple of small allocations, freed
    // again by ERR_clear_error. Bounded, and nothing on the success path.
    before = openssl_allocations.load();
    sealed[0] ^= 1;
    for (int i = 0; i < 100; ++i)
        ASSERT_FALSE(ccm.open(key, nonce, aad, sealed, opened));
    const std::size_t per_forgery = (openssl_allocations.load() - before) / 100;
    std::printf("OpenSSL allocations per forged record: %zu\n", per_forgery);
    EXPECT_LE(per_forgery, 2u);
}

TEST(DtlsCcm, TimingOf100ByteRecords) {
    CcmContext ccm;
    const Buffer key(16, 0x01), nonce(12, 0x02), aad(13, 0x03), plaintext(100, 0x04);
    Buffer sealed(108), opened(100);
    constexpr int rounds = 20000;
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    for (int i = 0; i < rounds; ++i)
        ASSERT_TRUE(ccm.seal(key, nonce, aad, plaintext, sealed));
    const auto t1 = Clock::now();
    for (int i = 0; i < rounds; ++i)
        ASSERT_TRUE(ccm.open(key, nonce, aad, sealed, opened));
    const auto t2 = Clock::now();
    const auto ns = [](auto d) {
        return std::chrono::duration<double, std::nano>(d).count() / rounds;
    };
    std::printf(
        "AES-128-CCM_8, 100-byte plaintext, 13-byte AAD: seal %.0f ns/op, open %.0f ns/op\n",
        ns(t1 - t0), ns(t2 - t1));
    EXPECT_EQ(opened, plaintext);
}

}  // namespace
}  // namespace coap::dtls
