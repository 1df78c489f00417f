// End-to-end tests of coaps:// on the client side (DTLS 1.2, PSK, TLS_PSK_WITH_AES_128_CCM_8):
// the coap::Client library and the `coap` command-line client against libcoap's example
// servers built on two DTLS stacks nobody here wrote, coap-server-openssl and
// coap-server-gnutls (Debian libcoap3-bin), started with a PSK (-k) and an identity hint (-h).
// libcoap serves DTLS on its port + 1: "/" (a greeting), the observable "/time" (a
// notification a second) and "/example_data" (PUT and GET, block-wise).
//
// Each ctest entry is its own process with its own server on free ports. A case is skipped,
// with the reason, only when the server program is missing.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "coap/client.hpp"
#include "coap/codes.hpp"
#include "coap/content_format.hpp"
#include "coap/dtls.hpp"
#include "coap/message.hpp"
#include "coap/option.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using coap::ClientError;
using coap::Code;
using coap::DtlsHandshakeFailure;
using coap::MessageType;
using coap::OptionNumber;
using coap::test::Process;
using coap::test::ProcessResult;
using coap::test::run_process;

constexpr std::string_view identity = "coap-test-client";
constexpr std::string_view key = "secret-psk-key";  // the server's -k, given as text

// `resumes`: whether the server resumes sessions (RFC 5246 §7.3). libcoap's GnuTLS back end
// keeps no session cache, so there every reconnect is a full handshake.
struct OpenSsl {
    static constexpr const char* path = "/usr/bin/coap-server-openssl";
    static constexpr bool resumes = true;
};
struct GnuTls {
    static constexpr const char* path = "/usr/bin/coap-server-gnutls";
    static constexpr bool resumes = false;
};

// True when UDP `port` on 127.0.0.1 can be bound now.
bool udp_port_free(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return free;
}

// A port P with P and P + 1 free (libcoap serves coap:// on P and coaps:// on P + 1). Another
// process could take them before the server binds them; the server start retries.
std::uint16_t free_port_pair() {
    for (int attempt = 0; attempt < 100; ++attempt) {
        int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
            throw std::runtime_error("cannot bind a UDP socket to port 0");
        ::close(fd);
        std::uint16_t port = ntohs(address.sin_port);
        if (port < 65535 && udp_port_free(port + 1)) return port;
    }
    throw std::runtime_error("no two adjacent free UDP ports");
}

std::string error_text(ClientError error) {
    return std::string(coap::describe(error));
}

// Numbered lines, "00000\n00001\n...", `size` bytes: reordered or lost blocks show.
std::string numbered_lines(std::size_t size) {
    std::string out;
    char line[16];
    for (unsigned i = 0; out.size() < size; ++i) {
        std::snprintf(line, sizeof line, "%05u\n", i);
        out += line;
    }
    out.resize(size);
    return out;
}

coap::ClientConfig dtls_config(std::uint16_t port, std::string_view psk = key) {
    coap::ClientConfig config;
    config.host = "127.0.0.1";
    config.port = port;
    coap::ClientDtlsConfig dtls;
    dtls.credentials = coap::PskCredentials::from_text(std::string(identity), psk);
    dtls.handshake_initial_timeout = 200ms;  // loopback: a lost flight shows fast
    dtls.handshake_retransmissions = 3;
    config.dtls = dtls;
    return config;
}

// libcoap's example server with a PSK, on 127.0.0.1; ready once GET / answers over DTLS.
template <typename Flavour>
class LibcoapDtlsServer {
  public:
    LibcoapDtlsServer() {
        std::string failure;
        for (int attempt = 0; attempt < 3; ++attempt) {  // the ports may be taken meanwhile
            port_ = free_port_pair();
            process_ = std::make_unique<Process>(std::vector<std::string>{
                Flavour::path, "-A", "127.0.0.1", "-p", std::to_string(port_), "-k",
                std::string(key), "-h", "test-hint", "-v", "4"});
            if (ready(failure)) return;
            process_.reset();
        }
        throw std::runtime_error(std::string(Flavour::path) + " did not start: " + failure);
    }
    std::uint16_t dtls_port() const { return static_cast<std::uint16_t>(port_ + 1); }
    Process& process() { return *process_; }

  private:
    bool ready(std::string& failure) {
        auto deadline = Clock::now() + 5s;
        while (Clock::now() < deadline) {
            if (process_->wait(0ms)) {
                failure = "it exited: " + process_->stderr_text();
                return false;
            }
            coap::ClientConfig config = dtls_config(dtls_port());
            config.ack_timeout = 100ms;
            config.max_retransmit = 2;
            config.dtls->handshake_initial_timeout = 50ms;
            config.dtls->handshake_retransmissions = 2;
            coap::Client client(config);
            auto response = client.get("/");
            if (response && response->code() == Code::content) return true;
            failure =
                response ? "GET / answered " + std::string(coap::code_text(response->code()).view())
                         : "GET /: " + error_text(response.error());
            process_->wait(50ms);  // returns at once if it exits
        }
        return false;
    }

    std::uint16_t port_ = 0;
    std::unique_ptr<Process> process_;
};

template <typename Flavour>
class ClientDtls : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (::access(Flavour::path, X_OK) != 0) {
            skip_reason_ = std::string(Flavour::path) + " is missing: install libcoap3-bin";
            return;
        }
        try {
            server_ = std::make_unique<LibcoapDtlsServer<Flavour>>();
        } catch (const std::exception& error) {
            start_error_ = error.what();
        }
    }
    static void TearDownTestSuite() { server_.reset(); }

    void SetUp() override {
        if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
        ASSERT_NE(server_, nullptr) << "the server did not start: " << start_error_;
        server_->process().drain();
        ASSERT_TRUE(server_->process().running()) << "the server has exited; stderr:\n"
                                                  << server_->process().stderr_text();
    }
    void TearDown() override {
        if (!server_) return;
        server_->process().drain();
        if (this->HasFailure())
            std::printf("server stdout:\n%s\nstderr:\n%s\n",
                        server_->process().stdout_text().c_str(),
                        server_->process().stderr_text().c_str());
    }

    static coap::ClientConfig config() { return dtls_config(server_->dtls_port()); }
    static std::string uri(std::string_view path) {
        return "coaps://127.0.0.1:" + std::to_string(server_->dtls_port()) + std::string(path);
    }

    static inline std::unique_ptr<LibcoapDtlsServer<Flavour>> server_;
    static inline std::string skip_reason_;
    static inline std::string start_error_;
};

using Flavours = ::testing::Types<OpenSsl, GnuTls>;

class FlavourNames {
  public:
    template <typename T>
    static std::string GetName(int) {
        return std::is_same_v<T, OpenSsl> ? "OpenSsl" : "GnuTls";
    }
};

TYPED_TEST_SUITE(ClientDtls, Flavours, FlavourNames);

TYPED_TEST(ClientDtls, GetDefaultResourceHandshakesOnTheFirstRequest) {
    coap::Client client(this->config());
    EXPECT_FALSE(client.dtls_status().established);
    auto response = client.get("/");
    ASSERT_TRUE(response) << error_text(response.error());
    EXPECT_EQ(response->code(), Code::content);
    EXPECT_EQ(response->type(), MessageType::ack);
    EXPECT_NE(response->text().find("libcoap"), std::string_view::npos) << response->text();
    coap::DtlsClientStatus status = client.dtls_status();
    EXPECT_TRUE(status.established);
    EXPECT_EQ(status.full_handshakes, 1u);
    EXPECT_EQ(status.failed_handshakes, 0u);

    // The session carries on: a NON request, and discovery, with no new handshake.
    std::vector<coap::Option> none;
    auto non = client.call({Code::get, none, {}, true});
    ASSERT_TRUE(non) << error_text(non.error());
    EXPECT_EQ(non->type(), MessageType::non);
    auto core = client.get("/.well-known/core");
    ASSERT_TRUE(core) << error_text(core.error());
    EXPECT_NE(core->text().find("</time>"), std::string_view::npos) << core->text();
    EXPECT_EQ(client.dtls_status().full_handshakes, 1u);
}

TYPED_TEST(ClientDtls, ExplicitConnectThenPipelinedRequests) {
    coap::Client client(this->config());
    auto error = client.connect();
    ASSERT_FALSE(error.has_value())
        << error_text(*error) << ": "
        << (client.dtls_status().last_failure ? coap::describe(*client.dtls_status().last_failure)
                                              : "");
    EXPECT_TRUE(client.dtls_status().established);
    EXPECT_FALSE(client.connect().has_value()) << "a second connect() does nothing";

    std::vector<coap::Option> none;
    for (int i = 0; i < 8; ++i)
        ASSERT_TRUE(client.submit({Code::get, none, {}, false}));
    int answered = 0;
    auto deadline = Clock::now() + 10s;
    while (client.pending() > 0 && Clock::now() < deadline) {
        auto done = client.poll(500ms);
        if (!done) continue;
        ASSERT_TRUE(done->result) << error_text(done->result.error());
        EXPECT_EQ(done->result->code(), Code::content);
        ++answered;
    }
    EXPECT_EQ(answered, 8);
    EXPECT_EQ(client.dtls_status().full_handshakes, 1u);
}

TYPED_TEST(ClientDtls, BlockwisePutThenGetExampleData) {
    coap::ClientConfig settings = this->config();
    settings.block_szx = 2;  // 64-byte blocks
    coap::Client client(settings);
    const std::string data = numbered_lines(3000);

    auto put = client.put("/example_data", coap::as_bytes(data), coap::ContentFormat::text_plain);
    ASSERT_TRUE(put) << error_text(put.error());
    EXPECT_TRUE(put->code() == Code::changed || put->code() == Code::created);

    auto get = client.get("/example_data");
    ASSERT_TRUE(get) << error_text(get.error());
    EXPECT_EQ(get->code(), Code::content);
    EXPECT_EQ(get->text().size(), data.size());
    EXPECT_TRUE(get->text() == data) << "the body read back differs from the one written";
    auto block2 = get->option(OptionNumber::block2);
    ASSERT_TRUE(block2.has_value()) << "not a Block2 transfer";
    auto block = coap::decode_block(block2->value);
    ASSERT_TRUE(block.has_value());
    EXPECT_EQ(block->num, (data.size() - 1) / 64);
}

TYPED_TEST(ClientDtls, ObserveTimeThenCancel) {
    coap::Client client(this->config());
    auto observation = client.observe("/time");
    ASSERT_TRUE(observation) << error_text(observation.error());
    std::vector<std::uint32_t> sequence;
    auto deadline = Clock::now() + 8s;
    while (sequence.size() < 3 && Clock::now() < deadline) {
        auto notification = observation->next(500ms);
        if (!notification) continue;
        ASSERT_TRUE(notification->result) << error_text(notification->result.error());
        ASSERT_FALSE(notification->last) << "the observation ended";
        EXPECT_EQ(notification->result->code(), Code::content);
        auto observe = notification->result->message().find_uint(OptionNumber::observe);
        ASSERT_TRUE(observe.has_value());
        if (!sequence.empty()) {
            EXPECT_GT(*observe, sequence.back());
        }
        sequence.push_back(*observe);
    }
    // The registration's answer and at least two notifications.
    ASSERT_GE(sequence.size(), 3u) << "fewer than 2 notifications from /time in 8 s";
    auto error = observation->cancel();
    EXPECT_FALSE(error.has_value()) << error_text(*error);
    EXPECT_FALSE(observation->active());
}

TYPED_TEST(ClientDtls, PingWithRawDatagramsGoesThroughTheSession) {
    coap::Client client(this->config());
    // An empty CON is a ping; the answer is an RST with its Message ID (RFC 7252 §4.3).
    // Retransmitted like any CON (§4.2): libcoap may drop a record that arrives while it is
    // still finishing the handshake on its side.
    const std::uint8_t ping[] = {0x40, 0x00, 0x12, 0x34};
    coap::Expected<std::vector<std::uint8_t>, ClientError> reply =
        coap::unexpected(ClientError::timeout);
    for (int attempt = 0; attempt < 3 && !reply; ++attempt) {
        auto sent = client.send_raw(ping);
        ASSERT_FALSE(sent.has_value()) << error_text(*sent);
        EXPECT_TRUE(client.dtls_status().established) << "send_raw handshakes first";
        reply = client.recv_raw(1s);
    }
    ASSERT_TRUE(reply) << error_text(reply.error());
    auto message = coap::parse(*reply);
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(message->type(), MessageType::rst);
    EXPECT_EQ(message->message_id(), 0x1234);
}

TYPED_TEST(ClientDtls, ReconnectResumesTheSession) {
    coap::Client client(this->config());
    ASSERT_TRUE(client.get("/"));
    client.disconnect();  // close_notify; the session stays resumable (RFC 5246 §7.2.1)
    EXPECT_FALSE(client.dtls_status().established);
    auto again = client.get("/");
    ASSERT_TRUE(again) << error_text(again.error());
    EXPECT_EQ(again->code(), Code::content);
    coap::DtlsClientStatus status = client.dtls_status();
    EXPECT_TRUE(status.established);
    EXPECT_EQ(status.full_handshakes + status.resumed_handshakes, 2u);
    if constexpr (TypeParam::resumes) {
        EXPECT_EQ(status.resumed_handshakes, 1u) << "the server did not resume the session";
        EXPECT_TRUE(status.resumed);
    } else {
        EXPECT_EQ(status.full_handshakes, 2u) << "offering an unknown session falls back";
    }

    // Without resumption, a full handshake each time.
    coap::ClientConfig settings = this->config();
    settings.dtls->resume = false;
    coap::Client fresh(settings);
    ASSERT_TRUE(fresh.get("/"));
    fresh.disconnect();
    ASSERT_TRUE(fresh.get("/"));
    EXPECT_EQ(fresh.dtls_status().full_handshakes, 2u);
    EXPECT_EQ(fresh.dtls_status().resumed_handshakes, 0u);
}

TYPED_TEST(ClientDtls, WrongKeyFailsWithAClearErrorInBoundedTime) {
    coap::ClientConfig settings = dtls_config(this->server_->dtls_port(), "not-the-key");
    settings.dtls->handshake_initial_timeout = 100ms;
    settings.dtls->handshake_retransmissions = 2;  // gives up after 100 + 200 + 400 ms
    coap::Client client(settings);
    auto start = Clock::now();
    auto response = client.get("/");
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    ASSERT_FALSE(response) << "a wrong key got an answer";
    EXPECT_EQ(response.error(), ClientError::handshake_failed) << error_text(response.error());
    EXPECT_LT(seconds, 3.0);
    coap::DtlsClientStatus status = client.dtls_status();
    EXPECT_FALSE(status.established);
    EXPECT_EQ(status.failed_handshakes, 1u);
    ASSERT_TRUE(status.last_failure.has_value());
    std::string why = coap::describe(*status.last_failure);
    // Either the server drops our Finished (a timeout) or it says so with an alert.
    if (status.last_failure->cause == DtlsHandshakeFailure::Cause::timeout) {
        EXPECT_NE(why.find("wrong pre-shared key"), std::string::npos) << why;
    } else {
        EXPECT_EQ(status.last_failure->cause, DtlsHandshakeFailure::Cause::server_alert) << why;
    }

    // connect() says the same, and the next attempt is a new handshake.
    auto error = client.connect();
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(*error, ClientError::handshake_failed);
    EXPECT_EQ(client.dtls_status().failed_handshakes, 2u);
}

// ---------------------------------------------------------------------------------------------
// The CLI.

ProcessResult run_cli(std::vector<std::string> args) {
    args.insert(args.begin(), COAP_CLI_PATH);
    return run_process(args, std::chrono::seconds(20));
}

std::string show(const ProcessResult& result) {
    return "exit status " + std::to_string(result.exit_status) +
           (result.timed_out ? " (timed out)" : "") + "\n--- stdout ---\n" + result.out +
           "\n--- stderr ---\n" + result.err;
}

TYPED_TEST(ClientDtls, CliGetWithTextAndHexKeys) {
    ProcessResult text =
        run_cli({"get", "-u", std::string(identity), "-k", std::string(key), this->uri("/")});
    EXPECT_EQ(text.exit_status, 0) << show(text);
    EXPECT_NE(text.out.find("This is a test server made with libcoap"), std::string::npos)
        << show(text);

    std::string hex;
    char two[3];
    for (char c : key) {
        std::snprintf(two, sizeof two, "%02x", static_cast<unsigned char>(c));
        hex += two;
    }
    ProcessResult from_hex =
        run_cli({"get", "-v", "-u", std::string(identity), "--psk-key-hex", hex, this->uri("/")});
    EXPECT_EQ(from_hex.exit_status, 0) << show(from_hex);
    EXPECT_NE(from_hex.err.find("DTLS session"), std::string::npos) << show(from_hex);
}

TYPED_TEST(ClientDtls, CliWrongKeyExitsWithThree) {
    ProcessResult result = run_cli(
        {"get", "--timeout", "1", "-u", std::string(identity), "-k", "wrong", this->uri("/")});
    EXPECT_EQ(result.exit_status, 3) << show(result);
    EXPECT_NE(result.err.find("DTLS handshake"), std::string::npos) << show(result);
}

}  // namespace
