// The DTLS 1.2 PSK handshake between our own server and client (RFC 6347 §4.2, RFC 4279 §2,
// RFC 7627), driven in-process with injected time: full and abbreviated handshakes with every
// extended-master-secret combination, the stateless cookie exchange (§4.2.1), failures that
// must end in a fatal alert (RFC 5246 §7.2.2), loss, duplication and reordering of flights
// (§4.2.4), the retransmission schedule (§4.2.4.1), fragmentation to a small MTU (§4.2.3),
// and hostile input (truncation, forged cookies, a flood of spoofed hellos).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <openssl/crypto.h>

#include <atomic>
#include <cstdlib>

#include "dtls/dtls_client.hpp"
#include "dtls/dtls_server.hpp"
#include "support/count_allocations.hpp"

namespace {

// libcrypto allocates through CRYPTO_malloc, which the operator new counter does not see; these
// hooks count those too (installed before main(), as OpenSSL requires).
std::atomic<std::size_t> libcrypto_allocations{0};
std::atomic<std::size_t> libcrypto_bytes{0};
void* counting_malloc(std::size_t size, const char*, int) {
    ++libcrypto_allocations;
    libcrypto_bytes += size;
    return std::malloc(size);
}
void* counting_realloc(void* p, std::size_t size, const char*, int) {
    ++libcrypto_allocations;
    return std::realloc(p, size);
}
void counting_free(void* p, const char*, int) {
    std::free(p);
}
const bool libcrypto_hooks =
    CRYPTO_set_mem_functions(counting_malloc, counting_realloc, counting_free) == 1;

}  // namespace

namespace coap::dtls {
namespace {

using namespace std::chrono_literals;
using Buffer = std::vector<std::uint8_t>;

constexpr std::array<std::uint8_t, 16> psk = {0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87,
                                              0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0f};

Endpoint address(const char* ip, std::uint16_t port) {
    return *Endpoint::from_literal(ip, port);
}

struct Recorder final : DtlsEvents {
    std::vector<std::pair<Endpoint, Buffer>> sent;
    std::vector<Buffer> data;
    std::vector<Endpoint> established_peers;
    std::vector<std::pair<Endpoint, CloseReason>> closed_peers;

    void send(const Endpoint& peer, Bytes datagram) noexcept override {
        sent.emplace_back(peer, Buffer(datagram.begin(), datagram.end()));
    }
    void received(const Endpoint&, Bytes bytes) noexcept override {
        data.emplace_back(bytes.begin(), bytes.end());
    }
    void established(const Endpoint& peer, Bytes) noexcept override {
        established_peers.push_back(peer);
    }
    void closed(const Endpoint& peer, CloseReason reason) noexcept override {
        closed_peers.emplace_back(peer, reason);
    }
    std::vector<std::pair<Endpoint, Buffer>> take() { return std::exchange(sent, {}); }
};

DtlsServerConfig server_config(bool ems = true) {
    DtlsServerConfig config;
    config.session_count = 8;
    config.handshake_count = 4;
    config.resumption_cache_size = 8;
    config.handshake.extended_master_secret = ems;
    config.handshake.psk_lookup = [](std::string_view identity) -> std::optional<PskKey> {
        if (identity == "client-1" || identity == "client-2") return PskKey(psk);
        return std::nullopt;
    };
    return config;
}

DtlsClientConfig client_config(bool ems = true, std::string identity = "client-1") {
    DtlsClientConfig config;
    config.handshake.extended_master_secret = ems;
    config.handshake.identity = std::move(identity);
    config.handshake.key = PskKey(psk);
    return config;
}

// One server and any number of clients joined by an in-order datagram path; `filter` may
// change or drop (return false) each datagram.
struct Net {
    struct Peer {
        Endpoint address;
        std::unique_ptr<DtlsClient> client;
        Recorder events;
    };

    explicit Net(DtlsServerConfig config) : server(std::move(config)) {}

    DtlsClient& add(DtlsClientConfig config, Endpoint at = address("192.0.2.10", 40000)) {
        auto peer = std::make_unique<Peer>();
        peer->address = at;
        peer->client = std::make_unique<DtlsClient>(std::move(config), server_address);
        peers.push_back(std::move(peer));
        return *peers.back()->client;
    }
    Peer& peer(std::size_t i = 0) { return *peers[i]; }
    DtlsClient& client(std::size_t i = 0) { return *peers[i]->client; }
    void connect(std::size_t i = 0) { client(i).connect(now, peer(i).events); }

    // Delivers datagrams both ways until nobody has anything to send.
    void pump() {
        for (int round = 0; round < 50; ++round) {
            bool moved = false;
            for (auto& p : peers) {
                for (auto& [to, datagram] : p->events.take()) {
                    moved = true;
                    ++to_server;
                    if (!filter || filter(true, datagram))
                        server.on_datagram(p->address, datagram, now, server_events);
                }
            }
            for (auto& [to, datagram] : server_events.take()) {
                moved = true;
                ++to_clients;
                for (auto& p : peers) {
                    if (p->address == to && (!filter || filter(false, datagram)))
                        p->client->on_datagram(server_address, datagram, now, p->events);
                }
            }
            if (!moved) return;
        }
        FAIL() << "datagrams kept flowing";
    }
    void advance(Duration step) {
        now += step;
        server.on_timer(now, server_events);
        for (auto& p : peers)
            p->client->on_timer(now, p->events);
    }
    bool established(std::size_t i = 0) {
        return client(i).state() == ClientState::established && server.has_session(peer(i).address);
    }
    void expect_data_both_ways(std::size_t i = 0) {
        ASSERT_TRUE(client(i).seal(as_bytes("ping"), peer(i).events));
        pump();
        ASSERT_FALSE(server_events.data.empty());
        EXPECT_EQ(as_string(server_events.data.back()), "ping");
        ASSERT_TRUE(server.seal_to(peer(i).address, as_bytes("pong"), now, server_events));
        pump();
        ASSERT_FALSE(peer(i).events.data.empty());
        EXPECT_EQ(as_string(peer(i).events.data.back()), "pong");
    }

    Endpoint server_address = address("192.0.2.1", 5684);
    DtlsServer server;
    Recorder server_events;
    std::vector<std::unique_ptr<Peer>> peers;
    std::function<bool(bool to_server, Buffer&)> filter;
    TimePoint now = TimePoint{} + 1h;
    int to_server = 0;
    int to_clients = 0;
};

std::optional<HandshakeFragment> first_fragment(const Buffer& datagram) {
    RecordReader reader(datagram);
    auto record = reader.next();
    if (!record || record->header.type != ContentType::handshake || record->header.epoch != 0)
        return std::nullopt;
    auto fragment = parse_handshake_fragment(record->fragment);
    if (!fragment) return std::nullopt;
    return *fragment;
}

bool is_message(const Buffer& datagram, HandshakeType type) {
    auto fragment = first_fragment(datagram);
    return fragment && fragment->header.type == type;
}

// A ClientHello datagram as a client would send it (message_seq and record sequence given).
Buffer client_hello_datagram(Bytes random, Bytes cookie, std::uint16_t message_seq = 0,
                             std::uint64_t record_seq = 0) {
    static constexpr std::uint8_t suites[] = {0xc0, 0xa8};
    static constexpr std::uint8_t compression[] = {0};
    ClientHello hello;
    hello.random = random;
    hello.cookie = cookie;
    hello.cipher_suites = suites;
    hello.compression_methods = compression;
    hello.extensions.extended_master_secret = true;
    Buffer datagram(512);
    auto body = write_client_hello(
        hello, MutableBytes(datagram).subspan(record_header_size + handshake_header_size));
    const auto length = static_cast<std::uint32_t>(*body);
    (void)write_handshake_header({HandshakeType::client_hello, length, message_seq, 0, length},
                                 MutableBytes(datagram).subspan(record_header_size));
    const std::size_t total = record_header_size + handshake_header_size + *body;
    (void)write_record_header({ContentType::handshake, dtls_1_0, 0, record_seq,
                               static_cast<std::uint16_t>(total - record_header_size)},
                              datagram);
    datagram.resize(total);
    return datagram;
}

Bytes cookie_of(const Buffer& hello_verify_request) {
    auto fragment = first_fragment(hello_verify_request);
    return parse_hello_verify_request(fragment->body)->cookie;
}

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
