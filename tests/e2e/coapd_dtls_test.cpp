// coaps:// end to end (RFC 7252 §9.1, RFC 6347, RFC 4279): coapd with a PSK against peers
// nobody here wrote — libcoap's coap-client-openssl and coap-client-gnutls for CoAP over DTLS
// (GET, separate responses, block-wise PUT and GET, observe), and `openssl s_client` for raw
// handshakes, resumption and a wrong key. ETSI TD_COAP_DTLS_01 (success) and _02 (wrong key)
// follow the same steps.
#include <filesystem>
#include <fstream>

#include "coap/client.hpp"
#include "libcoap_harness.hpp"

namespace coap::e2e {
namespace {

const std::string identity = "password";  // the ETSI CoAP#4 demo credentials
const std::string key = "sesame";
const std::string key_hex = "736573616d65";
constexpr auto observe_period = 300ms;

enum class Variant { openssl, gnutls };

std::string client_program(Variant variant) {
    return variant == Variant::openssl ? "/usr/bin/coap-client-openssl"
                                       : "/usr/bin/coap-client-gnutls";
}

class DtlsE2E : public CoapdE2E, public ::testing::WithParamInterface<Variant> {
  protected:
    static void SetUpTestSuite() {
        start_coapd({"--psk-identity", identity, "--psk-key", key, "--dtls-port", "0",
                     "--observe-period-ms", std::to_string(observe_period.count()),
                     "--separate-delay-ms", "200"});
    }

    static std::string uri(std::string_view path) {
        return "coaps://127.0.0.1:" + std::to_string(secure_port()) + std::string(path);
    }

    ClientRun client(std::vector<std::string> args, const std::string& psk = key) {
        args.insert(args.begin(), {"-u", identity, "-k", psk});
        return coap_client(args, client_program(GetParam()));
    }
};

std::string body_of_size(std::size_t size) {
    std::string body;
    for (std::size_t i = 0; body.size() < size; ++i)
        body += "line " + std::to_string(i) + " of a block-wise upload over DTLS\n";
    body.resize(size);
    return body;
}

TEST_P(DtlsE2E, TD_COAP_DTLS_01_GetOverDtls) {
    ClientRun run = client({uri("/test")});
    EXCHANGE_TRACE(run);
    check_exchange(run, Mode::con, "GET", "2.05");
    EXPECT_FALSE(run.payload.empty());
}

TEST_P(DtlsE2E, NonRequestOverDtls) {
    ClientRun run = client({"-N", uri("/test")});
    EXCHANGE_TRACE(run);
    check_exchange(run, Mode::non, "GET", "2.05");
}

TEST_P(DtlsE2E, SeparateResponseOverDtls) {
    ClientRun run = client({uri("/separate")});
    EXCHANGE_TRACE(run);
    bool empty_ack = false, separate = false;
    for (const Pdu& pdu : run.received) {
        empty_ack = empty_ack || (pdu.type == "ACK" && pdu.code == "0.00");
        separate = separate || (pdu.type == "CON" && pdu.code == "2.05");
    }
    EXPECT_TRUE(empty_ack) << "no empty ACK before the separate response";
    EXPECT_TRUE(separate) << "no CON 2.05 separate response";
}

TEST_P(DtlsE2E, BlockWisePutThenGetOverDtls) {
    const std::string body = body_of_size(3000);
    const std::filesystem::path file =
        std::filesystem::path(::testing::TempDir()) /
        ("coapd_dtls_body_" + std::to_string(::getpid()) + "_" + std::to_string(random_u16()));
    std::ofstream(file, std::ios::binary) << body;
    ClientRun put = client({"-m", "put", "-b", "64", "-f", file.string(), uri("/large-update")});
    std::filesystem::remove(file);
    EXCHANGE_TRACE(put);
    ASSERT_FALSE(put.received.empty());
    EXPECT_EQ(put.received.back().code, "2.04");
    EXPECT_GT(put.sent.size(), 40u) << "3000 bytes in 64-byte blocks";

    ClientRun get = client({"-b", "64", uri("/large-update")});
    EXCHANGE_TRACE(get);
    EXPECT_EQ(get.payload, body);
    EXPECT_GT(get.received.size(), 40u);
}

TEST_P(DtlsE2E, ObserveOverDtls) {
    ClientRun run = client({"-s", "2", "-B", "5", uri("/obs")});
    EXCHANGE_TRACE(run);
    std::size_t notifications = 0;
    for (const Pdu& pdu : run.received)
        if (pdu.code == "2.05" && pdu.has("Observe")) ++notifications;
    EXPECT_GE(notifications, 3u) << "registration plus notifications every "
                                 << observe_period.count() << " ms for 2 s";
}

TEST_P(DtlsE2E, TD_COAP_DTLS_02_WrongKeyGetsNoAnswer) {
    ClientRun run = client({uri("/test")}, "not-sesame");
    EXCHANGE_TRACE(run);
    ASSERT_FALSE(run.process.timed_out);
    for (const Pdu& pdu : run.received)
        EXPECT_NE(pdu.code, "2.05") << "a response despite the wrong key";
    ClientRun after = client({uri("/test")});
    check_exchange(after, Mode::con, "GET", "2.05");  // coapd serves on
}

class DtlsE2EOwnClient : public DtlsE2E {};

INSTANTIATE_TEST_SUITE_P(Peers, DtlsE2E, ::testing::Values(Variant::openssl, Variant::gnutls),
                         [](const auto& param_info) {
                             return param_info.param == Variant::openssl ? "OpenSSL" : "GnuTLS";
                         });

// ---------------------------------------------------------------------------------------------
// Our own client over coaps://: a GET, a block-wise download and an observation in one session.

TEST_F(DtlsE2EOwnClient, GetBlockWiseAndObserveInOneSession) {
    coap::ClientConfig config;
    config.host = "127.0.0.1";
    config.port = secure_port();
    config.dtls = coap::ClientDtlsConfig{coap::PskCredentials::from_text(identity, key)};
    coap::Client client(config);
    auto test = client.get("/test");
    ASSERT_TRUE(test.has_value()) << coap::describe(test.error());
    EXPECT_EQ(test->code(), Code::content);
    auto large = client.get("/large");
    ASSERT_TRUE(large.has_value()) << coap::describe(large.error());
    EXPECT_GT(large->payload().size(), 1024u) << "reassembled from Block2";
    auto observation = client.observe("/obs");
    ASSERT_TRUE(observation.has_value()) << coap::describe(observation.error());
    int notifications = 0;
    for (int i = 0; i < 10 && notifications < 3; ++i)
        if (auto note = observation->next(2s); note && note->result) ++notifications;
    EXPECT_GE(notifications, 3);
    EXPECT_EQ(client.dtls_status().full_handshakes, 1u) << "one session for all of it";
}

// ---------------------------------------------------------------------------------------------
// openssl s_client: the handshake alone. Its stdin is /dev/null, so it closes (close_notify)
// right after the handshake and prints the session.

class DtlsHandshakeE2E : public DtlsE2E {};

ProcessResult s_client(std::uint16_t port, const std::string& psk_hex,
                       std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{
        "openssl",        "s_client", "-dtls1_2", "-connect", "127.0.0.1:" + std::to_string(port),
        "-psk_identity",  identity,   "-psk",     psk_hex,    "-cipher",
        "PSK-AES128-CCM8"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_process(argv, 15s);
}

TEST_F(DtlsHandshakeE2E, OpensslFullHandshake) {
    ProcessResult result = s_client(secure_port(), key_hex);
    SCOPED_TRACE(result.out + result.err);
    ASSERT_FALSE(result.timed_out);
    EXPECT_NE(result.out.find("New, TLSv1.2, Cipher is PSK-AES128-CCM8"), std::string::npos);
    EXPECT_NE(result.out.find("Extended master secret: yes"), std::string::npos);
}

TEST_F(DtlsHandshakeE2E, OpensslResumesTheSession) {
    const std::string session = (std::filesystem::path(::testing::TempDir()) /
                                 ("coapd_dtls_session_" + std::to_string(::getpid())))
                                    .string();
    ProcessResult first = s_client(secure_port(), key_hex, {"-sess_out", session});
    ASSERT_NE(first.out.find("New, TLSv1.2"), std::string::npos) << first.out << first.err;
    ProcessResult second = s_client(secure_port(), key_hex, {"-sess_in", session});
    std::filesystem::remove(session);
    SCOPED_TRACE(second.out + second.err);
    EXPECT_NE(second.out.find("Reused, TLSv1.2, Cipher is PSK-AES128-CCM8"), std::string::npos);
}

TEST_F(DtlsHandshakeE2E, TD_COAP_DTLS_02_OpensslWithAWrongKeyGetsAnAlert) {
    ProcessResult result = s_client(secure_port(), "00112233445566778899");
    SCOPED_TRACE(result.out + result.err);
    ASSERT_FALSE(result.timed_out);
    EXPECT_NE(result.exit_status, 0);
    // With the wrong key the client's Finished record does not even decrypt: a fatal
    // bad_record_mac alert (RFC 5246 §7.2.2); one that decrypts but does not verify would be
    // decrypt_error (§7.4.9). Either way the handshake ends with an alert, not a timeout.
    EXPECT_TRUE(result.err.find("alert bad record mac") != std::string::npos ||
                result.err.find("alert decrypt error") != std::string::npos);
}

}  // namespace
}  // namespace coap::e2e
