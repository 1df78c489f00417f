// Our DTLS 1.2 PSK server and client against OpenSSL's (PSK-AES128-CCM8), over a socketpair
// that the test shuttles by hand: full handshakes with and without the extended master secret
// (RFC 7627), resumption in both directions (RFC 5246 §7.3), OpenSSL's own cookie exchange
// (RFC 6347 §4.2.1), the alerts our server sends on an unknown identity (RFC 4279 §2) and a
// wrong key, and renegotiation refused both ways (RFC 7925 §17). No loss is introduced, so
// OpenSSL's real-time retransmission timers never fire.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "dtls/dtls_client.hpp"
#include "dtls/dtls_server.hpp"

namespace coap::dtls {
namespace {

using namespace std::chrono_literals;
using Buffer = std::vector<std::uint8_t>;

constexpr std::array<std::uint8_t, 16> psk = {1, 2,  3,  4,  5,  6,  7,  8,
                                              9, 10, 11, 12, 13, 14, 15, 16};
constexpr std::array<std::uint8_t, 16> other_psk = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
constexpr char cookie_value[] = "0123456789abcdef";

const char* client_identity = "Client_identity";
const std::array<std::uint8_t, 16>* client_key = &psk;

unsigned int openssl_client_psk(SSL*, const char*, char* identity, unsigned int max_identity,
                                unsigned char* key, unsigned int max_key) {
    if (max_key < client_key->size()) return 0;
    std::snprintf(identity, max_identity, "%s", client_identity);
    std::memcpy(key, client_key->data(), client_key->size());
    return client_key->size();
}

unsigned int openssl_server_psk(SSL*, const char* identity, unsigned char* key,
                                unsigned int max_key) {
    if (max_key < psk.size() || std::string_view(identity) != "client-1") return 0;
    std::memcpy(key, psk.data(), psk.size());
    return psk.size();
}

int make_cookie(SSL*, unsigned char* cookie, unsigned int* length) {
    std::memcpy(cookie, cookie_value, 16);
    *length = 16;
    return 1;
}

int check_cookie(SSL*, const unsigned char* cookie, unsigned int length) {
    return length == 16 && std::memcmp(cookie, cookie_value, 16) == 0;
}

// Alerts OpenSSL received (level, description).
std::vector<std::pair<int, int>>& received_alerts() {
    static std::vector<std::pair<int, int>> alerts;
    return alerts;
}

void record_alerts(int write_p, int, int content_type, const void* bytes, size_t size, SSL*,
                   void*) {
    if (write_p == 0 && content_type == SSL3_RT_ALERT && size == 2) {
        const auto* p = static_cast<const std::uint8_t*>(bytes);
        received_alerts().emplace_back(p[0], p[1]);
    }
}

// Our side of the socketpair: what our code sends goes into the socket.
struct SocketEvents final : DtlsEvents {
    int fd = -1;
    std::vector<Buffer> data;
    std::vector<CloseReason> closes;
    void send(const Endpoint&, Bytes datagram) noexcept override {
        EXPECT_EQ(::send(fd, datagram.data(), datagram.size(), 0),
                  static_cast<ssize_t>(datagram.size()));
    }
    void received(const Endpoint&, Bytes bytes) noexcept override {
        data.emplace_back(bytes.begin(), bytes.end());
    }
    void closed(const Endpoint&, CloseReason reason) noexcept override { closes.push_back(reason); }
};

class OpenSslPeer : public ::testing::Test {
  protected:
    void SetUp() override {
        received_alerts().clear();
        client_identity = "Client_identity";
        client_key = &psk;
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds_), 0);
        for (int fd : fds_)
            ASSERT_EQ(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
        events_.fd = fds_[1];
    }
    void TearDown() override {
        if (ssl_ != nullptr) SSL_free(ssl_);
        if (ctx_ != nullptr) SSL_CTX_free(ctx_);
        for (int fd : fds_)
            close(fd);
    }

    void make_context(const SSL_METHOD* method, bool ems) {
        ctx_ = SSL_CTX_new(method);
        ASSERT_NE(ctx_, nullptr);
        ASSERT_EQ(SSL_CTX_set_cipher_list(ctx_, "PSK-AES128-CCM8"), 1);
        SSL_CTX_set_min_proto_version(ctx_, DTLS1_2_VERSION);
        SSL_CTX_set_max_proto_version(ctx_, DTLS1_2_VERSION);
        if (!ems) SSL_CTX_set_options(ctx_, SSL_OP_NO_EXTENDED_MASTER_SECRET);
    }
    void make_ssl(bool client) {
        if (ssl_ != nullptr) SSL_free(ssl_);
        ssl_ = SSL_new(ctx_);
        BIO* bio = BIO_new_dgram(fds_[0], BIO_NOCLOSE);
        sockaddr_storage peer{};
        peer.ss_family = AF_INET;
        BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &peer);
        SSL_set_bio(ssl_, bio, bio);
        SSL_set_options(ssl_, SSL_OP_NO_QUERY_MTU);
        SSL_set_mtu(ssl_, 1400);
        SSL_set_msg_callback(ssl_, record_alerts);
        if (client)
            SSL_set_connect_state(ssl_);
        else
            SSL_set_accept_state(ssl_);
    }

    std::vector<Buffer> drain() {
        std::vector<Buffer> datagrams;
        std::array<std::uint8_t, 4096> buffer{};
        for (;;) {
            const ssize_t size = recv(fds_[1], buffer.data(), buffer.size(), 0);
            if (size <= 0) return datagrams;
            datagrams.emplace_back(buffer.begin(), buffer.begin() + size);
        }
    }

    // Alternates OpenSSL's handshake step with delivering its datagrams to `ours`, until
    // `done()` or nothing moves any more.
    template <class Deliver, class Done>
    void shuttle(Deliver&& deliver, Done&& done) {
        for (int round = 0; round < 40 && !done(); ++round) {
            if (!SSL_is_init_finished(ssl_)) SSL_do_handshake(ssl_);
            for (const Buffer& datagram : drain())
                deliver(datagram);
        }
    }

    std::string openssl_read() {
        char buffer[256] = {};
        const int size = SSL_read(ssl_, buffer, sizeof buffer);
        return size > 0 ? std::string(buffer, static_cast<std::size_t>(size)) : std::string();
    }

    int fds_[2] = {-1, -1};
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    SocketEvents events_;
    TimePoint now_ = TimePoint{} + 1h;
    const Endpoint peer_ = *Endpoint::from_literal("192.0.2.50", 40000);
};

DtlsServerConfig our_server_config(bool ems) {
    DtlsServerConfig config;
    config.session_count = 8;
    config.handshake_count = 4;
    config.resumption_cache_size = 8;
    config.handshake.extended_master_secret = ems;
    config.handshake.psk_lookup = [](std::string_view identity) -> std::optional<PskKey> {
        if (identity == "Client_identity") return PskKey(psk);
        return std::nullopt;
    };
    return config;
}

DtlsClientConfig our_client_config(bool ems) {
    DtlsClientConfig config;
    config.handshake.extended_master_secret = ems;
    config.handshake.identity = "client-1";
    config.handshake.key = PskKey(psk);
    return config;
}

class OpenSslClientOurServer : public OpenSslPeer {
  protected:
    void connect(DtlsServer& server) {
        shuttle([&](const Buffer& d) { server.on_datagram(peer_, d, now_, events_); },
                [&] { return SSL_is_init_finished(ssl_) && server.has_session(peer_); });
    }
    void exchange_data(DtlsServer& server) {
        ASSERT_EQ(SSL_write(ssl_, "hello from openssl", 18), 18);
        for (const Buffer& datagram : drain())
            server.on_datagram(peer_, datagram, now_, events_);
        ASSERT_FALSE(events_.data.empty());
        EXPECT_EQ(as_string(events_.data.back()), "hello from openssl");
        ASSERT_TRUE(server.seal_to(peer_, as_bytes("hello from us"), now_, events_));
        EXPECT_EQ(openssl_read(), "hello from us");
    }
};

TEST_F(OpenSslClientOurServer, FullHandshakeAndResumptionWithAndWithoutEms) {
    for (bool openssl_ems : {true, false}) {
        for (bool our_ems : {true, false}) {
            SCOPED_TRACE(testing::Message() << "openssl " << openssl_ems << " ours " << our_ems);
            if (ctx_ != nullptr) SSL_CTX_free(ctx_);
            make_context(DTLS_client_method(), openssl_ems);
            SSL_CTX_set_psk_client_callback(ctx_, openssl_client_psk);
            make_ssl(true);
            DtlsServer server(our_server_config(our_ems));
            connect(server);
            ASSERT_TRUE(SSL_is_init_finished(ssl_));
            ASSERT_TRUE(server.has_session(peer_));
            EXPECT_STREQ(SSL_get_cipher_name(ssl_), "PSK-AES128-CCM8");
            EXPECT_EQ(SSL_get_extms_support(ssl_), openssl_ems && our_ems ? 1 : 0);
            EXPECT_EQ(server.stats().hello_verify_requests, 1u);
            EXPECT_EQ(as_string(server.identity_of(peer_)), "Client_identity");
            exchange_data(server);

            // Resumption: OpenSSL offers the session again on a new connection.
            SSL_SESSION* session = SSL_get1_session(ssl_);
            ASSERT_NE(session, nullptr);
            SSL_shutdown(ssl_);  // close_notify keeps the session resumable for OpenSSL
            for (const Buffer& datagram : drain())
                server.on_datagram(peer_, datagram, now_, events_);
            EXPECT_FALSE(server.has_session(peer_));
            drain();
            make_ssl(true);
            SSL_set_session(ssl_, session);
            SSL_SESSION_free(session);
            connect(server);
            ASSERT_TRUE(SSL_is_init_finished(ssl_));
            EXPECT_EQ(SSL_session_reused(ssl_), 1);
            EXPECT_EQ(server.stats().handshakes_resumed, 1u);
            exchange_data(server);
            SSL_free(ssl_);
            ssl_ = nullptr;
            drain();
        }
    }
}

TEST_F(OpenSslClientOurServer, UnknownIdentityGetsAlert115) {
    make_context(DTLS_client_method(), true);
    SSL_CTX_set_psk_client_callback(ctx_, openssl_client_psk);
    client_identity = "stranger";
    make_ssl(true);
    DtlsServer server(our_server_config(true));
    connect(server);
    EXPECT_FALSE(SSL_is_init_finished(ssl_));
    EXPECT_FALSE(server.has_session(peer_));
    EXPECT_EQ(server.handshake_count(), 0u);
    ASSERT_FALSE(received_alerts().empty());
    EXPECT_EQ(received_alerts().back(), std::make_pair(2, 115));
}

TEST_F(OpenSslClientOurServer, WrongKeyGetsFatalAlert) {
    make_context(DTLS_client_method(), true);
    SSL_CTX_set_psk_client_callback(ctx_, openssl_client_psk);
    client_key = &other_psk;
    make_ssl(true);
    DtlsServer server(our_server_config(true));
    connect(server);
    EXPECT_FALSE(SSL_is_init_finished(ssl_));
    EXPECT_FALSE(server.has_session(peer_));
    EXPECT_EQ(server.stats().handshakes_failed, 1u);
    ASSERT_FALSE(received_alerts().empty());
    EXPECT_EQ(received_alerts().back(), std::make_pair(2, 20));  // bad_record_mac
}

TEST_F(OpenSslClientOurServer, RenegotiationIsRefused) {
    make_context(DTLS_client_method(), true);
    SSL_CTX_set_psk_client_callback(ctx_, openssl_client_psk);
    make_ssl(true);
    DtlsServer server(our_server_config(true));
    connect(server);
    ASSERT_TRUE(server.has_session(peer_));
    ASSERT_EQ(SSL_renegotiate(ssl_), 1);
    SSL_do_handshake(ssl_);  // sends a ClientHello in epoch 1
    for (const Buffer& datagram : drain())
        server.on_datagram(peer_, datagram, now_, events_);
    EXPECT_EQ(server.stats().renegotiations_refused, 1u);
    SSL_do_handshake(ssl_);  // reads our warning
    ASSERT_FALSE(received_alerts().empty());
    EXPECT_EQ(received_alerts().front(), std::make_pair(1, 100));  // no_renegotiation warning
}

class OurClientOpenSslServer : public OpenSslPeer {
  protected:
    void make_server(bool ems, bool cookies) {
        make_context(DTLS_server_method(), ems);
        SSL_CTX_set_psk_server_callback(ctx_, openssl_server_psk);
        ASSERT_EQ(SSL_CTX_use_psk_identity_hint(ctx_, "a hint"), 1);
        SSL_CTX_set_cookie_generate_cb(ctx_, make_cookie);
        SSL_CTX_set_cookie_verify_cb(ctx_, check_cookie);
        if (cookies) SSL_CTX_set_options(ctx_, SSL_OP_COOKIE_EXCHANGE);
        make_ssl(false);
    }
    void connect(DtlsClient& client) {
        client.connect(now_, events_);
        shuttle([&](const Buffer& d) { client.on_datagram(server_, d, now_, events_); },
                [&] {
                    return SSL_is_init_finished(ssl_) && client.state() != ClientState::handshaking;
                });
    }
    void exchange_data(DtlsClient& client) {
        ASSERT_TRUE(client.seal(as_bytes("hello from us"), events_));
        EXPECT_EQ(openssl_read(), "hello from us");
        ASSERT_EQ(SSL_write(ssl_, "hello from openssl", 18), 18);
        for (const Buffer& datagram : drain())
            client.on_datagram(server_, datagram, now_, events_);
        ASSERT_FALSE(events_.data.empty());
        EXPECT_EQ(as_string(events_.data.back()), "hello from openssl");
    }
    // close_notify both ways, so that OpenSSL keeps the session in its cache.
    void close_cleanly(DtlsClient& client) {
        client.close(events_);
        EXPECT_TRUE(openssl_read().empty());
        SSL_shutdown(ssl_);
        for (const Buffer& datagram : drain())
            client.on_datagram(server_, datagram, now_, events_);
    }

    const Endpoint server_ = *Endpoint::from_literal("192.0.2.60", 5684);
};

TEST_F(OurClientOpenSslServer, FullHandshakeAndResumptionWithAndWithoutEms) {
    for (bool openssl_ems : {true, false}) {
        for (bool our_ems : {true, false}) {
            for (bool cookies : {true, false}) {
                SCOPED_TRACE(testing::Message() << "openssl " << openssl_ems << " ours " << our_ems
                                                << " cookies " << cookies);
                if (ctx_ != nullptr) SSL_CTX_free(ctx_);
                make_server(openssl_ems, cookies);
                DtlsClient client(our_client_config(our_ems), server_);
                connect(client);
                ASSERT_TRUE(SSL_is_init_finished(ssl_));
                ASSERT_EQ(client.state(), ClientState::established);
                EXPECT_EQ(SSL_get_extms_support(ssl_), openssl_ems && our_ems ? 1 : 0);
                EXPECT_EQ(client.handshake().extended_master_secret(), openssl_ems && our_ems);
                exchange_data(client);

                close_cleanly(client);
                ASSERT_TRUE(client.resumable().usable());
                make_ssl(false);
                connect(client);
                ASSERT_EQ(client.state(), ClientState::established);
                EXPECT_TRUE(client.handshake().resumed());
                EXPECT_EQ(SSL_session_reused(ssl_), 1);
                exchange_data(client);
                SSL_free(ssl_);
                ssl_ = nullptr;
                drain();
            }
        }
    }
}

TEST_F(OurClientOpenSslServer, UnknownIdentityIsRefusedByOpenSsl) {
    make_server(true, true);
    DtlsClientConfig config = our_client_config(true);
    config.handshake.identity = "stranger";
    DtlsClient client(std::move(config), server_);
    connect(client);
    EXPECT_EQ(client.state(), ClientState::closed);
    ASSERT_TRUE(client.handshake().received_alert());
    EXPECT_TRUE(client.handshake().received_alert()->is_fatal());
}

TEST_F(OurClientOpenSslServer, ServerRenegotiationIsRefused) {
    make_server(true, true);
    DtlsClient client(our_client_config(true), server_);
    connect(client);
    ASSERT_EQ(client.state(), ClientState::established);
    ASSERT_EQ(SSL_renegotiate(ssl_), 1);
    ASSERT_EQ(SSL_do_handshake(ssl_), 1);  // sends a HelloRequest in epoch 1
    for (const Buffer& datagram : drain())
        client.on_datagram(server_, datagram, now_, events_);
    EXPECT_TRUE(openssl_read().empty());  // reads our warning
    ASSERT_FALSE(received_alerts().empty());
    EXPECT_EQ(received_alerts().front(), std::make_pair(1, 100));
    EXPECT_EQ(client.state(), ClientState::established);
}

}  // namespace
}  // namespace coap::dtls
