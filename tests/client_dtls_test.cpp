// The client's DTLS layer (src/client/secure_channel.hpp) against the library's own sans-I/O
// DtlsServer, in memory with injected time: handshakes (full and resumed, RFC 5246 §7.3),
// sealed datagrams both ways, a session the server closes (close_notify, RFC 5246 §7.2.1), and
// how failed handshakes are reported: an alert (unknown identity, RFC 4279 §2), no answer
// within the retransmission bound (RFC 6347 §4.2.4.1), an unreachable server. The same layer
// against libcoap's servers over sockets is tests/e2e/client_dtls_libcoap_test.cpp.
#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "client/secure_channel.hpp"
#include "coap/client.hpp"
#include "dtls/dtls_server.hpp"
#include "support/count_allocations.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using Buffer = std::vector<std::uint8_t>;

constexpr std::string_view key = "a key for tests";

Endpoint client_address() {
    return *Endpoint::from_literal("192.0.2.10", 40000);
}

dtls::DtlsServerConfig server_config() {
    dtls::DtlsServerConfig config;
    config.session_count = 4;
    config.handshake_count = 4;
    config.resumption_cache_size = 4;
    config.handshake.psk_lookup = [](std::string_view identity) -> std::optional<dtls::PskKey> {
        if (identity == "device-1") return dtls::PskKey(as_bytes(key));
        return std::nullopt;
    };
    return config;
}

ClientDtlsConfig client_config(std::string identity = "device-1", std::string_view psk = key) {
    ClientDtlsConfig config;
    config.credentials = PskCredentials::from_text(std::move(identity), psk);
    config.handshake_initial_timeout = 1s;
    config.handshake_retransmissions = 2;  // gives up 1 + 2 + 4 = 7 s after the first flight
    return config;
}

// What the channel sends, queued for the server.
struct Outbox final : dtls::DatagramSink {
    std::vector<Buffer> datagrams;
    void send(Bytes datagram) noexcept override {
        datagrams.emplace_back(datagram.begin(), datagram.end());
    }
};

// The server's side: datagrams for the client, and what it decrypted.
struct ServerEvents final : dtls::DtlsEvents {
    std::vector<Buffer> to_client;
    std::vector<Buffer> received_data;
    void send(const Endpoint&, Bytes datagram) noexcept override {
        to_client.emplace_back(datagram.begin(), datagram.end());
    }
    void received(const Endpoint&, Bytes data) noexcept override {
        received_data.emplace_back(data.begin(), data.end());
    }
};

class SecureChannelTest : public ::testing::Test {
  protected:
    explicit SecureChannelTest(ClientDtlsConfig config = client_config())
        : channel_(config, outbox_), server_(server_config()) {}

    // Delivers datagrams both ways until neither side has anything to send; with `silent`,
    // the server never gets them.
    void pump(bool silent = false) {
        for (int round = 0; round < 20; ++round) {
            auto out = std::exchange(outbox_.datagrams, {});
            auto in = std::exchange(events_.to_client, {});
            if (out.empty() && in.empty()) return;
            if (!silent)
                for (const Buffer& datagram : out)
                    server_.on_datagram(client_address(), datagram, now_, events_);
            for (const Buffer& datagram : in) {
                auto keep = [this](Bytes plaintext) {
                    delivered_.emplace_back(plaintext.begin(), plaintext.end());
                };
                channel_.on_datagram(datagram, now_, keep);
            }
        }
        FAIL() << "datagrams kept flowing";
    }
    // Runs the channel's timer until `until`, a second at a time.
    void advance(Duration until, bool silent = false) {
        for (Duration step{}; step < until; step += 1s) {
            now_ += 1s;
            channel_.on_timer(now_);
            pump(silent);
        }
    }
    void handshake() {
        channel_.start(now_);
        pump();
        ASSERT_TRUE(channel_.established());
        ASSERT_EQ(channel_.take_outcome(), SecureChannel::Outcome::none);
    }

    Outbox outbox_;
    SecureChannel channel_;
    dtls::DtlsServer server_;
    ServerEvents events_;
    std::vector<Buffer> delivered_;
    TimePoint now_ = TimePoint{} + 1h;
};

TEST_F(SecureChannelTest, HandshakeThenSealedDatagramsBothWays) {
    ASSERT_TRUE(channel_.valid());
    EXPECT_FALSE(channel_.seal(as_bytes("too early"))) << "no session yet";
    handshake();
    const DtlsClientStatus& status = channel_.status();
    EXPECT_TRUE(status.established);
    EXPECT_FALSE(status.resumed);
    EXPECT_EQ(status.full_handshakes, 1u);
    EXPECT_TRUE(server_.has_session(client_address()));

    ASSERT_TRUE(channel_.seal(as_bytes("request")));
    pump();
    ASSERT_EQ(events_.received_data.size(), 1u);
    EXPECT_EQ(as_string(events_.received_data[0]), "request");
    ASSERT_TRUE(server_.seal_to(client_address(), as_bytes("response"), now_, events_));
    pump();
    ASSERT_EQ(delivered_.size(), 1u);
    EXPECT_EQ(as_string(delivered_[0]), "response");

    channel_.start(now_);  // a session is up: nothing happens
    EXPECT_TRUE(outbox_.datagrams.empty());
}

TEST_F(SecureChannelTest, SealingAndOpeningAllocateNothing) {
    handshake();
    ASSERT_TRUE(channel_.seal(as_bytes("warm-up")));
    pump();
    Buffer request(64, 'q');
    ASSERT_TRUE(server_.seal_to(client_address(), as_bytes("response"), now_, events_));
    Buffer sealed = events_.to_client.back();
    events_.to_client.clear();
    std::size_t delivered = 0;
    auto count = [&delivered](Bytes) { ++delivered; };
    outbox_.datagrams.reserve(4);
    test::AllocationCounter counter;
    for (int i = 0; i < 3; ++i)
        ASSERT_TRUE(channel_.seal(request));
    channel_.on_datagram(sealed, now_, count);
    counter.stop();
    EXPECT_EQ(delivered, 1u);
    // The Outbox copies each datagram into a vector: three allocations, none of the channel's.
    EXPECT_EQ(test::AllocationCounter::count(), 3u);
}

TEST_F(SecureChannelTest, ServerCloseEndsTheSessionAndTheNextHandshakeResumes) {
    handshake();
    server_.close(client_address(), events_);  // close_notify
    pump();
    EXPECT_FALSE(channel_.established());
    EXPECT_EQ(channel_.take_outcome(), SecureChannel::Outcome::session_closed);
    EXPECT_EQ(channel_.take_outcome(), SecureChannel::Outcome::none) << "reported once";
    EXPECT_FALSE(channel_.seal(as_bytes("after close")));

    handshake();
    EXPECT_TRUE(channel_.status().resumed);
    EXPECT_EQ(channel_.status().resumed_handshakes, 1u);
    EXPECT_EQ(channel_.status().full_handshakes, 1u);
    ASSERT_TRUE(channel_.seal(as_bytes("again")));
    pump();
    ASSERT_FALSE(events_.received_data.empty());
    EXPECT_EQ(as_string(events_.received_data.back()), "again");
}

TEST_F(SecureChannelTest, OwnCloseSendsCloseNotifyAndReportsNothing) {
    handshake();
    channel_.close();
    EXPECT_FALSE(channel_.established());
    EXPECT_EQ(channel_.take_outcome(), SecureChannel::Outcome::none);
    ASSERT_EQ(outbox_.datagrams.size(), 1u) << "close_notify";
    pump();
    EXPECT_FALSE(server_.has_session(client_address()));
}

TEST_F(SecureChannelTest, SilentServerFailsWithinTheRetransmissionBound) {
    channel_.start(now_);
    pump(/*silent=*/true);
    advance(6s, true);
    EXPECT_TRUE(channel_.handshaking()) << "1 + 2 s of retransmissions, then 4 s more";
    advance(1s, true);
    EXPECT_FALSE(channel_.handshaking());
    EXPECT_EQ(channel_.take_outcome(), SecureChannel::Outcome::handshake_failed);
    const DtlsClientStatus& status = channel_.status();
    EXPECT_EQ(status.failed_handshakes, 1u);
    ASSERT_TRUE(status.last_failure.has_value());
    EXPECT_EQ(status.last_failure->cause, DtlsHandshakeFailure::Cause::timeout);
    EXPECT_NE(describe(*status.last_failure).find("wrong pre-shared key"), std::string::npos);
    EXPECT_FALSE(channel_.next_deadline().has_value());
}

TEST_F(SecureChannelTest, UnreachableServerEndsTheHandshake) {
    channel_.start(now_);
    channel_.abort_unreachable();
    EXPECT_FALSE(channel_.handshaking());
    EXPECT_EQ(channel_.take_outcome(), SecureChannel::Outcome::handshake_failed);
    ASSERT_TRUE(channel_.status().last_failure.has_value());
    EXPECT_EQ(channel_.status().last_failure->cause, DtlsHandshakeFailure::Cause::network);
}

class UnknownIdentity : public SecureChannelTest {
  protected:
    UnknownIdentity() : SecureChannelTest(client_config("stranger")) {}
};

TEST_F(UnknownIdentity, FailsWithTheServersAlert) {
    channel_.start(now_);
    pump();
    EXPECT_FALSE(channel_.established());
    EXPECT_EQ(channel_.take_outcome(), SecureChannel::Outcome::handshake_failed);
    ASSERT_TRUE(channel_.status().last_failure.has_value());
    const DtlsHandshakeFailure& failure = *channel_.status().last_failure;
    EXPECT_EQ(failure.cause, DtlsHandshakeFailure::Cause::server_alert);
    EXPECT_EQ(failure.alert, 115);  // unknown_psk_identity (RFC 4279 §2)
    EXPECT_NE(describe(failure).find("unknown_psk_identity (115)"), std::string::npos)
        << describe(failure);
}

class WrongKey : public SecureChannelTest {
  protected:
    WrongKey() : SecureChannelTest(client_config("device-1", "not the key")) {}
};

TEST_F(WrongKey, FailsWithAnAlertOrWithinTheRetransmissionBound) {
    channel_.start(now_);
    pump();
    advance(7s);
    EXPECT_FALSE(channel_.established());
    EXPECT_EQ(channel_.take_outcome(), SecureChannel::Outcome::handshake_failed);
    ASSERT_TRUE(channel_.status().last_failure.has_value());
    EXPECT_FALSE(describe(*channel_.status().last_failure).empty());
}

TEST(DtlsHandshakeFailureText, NamesTheAlert) {
    EXPECT_EQ(describe(DtlsHandshakeFailure{DtlsHandshakeFailure::Cause::server_alert, 40}),
              "the server sent a fatal alert: handshake_failure (40)");
    EXPECT_NE(describe(DtlsHandshakeFailure{DtlsHandshakeFailure::Cause::client_alert, 51})
                  .find("decrypt_error (51)"),
              std::string::npos);
    EXPECT_NE(describe(DtlsHandshakeFailure{DtlsHandshakeFailure::Cause::server_alert, 200})
                  .find("alert (200)"),
              std::string::npos);
    EXPECT_NE(
        describe(DtlsHandshakeFailure{DtlsHandshakeFailure::Cause::network, 0}).find("unreachable"),
        std::string::npos);
}

TEST(ClientDtlsSettings, BadCredentialsAreRejectedAtConstruction) {
    ClientConfig config;
    config.dtls = ClientDtlsConfig{};  // no key
    EXPECT_THROW(Client{config}, std::invalid_argument);
    config.dtls = client_config();
    config.dtls->credentials.identity = std::string(200, 'x');
    EXPECT_THROW(Client{config}, std::invalid_argument);
    config.dtls = client_config();
    config.buffer_size = 20000;  // more than one record carries
    EXPECT_THROW(Client{config}, std::invalid_argument);
}

TEST(ClientErrorText, DescribesTheDtlsErrors) {
    EXPECT_NE(describe(ClientError::handshake_failed).find("DTLS handshake"),
              std::string_view::npos);
    EXPECT_NE(describe(ClientError::session_closed).find("DTLS session"), std::string_view::npos);
}

}  // namespace
}  // namespace coap::detail
