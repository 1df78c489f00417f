// Cross-check against OpenSSL's own DTLS 1.2: a real PSK handshake with PSK-AES128-CCM8 and the
// extended master secret over a socketpair. Our PSK premaster secret (RFC 4279 §2), transcript
// hash over the messages with their DTLS headers (RFC 6347 §4.2.6), extended master secret
// (RFC 7627 §4), Finished verify_data (RFC 5246 §7.4.9) and key block (§6.3) must agree with
// what OpenSSL derived, we must open OpenSSL's application data record, and OpenSSL must read
// one we sealed (RFC 6655 §3 nonce, RFC 5246 §6.2.3.3 additional data).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <vector>

#include "dtls/crypto.hpp"
#include "dtls/record.hpp"
#include "dtls/transcript_hash.hpp"

namespace coap::dtls {
namespace {

using Buffer = std::vector<std::uint8_t>;

constexpr std::array<std::uint8_t, 16> psk = {1, 2,  3,  4,  5,  6,  7,  8,
                                              9, 10, 11, 12, 13, 14, 15, 16};

unsigned int client_psk(SSL*, const char*, char* identity, unsigned int max_identity,
                        unsigned char* key, unsigned int max_key) {
    if (max_key < psk.size()) return 0;
    std::snprintf(identity, max_identity, "Client_identity");
    std::memcpy(key, psk.data(), psk.size());
    return psk.size();
}

unsigned int server_psk(SSL*, const char*, unsigned char* key, unsigned int max_key) {
    if (max_key < psk.size()) return 0;
    std::memcpy(key, psk.data(), psk.size());
    return psk.size();
}

// Every handshake message the client sent or received, in order, with its 12-byte header.
std::vector<Buffer>& client_messages() {
    static std::vector<Buffer> messages;
    return messages;
}

void record_message(int, int, int content_type, const void* bytes, size_t size, SSL*, void*) {
    if (content_type != SSL3_RT_HANDSHAKE) return;
    const auto* p = static_cast<const std::uint8_t*>(bytes);
    client_messages().emplace_back(p, p + size);
}

BIO* datagram_bio(int fd) {
    BIO* bio = BIO_new_dgram(fd, BIO_NOCLOSE);
    sockaddr_storage peer{};
    peer.ss_family = AF_INET;  // a socketpair needs no address; "connected" makes BIO use send()
    BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &peer);
    return bio;
}

class OpenSslDtls : public ::testing::Test {
  protected:
    void SetUp() override {
        client_messages().clear();
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds_), 0);
        for (int fd : fds_)
            ASSERT_EQ(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
        client_ctx_ = SSL_CTX_new(DTLS_client_method());
        server_ctx_ = SSL_CTX_new(DTLS_server_method());
        for (SSL_CTX* ctx : {client_ctx_, server_ctx_}) {
            ASSERT_EQ(SSL_CTX_set_cipher_list(ctx, "PSK-AES128-CCM8"), 1);
            SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
            SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION);
        }
        SSL_CTX_set_psk_client_callback(client_ctx_, client_psk);
        SSL_CTX_set_psk_server_callback(server_ctx_, server_psk);
        client_ = SSL_new(client_ctx_);
        server_ = SSL_new(server_ctx_);
        for (auto [ssl, fd] : {std::pair{client_, fds_[0]}, std::pair{server_, fds_[1]}}) {
            BIO* bio = datagram_bio(fd);
            SSL_set_bio(ssl, bio, bio);
            SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
            SSL_set_mtu(ssl, 1400);
        }
        SSL_set_msg_callback(client_, record_message);
        SSL_set_connect_state(client_);
        SSL_set_accept_state(server_);
        for (int round = 0;
             round < 50 && !(SSL_is_init_finished(client_) && SSL_is_init_finished(server_));
             ++round) {
            SSL_do_handshake(client_);
            SSL_do_handshake(server_);
        }
        ASSERT_TRUE(SSL_is_init_finished(client_) && SSL_is_init_finished(server_));
        ASSERT_STREQ(SSL_get_cipher_name(client_), "PSK-AES128-CCM8");
        ASSERT_EQ(SSL_get_extms_support(client_), 1);
    }

    void TearDown() override {
        SSL_free(client_);
        SSL_free(server_);
        SSL_CTX_free(client_ctx_);
        SSL_CTX_free(server_ctx_);
        for (int fd : fds_)
            close(fd);
    }

    int fds_[2] = {-1, -1};
    SSL_CTX* client_ctx_ = nullptr;
    SSL_CTX* server_ctx_ = nullptr;
    SSL* client_ = nullptr;
    SSL* server_ = nullptr;
};

TEST_F(OpenSslDtls, KeyScheduleAndRecordsAgreeBothWays) {
    // Transcript hashes: up to ClientKeyExchange (session hash), and before each Finished.
    TranscriptHash transcript;
    std::array<std::uint8_t, sha256_size> session_hash{}, before_client_finished{},
        before_server_finished{};
    Buffer client_finished, server_finished;
    for (const Buffer& message : client_messages()) {
        ASSERT_GE(message.size(), 12u);
        const auto type = static_cast<HandshakeType>(message[0]);
        if (type == HandshakeType::finished) {
            Buffer& finished = client_finished.empty() ? client_finished : server_finished;
            ASSERT_TRUE(transcript.snapshot(client_finished.empty() ? before_client_finished
                                                                    : before_server_finished));
            finished.assign(message.end() - 12, message.end());
        }
        ASSERT_TRUE(transcript.update(message));
        if (type == HandshakeType::client_key_exchange) {
            ASSERT_TRUE(transcript.snapshot(session_hash));
        }
    }
    ASSERT_EQ(client_finished.size(), 12u);
    ASSERT_EQ(server_finished.size(), 12u);

    std::array<std::uint8_t, max_premaster_size> premaster{};
    const std::size_t premaster_size = psk_premaster_secret(psk, premaster);
    MasterSecret master;
    ASSERT_TRUE(derive_extended_master_secret(Bytes(premaster).first(premaster_size), session_hash,
                                              master));
    std::array<std::uint8_t, master_secret_size> openssl_master{};
    ASSERT_EQ(SSL_SESSION_get_master_key(SSL_get_session(client_), openssl_master.data(),
                                         openssl_master.size()),
              master_secret_size);
    EXPECT_EQ(master.bytes, openssl_master);

    std::array<std::uint8_t, verify_data_size> verify_data{};
    ASSERT_TRUE(finished_verify_data(master, Sender::client, before_client_finished, verify_data));
    EXPECT_EQ(Buffer(verify_data.begin(), verify_data.end()), client_finished);
    ASSERT_TRUE(finished_verify_data(master, Sender::server, before_server_finished, verify_data));
    EXPECT_EQ(Buffer(verify_data.begin(), verify_data.end()), server_finished);

    std::array<std::uint8_t, random_size> client_random{}, server_random{};
    SSL_get_client_random(client_, client_random.data(), client_random.size());
    SSL_get_server_random(client_, server_random.data(), server_random.size());
    KeyBlock keys;
    ASSERT_TRUE(
        derive_key_block(tls_psk_with_aes_128_ccm_8, master, client_random, server_random, keys));

    // OpenSSL's client -> our opening with the client write keys.
    std::array<std::uint8_t, 2048> datagram{};
    while (recv(fds_[1], datagram.data(), datagram.size(), 0) > 0) {
    }
    ASSERT_EQ(SSL_write(client_, "hello from openssl", 18), 18);
    const ssize_t received = recv(fds_[1], datagram.data(), datagram.size(), 0);
    ASSERT_GT(received, 0);
    RecordReader reader(Bytes(datagram.data(), static_cast<std::size_t>(received)));
    auto record = reader.next();
    ASSERT_TRUE(record);
    EXPECT_EQ(record->header.type, ContentType::application_data);
    EXPECT_EQ(record->header.epoch, 1);
    CcmContext ccm;
    Buffer plaintext(record->fragment.size());
    auto opened =
        open_record(ccm, tls_psk_with_aes_128_ccm_8, keys.client_write, *record, plaintext);
    ASSERT_TRUE(opened);
    EXPECT_EQ(as_string(*opened), "hello from openssl");

    // Our sealing with the server write keys -> OpenSSL's client reads it.
    RecordHeader header;
    header.type = ContentType::application_data;
    header.epoch = 1;
    header.sequence = 50;
    Buffer sealed(sealed_record_size(tls_psk_with_aes_128_ccm_8, 14));
    auto size = seal_record(ccm, tls_psk_with_aes_128_ccm_8, keys.server_write, header,
                            as_bytes("hello from us!"), sealed);
    ASSERT_TRUE(size);
    ASSERT_EQ(send(fds_[1], sealed.data(), *size, 0), static_cast<ssize_t>(*size));
    char read_back[64] = {};
    ASSERT_EQ(SSL_read(client_, read_back, sizeof read_back), 14);
    EXPECT_EQ(std::string(read_back, 14), "hello from us!");
}

}  // namespace
}  // namespace coap::dtls
