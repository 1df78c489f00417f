// The DTLS 1.2 PSK handshake under hostile input (set-up in support/dtls_pair.hpp): the
// stateless cookie exchange (RFC 6347 §4.2.1) against missing, forged and stale cookies and a
// flood of spoofed hellos, truncated and garbled datagrams, replayed records and wrong epochs,
// duplicated datagrams, and renegotiation attempts (RFC 5246 §7.2.2, RFC 7925 §17).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "support/dtls_pair.hpp"

namespace coap::dtls {
namespace {

using namespace std::chrono_literals;
using namespace handshake_test;

TEST(DtlsHandshake, HelloWithoutCookieLeavesNoStateAndIsNotAmplified) {
    Net net(server_config());
    net.add(client_config());
    net.connect();
    auto hello = net.peer().events.take();
    ASSERT_EQ(hello.size(), 1u);
    net.server.on_datagram(net.peer().address, hello[0].second, net.now, net.server_events);
    auto answer = net.server_events.take();
    ASSERT_EQ(answer.size(), 1u);
    EXPECT_TRUE(is_message(answer[0].second, HandshakeType::hello_verify_request));
    EXPECT_LE(answer[0].second.size(), hello[0].second.size());
    EXPECT_EQ(net.server.handshake_count(), 0u);
    EXPECT_EQ(net.server.session_count(), 0u);
    // RFC 6347 §4.2.1: the record sequence number of the hello is reused.
    RecordReader reader(answer[0].second);
    EXPECT_EQ(reader.next()->header.sequence, 0u);
    EXPECT_EQ(cookie_of(answer[0].second).size(), 16u);
}

TEST(DtlsHandshake, ForgedAndStaleCookiesAreRejectedStatelessly) {
    Net net(server_config());
    std::array<std::uint8_t, 32> random{};
    random[0] = 7;
    const Endpoint client = address("198.51.100.7", 1234);
    net.server.on_datagram(client, client_hello_datagram(random, {}), net.now, net.server_events);
    const Buffer verify_request = net.server_events.take().at(0).second;
    const Buffer cookie(cookie_of(verify_request).begin(), cookie_of(verify_request).end());

    auto answer_to = [&](Bytes with_cookie, const Endpoint& from, std::uint8_t random_byte = 7) {
        random[0] = random_byte;
        net.server.on_datagram(from, client_hello_datagram(random, with_cookie, 1, 1), net.now,
                               net.server_events);
        auto sent = net.server_events.take();
        return sent.empty() ? HandshakeType::hello_request
                            : first_fragment(sent[0].second)->header.type;
    };
    Buffer forged = cookie;
    forged[5] ^= 1;
    EXPECT_EQ(answer_to(forged, client), HandshakeType::hello_verify_request);
    // The cookie is bound to the address, the port and the hello's random.
    EXPECT_EQ(answer_to(cookie, address("198.51.100.8", 1234)),
              HandshakeType::hello_verify_request);
    EXPECT_EQ(answer_to(cookie, address("198.51.100.7", 1235)),
              HandshakeType::hello_verify_request);
    EXPECT_EQ(answer_to(cookie, client, 8), HandshakeType::hello_verify_request);
    EXPECT_EQ(net.server.handshake_count(), 0u);

    // Two rotations later the cookie is stale; one rotation later it was still good.
    net.advance(net.server.config().cookie_rotation_interval);
    net.advance(net.server.config().cookie_rotation_interval);
    EXPECT_EQ(answer_to(cookie, client), HandshakeType::hello_verify_request);
    EXPECT_EQ(net.server.handshake_count(), 0u);

    net.server.on_datagram(client, client_hello_datagram(random, {}), net.now, net.server_events);
    const Buffer fresh_request = net.server_events.take().at(0).second;
    const Buffer fresh(cookie_of(fresh_request).begin(), cookie_of(fresh_request).end());
    net.advance(net.server.config().cookie_rotation_interval);
    EXPECT_EQ(answer_to(fresh, client), HandshakeType::server_hello);
    EXPECT_EQ(net.server.handshake_count(), 1u);
}

TEST(DtlsHandshake, FloodOfSpoofedHellosCreatesNoState) {
    Net net(server_config());
    std::array<std::uint8_t, 32> random{};
    std::size_t answers = 0;
    std::size_t largest_ratio_violation = 0;
    for (std::uint32_t i = 0; i < 100000; ++i) {
        std::memcpy(random.data(), &i, sizeof i);
        const Buffer hello = client_hello_datagram(random, {});
        std::array<std::uint8_t, 4> ip{};
        std::memcpy(ip.data(), &i, 4);
        const std::string literal = "10." + std::to_string(ip[0]) + "." + std::to_string(ip[1]) +
                                    "." + std::to_string(ip[2]);
        net.server.on_datagram(address(literal.c_str(), static_cast<std::uint16_t>(1024 + ip[3])),
                               hello, net.now, net.server_events);
        for (auto& [to, datagram] : net.server_events.take()) {
            ++answers;
            if (datagram.size() > hello.size()) ++largest_ratio_violation;
        }
    }
    EXPECT_EQ(answers, 100000u);
    EXPECT_EQ(largest_ratio_violation, 0u);
    EXPECT_EQ(net.server.handshake_count(), 0u);
    EXPECT_EQ(net.server.session_count(), 0u);
    EXPECT_EQ(net.server.stats().hello_verify_requests, 100000u);
}

// Every datagram of a handshake, cut at every length, then sent whole: the cut copies are
// dropped (RFC 6347 §4.1.2.7) and the handshake still completes.
TEST(DtlsHandshake, TruncatedDatagramsAtEveryPositionAreDropped) {
    for (int victim = 0; victim < 6; ++victim) {
        SCOPED_TRACE(victim);
        Net net(server_config());
        net.add(client_config());
        int index = 0;
        net.filter = [&](bool to_server, Buffer& datagram) {
            if (index++ != victim) return true;
            for (std::size_t length = 0; length < datagram.size(); ++length) {
                const Bytes cut = Bytes(datagram).first(length);
                if (to_server)
                    net.server.on_datagram(net.peer().address, cut, net.now, net.server_events);
                else
                    net.client().on_datagram(net.server_address, cut, net.now, net.peer().events);
            }
            return true;
        };
        net.connect();
        net.pump();
        ASSERT_TRUE(net.established());
        net.expect_data_both_ways();
    }
}

// Plaintext hellos are not authenticated, so a garbled one may be answered or dropped; what
// matters is that nothing crashes, no session appears and at most the one handshake slot this
// endpoint may have is used.
TEST(DtlsHandshake, GarbledHellosAtEveryPositionLeaveBoundedState) {
    Net net(server_config());
    net.add(client_config());
    net.connect();
    const Buffer first = net.peer().events.take().at(0).second;
    net.server.on_datagram(net.peer().address, first, net.now, net.server_events);
    net.client().on_datagram(net.server_address, net.server_events.take().at(0).second, net.now,
                             net.peer().events);
    const Buffer second = net.peer().events.take().at(0).second;  // with the cookie
    for (const Buffer* hello : {&first, &second}) {
        for (std::size_t i = 0; i < hello->size(); ++i) {
            for (std::uint8_t flip : {0x01, 0x80, 0xff}) {
                Buffer garbled = *hello;
                garbled[i] ^= flip;
                net.server.on_datagram(net.peer().address, garbled, net.now, net.server_events);
                EXPECT_LE(net.server.handshake_count(), 1u);
                EXPECT_EQ(net.server.session_count(), 0u);
            }
        }
    }
    net.server_events.take();
    EXPECT_LE(net.server.handshake_count(), 1u);
}

TEST(DtlsHandshake, GarbledProtectedRecordsAreDroppedAtEveryPosition) {
    Net net(server_config());
    net.add(client_config());
    net.connect();
    net.pump();
    ASSERT_TRUE(net.established());
    ASSERT_TRUE(net.client().seal(as_bytes("protected"), net.peer().events));
    const Buffer original = net.peer().events.take().at(0).second;
    for (std::size_t i = 0; i < original.size(); ++i) {
        Buffer garbled = original;
        garbled[i] ^= 0x41;
        net.server.on_datagram(net.peer().address, garbled, net.now, net.server_events);
    }
    EXPECT_TRUE(net.server_events.data.empty());
    EXPECT_TRUE(net.server_events.take().empty());
    EXPECT_TRUE(net.server.has_session(net.peer().address));
    net.server.on_datagram(net.peer().address, original, net.now, net.server_events);
    ASSERT_EQ(net.server_events.data.size(), 1u);
    EXPECT_EQ(as_string(net.server_events.data[0]), "protected");
}

TEST(DtlsHandshake, ReplayedAndWrongEpochRecordsAreDropped) {
    Net net(server_config());
    net.add(client_config());
    net.connect();
    net.pump();
    ASSERT_TRUE(net.established());
    ASSERT_TRUE(net.client().seal(as_bytes("once"), net.peer().events));
    const Buffer record = net.peer().events.take().at(0).second;
    net.server.on_datagram(net.peer().address, record, net.now, net.server_events);
    net.server.on_datagram(net.peer().address, record, net.now, net.server_events);
    EXPECT_EQ(net.server_events.data.size(), 1u);
    EXPECT_EQ(net.server.stats().records_replayed, 1u);
    for (std::uint8_t epoch : {0, 2, 255}) {
        Buffer moved = record;
        moved[4] = epoch;  // the epoch's low byte (RFC 6347 §4.1 header)
        net.server.on_datagram(net.peer().address, moved, net.now, net.server_events);
    }
    EXPECT_EQ(net.server_events.data.size(), 1u);
    EXPECT_TRUE(net.server.has_session(net.peer().address));
}

TEST(DtlsHandshake, DuplicatedDatagramsChangeNothing) {
    Net net(server_config());
    net.add(client_config());
    net.filter = [&](bool to_server, Buffer& datagram) {
        if (to_server)
            net.server.on_datagram(net.peer().address, datagram, net.now, net.server_events);
        else
            net.client().on_datagram(net.server_address, datagram, net.now, net.peer().events);
        return true;
    };
    net.connect();
    net.pump();
    ASSERT_TRUE(net.established());
    net.filter = nullptr;
    // A duplicate record (same sequence number) triggers nothing, except that the stateless
    // server answers each copy of the first hello (it keeps no state to recognise the copy).
    EXPECT_EQ(net.to_server, 3);
    EXPECT_EQ(net.to_clients, 4);
    EXPECT_EQ(net.server.stats().handshakes_started, 1u);
    net.expect_data_both_ways();
}

// With the extended master secret off, the test can derive the keys from what it saw on the
// wire (RFC 5246 §8.1, §6.3) and speak inside the session itself.
struct WireKeys {
    KeyBlock keys;
    bool derive(const std::vector<Buffer>& to_server, const std::vector<Buffer>& to_client) {
        Bytes client_random, server_random;
        for (const Buffer& datagram : to_server) {
            auto fragment = first_fragment(datagram);
            if (fragment && fragment->header.type == HandshakeType::client_hello)
                client_random = parse_client_hello(fragment->body)->random;
        }
        for (const Buffer& datagram : to_client) {
            auto fragment = first_fragment(datagram);
            if (fragment && fragment->header.type == HandshakeType::server_hello)
                server_random = parse_server_hello(fragment->body)->random;
        }
        std::array<std::uint8_t, max_premaster_size> premaster{};
        const std::size_t size = psk_premaster_secret(psk, premaster);
        MasterSecret master;
        return derive_master_secret(Bytes(premaster).first(size), client_random, server_random,
                                    master) &&
               derive_key_block(tls_psk_with_aes_128_ccm_8, master, client_random, server_random,
                                keys);
    }
};

Buffer seal_handshake(const TrafficKeys& keys, HandshakeType type, Bytes body,
                      std::uint64_t sequence) {
    Buffer plaintext(handshake_header_size + body.size());
    const auto length = static_cast<std::uint32_t>(body.size());
    (void)write_handshake_header({type, length, 0, 0, length}, plaintext);
    std::copy(body.begin(), body.end(), plaintext.begin() + handshake_header_size);
    Buffer record(sealed_record_size(tls_psk_with_aes_128_ccm_8, plaintext.size()));
    CcmContext aead;
    RecordHeader header;
    header.type = ContentType::handshake;
    header.epoch = 1;
    header.sequence = sequence;
    (void)seal_record(aead, tls_psk_with_aes_128_ccm_8, keys, header, plaintext, record);
    return record;
}

std::optional<Alert> open_alert(const TrafficKeys& keys, const Buffer& datagram) {
    RecordReader reader(datagram);
    auto record = reader.next();
    if (!record || record->header.type != ContentType::alert) return std::nullopt;
    CcmContext aead;
    Buffer plaintext(record->fragment.size());
    auto opened = open_record(aead, tls_psk_with_aes_128_ccm_8, keys, *record, plaintext);
    if (!opened) return std::nullopt;
    return Alert::parse(*opened);
}

// RFC 5246 §7.2.2 and RFC 7925 §17: renegotiation is refused with a no_renegotiation warning
// by the server (to a ClientHello) and by the client (to a HelloRequest); the session goes on.
TEST(DtlsHandshake, RenegotiationIsRefusedBothWays) {
    Net net(server_config(false));
    net.add(client_config(false));
    std::vector<Buffer> to_server, to_client;
    net.filter = [&](bool toward_server, Buffer& datagram) {
        (toward_server ? to_server : to_client).push_back(datagram);
        return true;
    };
    net.connect();
    net.pump();
    ASSERT_TRUE(net.established());
    WireKeys wire;
    ASSERT_TRUE(wire.derive(to_server, to_client));

    std::array<std::uint8_t, 32> random{};
    const Buffer hello_datagram = client_hello_datagram(random, {});
    const Bytes hello_body = first_fragment(hello_datagram)->body;
    net.server.on_datagram(
        net.peer().address,
        seal_handshake(wire.keys.client_write, HandshakeType::client_hello, hello_body, 40),
        net.now, net.server_events);
    auto answer = net.server_events.take();
    ASSERT_EQ(answer.size(), 1u);
    EXPECT_EQ(open_alert(wire.keys.server_write, answer[0].second),
              (Alert{AlertLevel::warning, AlertDescription::no_renegotiation}));
    EXPECT_EQ(net.server.stats().renegotiations_refused, 1u);

    net.client().on_datagram(
        net.server_address,
        seal_handshake(wire.keys.server_write, HandshakeType::hello_request, {}, 40), net.now,
        net.peer().events);
    answer = net.peer().events.take();
    ASSERT_EQ(answer.size(), 1u);
    EXPECT_EQ(open_alert(wire.keys.client_write, answer[0].second),
              (Alert{AlertLevel::warning, AlertDescription::no_renegotiation}));
    net.filter = nullptr;
    net.expect_data_both_ways();
}

}  // namespace
}  // namespace coap::dtls
