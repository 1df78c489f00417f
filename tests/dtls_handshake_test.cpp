// The DTLS 1.2 PSK handshake between our own server and client (RFC 6347 §4.2, RFC 4279 §2,
// RFC 7627), driven in-process with injected time: full and abbreviated handshakes with every
// extended-master-secret combination, failures that must end in a fatal alert (RFC 5246 §7.2.2),
// closing and replacing sessions, flights within the MTU, and what a session costs (no
// allocation for application data, bytes per session, handshakes per second).
// Hostile input: dtls_handshake_attack_test.cpp; loss, timers and tables:
// dtls_handshake_timing_test.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include <openssl/crypto.h>

#include "support/count_allocations.hpp"
#include "support/count_libcrypto.hpp"
#include "support/dtls_pair.hpp"

using coap::test::libcrypto_allocations;
using coap::test::libcrypto_bytes;
using coap::test::libcrypto_hooks;

namespace coap::dtls {
namespace {

using namespace std::chrono_literals;
using namespace handshake_test;

TEST(DtlsHandshake, FullHandshakeThenApplicationDataBothWays) {
    Net net(server_config());
    net.add(client_config());
    net.connect();
    net.pump();
    ASSERT_TRUE(net.established());
    EXPECT_EQ(net.server.stats().hello_verify_requests, 1u);
    EXPECT_EQ(net.server.stats().handshakes_completed, 1u);
    EXPECT_EQ(net.server.handshake_count(), 0u);  // the slot went back to the pool
    EXPECT_EQ(as_string(net.server.identity_of(net.peer().address)), "client-1");
    EXPECT_TRUE(net.client().handshake().extended_master_secret());
    EXPECT_FALSE(net.client().handshake().resumed());
    ASSERT_EQ(net.server_events.established_peers.size(), 1u);
    ASSERT_EQ(net.peer().events.established_peers.size(), 1u);
    // Flights 1..6 of RFC 6347 Figure 1, one datagram each.
    EXPECT_EQ(net.to_server, 3);
    EXPECT_EQ(net.to_clients, 3);
    net.expect_data_both_ways();
    net.expect_data_both_ways();
}

TEST(DtlsHandshake, ExtendedMasterSecretEveryCombination) {
    for (bool server_ems : {false, true}) {
        for (bool client_ems : {false, true}) {
            SCOPED_TRACE(testing::Message() << "server " << server_ems << " client " << client_ems);
            Net net(server_config(server_ems));
            net.add(client_config(client_ems));
            net.connect();
            net.pump();
            ASSERT_TRUE(net.established());
            EXPECT_EQ(net.client().handshake().extended_master_secret(), server_ems && client_ems);
            net.expect_data_both_ways();
        }
    }
}

TEST(DtlsHandshake, ResumptionIsAbbreviatedOnBothSides) {
    for (bool ems : {false, true}) {
        SCOPED_TRACE(ems);
        Net net(server_config());
        net.add(client_config(ems));
        net.connect();
        net.pump();
        ASSERT_TRUE(net.established());
        ASSERT_TRUE(net.client().resumable().usable());
        net.client().close(net.peer().events);
        net.pump();
        EXPECT_FALSE(net.server.has_session(net.peer().address));
        EXPECT_EQ(net.server.resumption_count(), 1u);

        net.to_server = net.to_clients = 0;
        net.connect();
        net.pump();
        ASSERT_TRUE(net.established());
        EXPECT_TRUE(net.client().handshake().resumed());
        EXPECT_EQ(net.server.stats().handshakes_resumed, 1u);
        EXPECT_EQ(as_string(net.server.identity_of(net.peer().address)), "client-1");
        // Figure 2 after a cookie exchange: hello, HVR, hello, SH+CCS+Finished, CCS+Finished.
        EXPECT_EQ(net.to_server, 3);
        EXPECT_EQ(net.to_clients, 2);
        net.expect_data_both_ways();
    }
}

// RFC 7627 §5.3: never resume across a difference in extended master secret use.
TEST(DtlsHandshake, ResumptionAcrossEmsDifferenceFallsBackToFullHandshake) {
    for (bool first_ems : {false, true}) {
        SCOPED_TRACE(first_ems);
        Net net(server_config());
        net.add(client_config(first_ems), address("192.0.2.10", 40000));
        net.add(client_config(!first_ems), address("192.0.2.11", 40000));
        net.connect(0);
        net.pump();
        ASSERT_TRUE(net.established(0));
        net.client(1).set_resumable(net.client(0).resumable());
        net.connect(1);
        net.pump();
        ASSERT_TRUE(net.established(1));
        EXPECT_FALSE(net.client(1).handshake().resumed());
        EXPECT_EQ(net.server.stats().handshakes_resumed, 0u);
        EXPECT_EQ(net.client(1).handshake().extended_master_secret(), !first_ems);
        net.expect_data_both_ways(1);
    }
}

TEST(DtlsHandshake, UnknownSessionIdGetsFullHandshake) {
    Net net(server_config());
    net.add(client_config());
    ResumableSession made_up;
    made_up.set_id(as_bytes("0123456789abcdef0123456789abcdef"));
    made_up.extended_master_secret = true;
    net.client().set_resumable(made_up);
    net.connect();
    net.pump();
    ASSERT_TRUE(net.established());
    EXPECT_FALSE(net.client().handshake().resumed());
}

TEST(DtlsHandshake, WrongKeyFailsFinishedWithBadRecordMac) {
    Net net(server_config());
    DtlsClientConfig config = client_config();
    config.handshake.key = PskKey(as_bytes("not the right key"));
    net.add(std::move(config));
    net.connect();
    net.pump();
    EXPECT_EQ(net.client().state(), ClientState::closed);
    ASSERT_TRUE(net.client().handshake().received_alert());
    // With another key the Finished record does not even authenticate: RFC 5246 §7.2.2
    // bad_record_mac, fatal.
    EXPECT_EQ(*net.client().handshake().received_alert(),
              fatal_alert(AlertDescription::bad_record_mac));
    EXPECT_EQ(net.server.session_count(), 0u);
    EXPECT_EQ(net.server.handshake_count(), 0u);
    EXPECT_EQ(net.server.stats().handshakes_failed, 1u);
    ASSERT_EQ(net.peer().events.closed_peers.size(), 1u);
    EXPECT_EQ(net.peer().events.closed_peers[0].second, CloseReason::peer_alert);
}

// The keys agree but the transcripts do not (the identity hint, which feeds no key without
// the extended master secret, was altered on the way): the Finished decrypts but does not
// verify, RFC 5246 §7.2.2 decrypt_error.
TEST(DtlsHandshake, AlteredTranscriptFailsFinishedWithDecryptError) {
    DtlsServerConfig config = server_config(false);
    config.handshake.identity_hint = "hint";
    Net net(std::move(config));
    net.add(client_config(false));
    net.filter = [&](bool to_server, Buffer& datagram) {
        if (!to_server && is_message(datagram, HandshakeType::server_hello)) {
            auto at = std::search(datagram.begin(), datagram.end(), std::begin("hint"),
                                  std::end("hint") - 1);
            if (at != datagram.end()) *at = 'H';
        }
        return true;
    };
    net.connect();
    net.pump();
    EXPECT_EQ(net.client().state(), ClientState::closed);
    ASSERT_TRUE(net.client().handshake().received_alert());
    EXPECT_EQ(*net.client().handshake().received_alert(),
              fatal_alert(AlertDescription::decrypt_error));
    EXPECT_EQ(net.server.session_count(), 0u);
    EXPECT_EQ(net.server.handshake_count(), 0u);
}

TEST(DtlsHandshake, UnknownIdentityGetsUnknownPskIdentityAlert) {
    Net net(server_config());
    net.add(client_config(true, "nobody"));
    net.connect();
    net.pump();
    EXPECT_EQ(net.client().state(), ClientState::closed);
    ASSERT_TRUE(net.client().handshake().received_alert());
    EXPECT_EQ(*net.client().handshake().received_alert(),
              fatal_alert(AlertDescription::unknown_psk_identity));  // RFC 4279 §2: 115
    EXPECT_EQ(net.server.session_count(), 0u);
    EXPECT_EQ(net.server.handshake_count(), 0u);
}

TEST(DtlsHandshake, CloseNotifyEndsTheSessionOnBothSides) {
    Net net(server_config());
    net.add(client_config());
    net.connect();
    net.pump();
    ASSERT_TRUE(net.established());
    net.client().close(net.peer().events);
    net.pump();
    EXPECT_EQ(net.server.session_count(), 0u);
    EXPECT_EQ(net.client().state(), ClientState::closed);
    ASSERT_EQ(net.server_events.closed_peers.size(), 1u);
    EXPECT_EQ(net.server_events.closed_peers[0].second, CloseReason::peer_close_notify);

    net.connect();
    net.pump();
    ASSERT_TRUE(net.established());
    net.server.close(net.peer().address, net.server_events);
    net.pump();
    EXPECT_EQ(net.client().state(), ClientState::closed);
    EXPECT_EQ(net.peer().events.closed_peers.back().second, CloseReason::peer_close_notify);
}

// RFC 6347 §4.2.8: a new handshake from the same endpoint replaces the session only once it
// completes; until then the old session keeps working.
TEST(DtlsHandshake, NewHandshakeFromSameEndpointReplacesSessionWhenComplete) {
    Net net(server_config());
    net.add(client_config(), address("192.0.2.10", 7));
    net.connect();
    net.pump();
    ASSERT_TRUE(net.established());
    ResumableSession none;
    net.client().set_resumable(none);
    int to_client = 0;
    net.filter = [&](bool to_server, Buffer&) { return to_server || ++to_client <= 1; };
    net.connect();
    net.pump();
    EXPECT_EQ(net.server.handshake_count(), 1u);
    EXPECT_TRUE(net.server.has_session(net.peer().address));
    net.filter = nullptr;
    net.advance(1s);
    net.pump();
    ASSERT_TRUE(net.established());
    EXPECT_EQ(net.server.session_count(), 1u);
    EXPECT_EQ(net.server_events.closed_peers.back().second, CloseReason::replaced);
    net.expect_data_both_ways();
}

TEST(DtlsHandshake, ServerFlightsRespectTheMtu) {
    DtlsServerConfig config = server_config();
    config.mtu = 48;
    config.handshake.identity_hint = std::string(60, 'x');
    Net net(std::move(config));
    net.add(client_config());
    std::size_t largest = 0;
    net.filter = [&](bool to_server, Buffer& datagram) {
        if (!to_server && !is_message(datagram, HandshakeType::hello_verify_request))
            largest = std::max(largest, datagram.size());
        return true;
    };
    net.connect();
    net.pump();
    ASSERT_TRUE(net.established());
    EXPECT_LE(largest, 48u);
}

TEST(DtlsHandshake, ApplicationDataAllocatesNothing) {
    ASSERT_TRUE(libcrypto_hooks);
    Net net(server_config());
    net.add(client_config());
    net.connect();
    net.pump();
    ASSERT_TRUE(net.established());
    ASSERT_TRUE(net.client().seal(as_bytes("warm-up"), net.peer().events));
    const Buffer first = net.peer().events.take().at(0).second;
    net.server.on_datagram(net.peer().address, first, net.now, net.server_events);
    net.server_events.data.reserve(16);
    net.server_events.sent.reserve(16);
    net.peer().events.sent.reserve(16);

    struct Null final : DtlsEvents {
        std::size_t bytes = 0;
        void send(const Endpoint&, Bytes datagram) noexcept override { bytes += datagram.size(); }
        void received(const Endpoint&, Bytes data) noexcept override { bytes += data.size(); }
    } sink;
    ASSERT_TRUE(net.client().seal(as_bytes("measured"), net.peer().events));
    const Buffer record = net.peer().events.take().at(0).second;
    const std::size_t before = libcrypto_allocations;
    test::AllocationCounter counter;
    for (int i = 0; i < 10; ++i)
        (void)net.server.seal_to(net.peer().address, as_bytes("coap reply"), net.now, sink);
    net.server.on_datagram(net.peer().address, record, net.now, sink);
    const std::size_t allocations = counter.count();
    counter.stop();
    EXPECT_EQ(allocations, 0u);
    EXPECT_EQ(libcrypto_allocations - before, 0u);
    EXPECT_GT(sink.bytes, 0u);
}

TEST(DtlsHandshake, SizesAndFullHandshakesPerSecond) {
    std::printf("bytes per established session: %zu (Session %zu)\n",
                SessionTable::bytes_per_session, sizeof(Session));
    ServerHandshakeConfig handshake_config;
    auto warm_up = std::make_unique<ServerHandshake>(handshake_config);  // OpenSSL's lazy set-up
    const std::size_t heap_before = libcrypto_bytes;
    auto slot = std::make_unique<ServerHandshake>(handshake_config);
    std::printf("bytes per handshake slot: %zu + %zu in libcrypto (transcript digest contexts)\n",
                HandshakePool::bytes_per_slot, libcrypto_bytes - heap_before);
    std::printf("bytes per resumption cache entry: %zu\n", ResumptionCache::bytes_per_entry);
    Net net(server_config());
    net.add(client_config());
    const auto start = std::chrono::steady_clock::now();
    int handshakes = 0;
    for (; handshakes < 300; ++handshakes) {
        net.client().forget_resumable();
        net.connect();
        net.pump();
        ASSERT_TRUE(net.established());
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "full handshakes (with cookie exchange) per second, both sides in one thread: %.0f\n",
        handshakes / seconds);
}

}  // namespace
}  // namespace coap::dtls
