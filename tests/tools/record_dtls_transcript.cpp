// Records a DTLS 1.2 PSK handshake between OpenSSL's own client and server and prints it as the
// C++ header tests/data/dtls_psk_ccm8_transcript.hpp, the "recording" that
// tests/dtls_transcript_test.cpp replays through our record layer, codec and key schedule.
//
//     cmake --build BUILD --target record_dtls_transcript
//     BUILD/bin/record_dtls_transcript > tests/data/dtls_psk_ccm8_transcript.hpp
//     clang-format -i tests/data/dtls_psk_ccm8_transcript.hpp
//
// (or: g++ -std=c++20 -O1 tests/tools/record_dtls_transcript.cpp -lssl -lcrypto)
//
// The handshake: PSK-AES128-CCM8 (RFC 6655 §4), identity "Client_identity" with a fixed
// 16-byte key and an identity hint (so that ServerKeyExchange is sent, RFC 4279 §2), the
// extended master secret (RFC 7627), a cookie exchange (RFC 6347 §4.2.1) and no session
// tickets; then one application-data record each way. Each side talks through its own
// socketpair and this program relays every datagram, so that it sees (and prints) each one
// exactly as it was sent. Randoms differ on every run; any run is a valid recording.
#include <fcntl.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Buffer = std::vector<std::uint8_t>;

constexpr std::array<std::uint8_t, 16> psk = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                                              0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
constexpr char identity[] = "Client_identity";
constexpr char identity_hint[] = "coap-transcript";
constexpr char cookie[] = "transcript-cookie-0123";  // fixed: the recording needs no secret
constexpr std::string_view client_message = "GET /test";
constexpr std::string_view server_message = "2.05 hello";

unsigned int client_psk(SSL*, const char*, char* out_identity, unsigned int max_identity,
                        unsigned char* key, unsigned int max_key) {
    if (max_key < psk.size() || max_identity < sizeof identity) return 0;
    std::memcpy(out_identity, identity, sizeof identity);
    std::memcpy(key, psk.data(), psk.size());
    return psk.size();
}

unsigned int server_psk(SSL*, const char* offered, unsigned char* key, unsigned int max_key) {
    if (max_key < psk.size() || std::string_view(offered) != identity) return 0;
    std::memcpy(key, psk.data(), psk.size());
    return psk.size();
}

int make_cookie(SSL*, unsigned char* out, unsigned int* length) {
    *length = sizeof cookie - 1;
    std::memcpy(out, cookie, *length);
    return 1;
}

int check_cookie(SSL*, const unsigned char* received, unsigned int length) {
    return length == sizeof cookie - 1 && std::memcmp(received, cookie, length) == 0;
}

struct Datagram {
    bool from_client;
    Buffer bytes;
};

// One DTLS endpoint: an SSL object whose datagram BIO sits on fds[0]; the relay uses fds[1].
struct Side {
    SSL_CTX* ctx = nullptr;
    SSL* ssl = nullptr;
    int fds[2] = {-1, -1};

    bool open(bool client) {
        if (socketpair(AF_UNIX, SOCK_DGRAM, 0, fds) != 0) return false;
        for (int fd : fds)
            if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0) return false;
        ctx = SSL_CTX_new(client ? DTLS_client_method() : DTLS_server_method());
        if (ctx == nullptr || SSL_CTX_set_cipher_list(ctx, "PSK-AES128-CCM8") != 1) return false;
        SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
        SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);  // no NewSessionTicket in the transcript
        if (client) {
            SSL_CTX_set_psk_client_callback(ctx, client_psk);
        } else {
            SSL_CTX_set_psk_server_callback(ctx, server_psk);
            if (SSL_CTX_use_psk_identity_hint(ctx, identity_hint) != 1) return false;
            SSL_CTX_set_cookie_generate_cb(ctx, make_cookie);
            SSL_CTX_set_cookie_verify_cb(ctx, check_cookie);
            SSL_CTX_set_options(ctx, SSL_OP_COOKIE_EXCHANGE);
        }
        ssl = SSL_new(ctx);
        BIO* bio = BIO_new_dgram(fds[0], BIO_NOCLOSE);
        if (ssl == nullptr || bio == nullptr) return false;
        sockaddr_storage peer{};
        peer.ss_family = AF_INET;  // "connected": the BIO uses send(), which a socketpair needs
        BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &peer);
        SSL_set_bio(ssl, bio, bio);
        SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
        SSL_set_mtu(ssl, 1400);
        if (client)
            SSL_set_connect_state(ssl);
        else
            SSL_set_accept_state(ssl);
        return true;
    }

    ~Side() {
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        for (int fd : fds)
            if (fd >= 0) close(fd);
    }
};

// Moves every datagram `from` has sent to `to`, appending each to the recording.
void relay(Side& from, Side& to, bool from_client, std::vector<Datagram>& recording) {
    std::array<std::uint8_t, 4096> buffer{};
    for (;;) {
        const ssize_t size = recv(from.fds[1], buffer.data(), buffer.size(), 0);
        if (size <= 0) return;
        recording.push_back({from_client, Buffer(buffer.begin(), buffer.begin() + size)});
        send(to.fds[1], buffer.data(), static_cast<std::size_t>(size), 0);
    }
}

std::string read_text(SSL* ssl) {
    char buffer[256] = {};
    const int size = SSL_read(ssl, buffer, sizeof buffer);
    return size > 0 ? std::string(buffer, static_cast<std::size_t>(size)) : std::string();
}

void print_bytes(const std::uint8_t* bytes, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i)
        std::printf("%s0x%02x,", i % 12 == 0 ? "\n    " : " ", bytes[i]);
    std::printf("\n");
}

void print_header(const std::vector<Datagram>& recording, const Buffer& master) {
    std::printf(
        "// GENERATED by tests/tools/record_dtls_transcript.cpp with %s.\n"
        "// Do not edit: it is a recording. A DTLS 1.2 handshake between OpenSSL's client and\n"
        "// server, every datagram in the order sent: PSK-AES128-CCM8, identity \"%s\" with the\n"
        "// key below, identity hint \"%s\", extended master secret, cookie exchange, no\n"
        "// session ticket; then \"%s\" from the client and \"%s\" from the server.\n"
        "#pragma once\n\n#include <array>\n#include <cstdint>\n#include <span>\n"
        "#include <string_view>\n\n"
        "namespace coap::dtls::recorded {\n\n"
        "enum class Direction : std::uint8_t { client_to_server, server_to_client };\n\n"
        "struct Datagram {\n    Direction direction;\n    std::span<const std::uint8_t> bytes;\n"
        "};\n\n",
        OPENSSL_VERSION_TEXT, identity, identity_hint, std::string(client_message).c_str(),
        std::string(server_message).c_str());
    std::printf("inline constexpr std::string_view psk_identity = \"%s\";\n", identity);
    std::printf("inline constexpr std::string_view psk_identity_hint = \"%s\";\n", identity_hint);
    std::printf("inline constexpr std::array<std::uint8_t, %zu> psk = {", psk.size());
    print_bytes(psk.data(), psk.size());
    std::printf("};\n");
    std::printf("inline constexpr std::string_view client_message = \"%s\";\n",
                std::string(client_message).c_str());
    std::printf("inline constexpr std::string_view server_message = \"%s\";\n",
                std::string(server_message).c_str());
    std::printf(
        "// The master secret OpenSSL derived (SSL_SESSION_get_master_key), only to tell which\n"
        "// step of a failing replay went wrong; the replay derives its own from the datagrams.\n");
    std::printf("inline constexpr std::array<std::uint8_t, %zu> openssl_master_secret = {",
                master.size());
    print_bytes(master.data(), master.size());
    std::printf("};\n\n");
    for (std::size_t i = 0; i < recording.size(); ++i) {
        std::printf("// %s\ninline constexpr std::uint8_t datagram_%zu[] = {",
                    recording[i].from_client ? "client -> server" : "server -> client", i);
        print_bytes(recording[i].bytes.data(), recording[i].bytes.size());
        std::printf("};\n");
    }
    std::printf("\ninline constexpr std::array<Datagram, %zu> datagrams = {{\n", recording.size());
    for (std::size_t i = 0; i < recording.size(); ++i)
        std::printf("    {Direction::%s, datagram_%zu},\n",
                    recording[i].from_client ? "client_to_server" : "server_to_client", i);
    std::printf("}};\n\n}  // namespace coap::dtls::recorded\n");
}

}  // namespace

int main() {
    Side client, server;
    if (!client.open(true) || !server.open(false)) {
        std::fprintf(stderr, "OpenSSL set-up failed\n");
        return 1;
    }
    std::vector<Datagram> recording;
    // Lock-step: each side acts once, then whatever it sent is delivered. Nothing is lost, so
    // OpenSSL's retransmission timers (1 s) never fire.
    for (int round = 0; round < 20; ++round) {
        if (SSL_is_init_finished(client.ssl) && SSL_is_init_finished(server.ssl)) break;
        SSL_do_handshake(client.ssl);
        relay(client, server, true, recording);
        SSL_do_handshake(server.ssl);
        relay(server, client, false, recording);
    }
    if (!SSL_is_init_finished(client.ssl) || !SSL_is_init_finished(server.ssl) ||
        SSL_get_extms_support(client.ssl) != 1 ||
        std::string_view(SSL_get_cipher_name(client.ssl)) != "PSK-AES128-CCM8") {
        std::fprintf(stderr, "the handshake did not complete as intended\n");
        return 1;
    }
    SSL_write(client.ssl, client_message.data(), static_cast<int>(client_message.size()));
    relay(client, server, true, recording);
    if (read_text(server.ssl) != client_message) {
        std::fprintf(stderr, "the server did not read the client's message\n");
        return 1;
    }
    SSL_write(server.ssl, server_message.data(), static_cast<int>(server_message.size()));
    relay(server, client, false, recording);
    if (read_text(client.ssl) != server_message) {
        std::fprintf(stderr, "the client did not read the server's message\n");
        return 1;
    }
    Buffer master(48);
    master.resize(
        SSL_SESSION_get_master_key(SSL_get_session(client.ssl), master.data(), master.size()));
    print_header(recording, master);
    return 0;
}
