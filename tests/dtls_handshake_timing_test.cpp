// The DTLS 1.2 PSK handshake over time (set-up in support/dtls_pair.hpp): lost flights and
// their recovery (RFC 6347 §4.2.4), reordered fragments (§4.2.3), the exact retransmission
// schedule on both sides and peers that vanish (§4.2.4.1), the handshake pool, and the session
// table (least recently active eviction, idle expiry).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "support/dtls_pair.hpp"

namespace coap::dtls {
namespace {

using namespace std::chrono_literals;
using namespace handshake_test;

// RFC 6347 §4.2.4: the server's final flight is lost; the client's timer resends flight 5 and
// the server, already established, answers with its final flight again.
TEST(DtlsHandshake, LostFinalServerFlightIsRecoveredFromTheSession) {
    Net net(server_config());
    net.add(client_config());
    int to_client = 0;
    net.filter = [&](bool to_server, Buffer&) { return to_server || ++to_client != 3; };
    net.connect();
    net.pump();
    EXPECT_TRUE(net.server.has_session(net.peer().address));
    EXPECT_EQ(net.client().state(), ClientState::handshaking);
    net.advance(1s);
    net.pump();
    ASSERT_TRUE(net.established());
    net.expect_data_both_ways();
}

// Figure 2: in a resumed handshake the client sends the last flight; when it is lost, the
// server retransmits and the client's session answers.
TEST(DtlsHandshake, LostFinalClientFlightOfResumptionIsRecoveredFromTheSession) {
    Net net(server_config());
    net.add(client_config());
    net.connect();
    net.pump();
    net.client().close(net.peer().events);
    net.pump();
    int to_server = 0;
    net.filter = [&](bool toward_server, Buffer&) { return !toward_server || ++to_server != 3; };
    net.connect();
    net.pump();
    EXPECT_EQ(net.client().state(), ClientState::established);
    EXPECT_FALSE(net.server.has_session(net.peer().address));
    // RFC 6347 §4.2.4: data of the new epoch before its Finished is discarded.
    ASSERT_TRUE(net.client().seal(as_bytes("early"), net.peer().events));
    net.pump();
    EXPECT_TRUE(net.server_events.data.empty());
    auto refused =
        net.server.seal_to(net.peer().address, as_bytes("early"), net.now, net.server_events);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), DtlsError::no_session);
    net.advance(1s);  // the server's timer resends ServerHello, CCS, Finished
    net.pump();
    ASSERT_TRUE(net.established());
    EXPECT_TRUE(net.client().handshake().resumed());
    net.expect_data_both_ways();
}

// A small MTU fragments the server's flight (RFC 6347 §4.2.3); delivering its datagrams in
// reverse order loses the messages that arrive early, and retransmission recovers.
TEST(DtlsHandshake, FragmentedFlightDeliveredOutOfOrder) {
    DtlsServerConfig config = server_config();
    config.mtu = 60;
    config.handshake.identity_hint = std::string(100, 'h');  // a ServerKeyExchange of 114 bytes
    Net net(std::move(config));
    net.add(client_config());
    std::vector<Buffer> held;
    bool hold = true;
    net.filter = [&](bool to_server, Buffer& datagram) {
        if (to_server || !hold) return true;
        EXPECT_LE(datagram.size(), 60u);
        if (is_message(datagram, HandshakeType::hello_verify_request)) return true;
        held.push_back(datagram);
        return false;
    };
    net.connect();
    net.pump();
    ASSERT_GT(held.size(), 4u);
    hold = false;
    for (auto it = held.rbegin(); it != held.rend(); ++it)
        net.client().on_datagram(net.server_address, *it, net.now, net.peer().events);
    net.pump();
    EXPECT_FALSE(net.established());
    net.advance(1s);  // the client resends its hello; the server resends flight 4 in order
    net.pump();
    ASSERT_TRUE(net.established());
    net.expect_data_both_ways();
}

// RFC 6347 §4.2.4.1: 1 s, doubling; five retransmissions; the slot is reclaimed after 63 s.
TEST(DtlsHandshake, VanishedClientSlotIsReclaimedOnExactSchedule) {
    Net net(server_config());
    net.add(client_config());
    int to_server = 0;
    net.filter = [&](bool toward_server, Buffer&) { return !toward_server || ++to_server <= 2; };
    net.connect();
    net.pump();
    ASSERT_EQ(net.server.handshake_count(), 1u);
    const TimePoint start = net.now;
    std::vector<Duration> retransmissions;
    for (auto elapsed = 500ms; elapsed <= 70s; elapsed += 500ms) {
        net.now = start + elapsed;
        net.server.on_timer(net.now, net.server_events);
        if (!net.server_events.take().empty()) retransmissions.push_back(elapsed);
        if (net.server.handshake_count() == 0) break;
    }
    EXPECT_EQ(retransmissions, (std::vector<Duration>{1s, 3s, 7s, 15s, 31s}));
    EXPECT_EQ(net.now - start, 63s);
    EXPECT_EQ(net.server.handshake_count(), 0u);
    ASSERT_EQ(net.server_events.closed_peers.size(), 1u);
    EXPECT_EQ(net.server_events.closed_peers[0].second, CloseReason::handshake_timeout);
}

TEST(DtlsHandshake, ClientRetransmitsOnExactScheduleThenGivesUp) {
    Net net(server_config());
    net.add(client_config());
    net.connect();
    ASSERT_EQ(net.peer().events.take().size(), 1u);  // the hello, never answered
    const TimePoint start = net.now;
    ASSERT_EQ(net.client().next_deadline(), start + 1s);
    std::vector<Duration> retransmissions;
    for (auto elapsed = 250ms; elapsed <= 70s; elapsed += 250ms) {
        net.now = start + elapsed;
        net.client().on_timer(net.now, net.peer().events);
        if (!net.peer().events.take().empty()) retransmissions.push_back(elapsed);
        if (net.client().state() != ClientState::handshaking) break;
    }
    EXPECT_EQ(retransmissions, (std::vector<Duration>{1s, 3s, 7s, 15s, 31s}));
    EXPECT_EQ(net.now - start, 63s);
    EXPECT_EQ(net.client().state(), ClientState::closed);
    EXPECT_EQ(net.peer().events.closed_peers.back().second, CloseReason::handshake_timeout);
}

TEST(DtlsHandshake, RepeatedHelloMakesServerResendItsFlight) {
    Net net(server_config());
    net.add(client_config());
    int to_client = 0;
    net.filter = [&](bool to_server, Buffer&) { return to_server || ++to_client != 2; };
    net.connect();
    net.pump();  // flight 4 lost
    EXPECT_EQ(net.server.handshake_count(), 1u);
    net.advance(1s);  // client resends hello+cookie: server resends flight 4 at once
    net.pump();
    ASSERT_TRUE(net.established());
    EXPECT_EQ(net.server.stats().handshakes_started, 1u);
}

TEST(DtlsHandshake, FullHandshakePoolRefusesNewHandshakes) {
    DtlsServerConfig config = server_config();
    config.handshake_count = 1;
    Net net(std::move(config));
    net.add(client_config(), address("192.0.2.10", 1));
    net.add(client_config(), address("192.0.2.11", 1));
    int to_client = 0;
    net.filter = [&](bool to_server, Buffer&) { return to_server || ++to_client <= 2; };
    net.connect(0);
    net.connect(1);
    net.pump();
    EXPECT_EQ(net.server.handshake_count(), 1u);
    EXPECT_EQ(net.server.stats().handshakes_refused, 1u);
}

TEST(DtlsHandshake, LeastRecentlyActiveSessionIsEvictedWhenTheTableIsFull) {
    DtlsServerConfig config = server_config();
    config.session_count = 2;
    Net net(std::move(config));
    for (std::uint16_t port : {1, 2, 3})
        net.add(client_config(), address("192.0.2.10", port));
    net.connect(0);
    net.pump();
    net.now += 1s;
    net.connect(1);
    net.pump();
    net.now += 1s;
    net.expect_data_both_ways(0);  // 0 is now more recently active than 1
    net.connect(2);
    net.pump();
    EXPECT_EQ(net.server.session_count(), 2u);
    EXPECT_TRUE(net.server.has_session(net.peer(0).address));
    EXPECT_FALSE(net.server.has_session(net.peer(1).address));
    EXPECT_TRUE(net.server.has_session(net.peer(2).address));
    EXPECT_EQ(net.server.stats().sessions_evicted, 1u);
    EXPECT_EQ(net.server_events.closed_peers.back(),
              std::make_pair(net.peer(1).address, CloseReason::evicted));
}

TEST(DtlsHandshake, IdleSessionsExpire) {
    DtlsServerConfig config = server_config();
    config.session_idle_timeout = 30s;
    Net net(std::move(config));
    net.add(client_config(), address("192.0.2.10", 1));
    net.add(client_config(), address("192.0.2.10", 2));
    net.connect(0);
    net.connect(1);
    net.pump();
    ASSERT_EQ(net.server.session_count(), 2u);
    net.advance(20s);
    net.expect_data_both_ways(1);
    EXPECT_EQ(net.server.next_deadline(), net.now - 20s + 30s);
    net.advance(10s);
    EXPECT_EQ(net.server.session_count(), 1u);
    EXPECT_FALSE(net.server.has_session(net.peer(0).address));
    EXPECT_EQ(net.server_events.closed_peers.back().second, CloseReason::idle_timeout);
    net.advance(20s);
    EXPECT_EQ(net.server.session_count(), 0u);
    EXPECT_EQ(net.server.stats().sessions_expired, 2u);
}

}  // namespace
}  // namespace coap::dtls
