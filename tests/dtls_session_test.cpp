// The pieces under the DTLS façades: an established session's record protection with the
// anti-replay window and epoch check (RFC 6347 §4.1, §4.1.2.6), the repeated final flight
// (§4.2.4), the session table (O(1) lookup, LRU eviction, idle expiry, key wiping), the slot
// index against a model, the resumption cache, stateless cookies (§4.2.1), the retransmission
// timer (§4.2.4.1) and flight fragmentation (§4.2.3).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "dtls/cookie.hpp"
#include "dtls/flight.hpp"
#include "dtls/handshake_reassembler.hpp"
#include "dtls/resumption.hpp"
#include "dtls/retransmit_timer.hpp"
#include "dtls/session.hpp"
#include "dtls/session_table.hpp"
#include "dtls/slot_index.hpp"

namespace coap::dtls {
namespace {

using namespace std::chrono_literals;
using Buffer = std::vector<std::uint8_t>;

Endpoint peer(std::uint16_t port, std::uint8_t last = 1) {
    Endpoint base = *Endpoint::from_literal("2001:db8::1", port);
    auto address = base.address();
    address[15] = last;
    sockaddr_in6 raw{};
    raw.sin6_family = AF_INET6;
    raw.sin6_port = htons(port);
    std::memcpy(&raw.sin6_addr, address.data(), 16);
    return *Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&raw), sizeof raw);
}

TrafficKeys keys(std::uint8_t seed) {
    TrafficKeys out;
    for (std::size_t i = 0; i < out.key.size(); ++i)
        out.key[i] = static_cast<std::uint8_t>(seed + i);
    for (std::size_t i = 0; i < out.iv.size(); ++i)
        out.iv[i] = static_cast<std::uint8_t>(seed ^ (0x80 + i));
    return out;
}

// The error of a failed result; nullopt when it succeeded (so a wrong success fails cleanly).
template <class T>
std::optional<RecordError> error_of(const Expected<T, RecordError>& result) {
    if (result) return std::nullopt;
    return result.error();
}

// A server-side and a client-side session with mirrored keys.
struct SessionPair {
    Session server;
    Session client;
    CcmContext aead;
    TimePoint now = TimePoint{} + 1h;

    explicit SessionPair(std::uint64_t first_sequence = 0) {
        SessionSetup setup;
        setup.role = Role::server;
        setup.write_keys = keys(0x10);
        setup.read_keys = keys(0x50);
        setup.write_sequence = first_sequence;
        setup.identity = as_bytes("device-7");
        setup.own_finished = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        setup.own_finished_seq = 5;
        setup.peer_finished_seq = 4;
        setup.sent_last_flight = true;
        server.establish(peer(1000), setup, now);
        setup.role = Role::client;
        std::swap(setup.write_keys, setup.read_keys);
        setup.sent_last_flight = false;
        client.establish(peer(5684), setup, now);
    }

    Buffer seal(Session& from, std::string_view text,
                ContentType type = ContentType::application_data) {
        Buffer out(sealed_record_size(tls_psk_with_aes_128_ccm_8, text.size()));
        auto size = from.seal(aead, type, as_bytes(text), out);
        EXPECT_TRUE(size);
        return out;
    }
    Expected<Bytes, RecordError> open(Session& to, const Buffer& datagram, Buffer& plaintext) {
        RecordReader reader(datagram);
        auto record = reader.next();
        EXPECT_TRUE(record);
        plaintext.assign(datagram.size(), 0);
        return to.open(aead, *record, plaintext);
    }
};

TEST(DtlsSession, SealedRecordsOpenOnTheOtherSideOnce) {
    SessionPair pair;
    Buffer plaintext;
    const Buffer record = pair.seal(pair.client, "GET /temp");
    auto opened = pair.open(pair.server, record, plaintext);
    ASSERT_TRUE(opened);
    EXPECT_EQ(as_string(*opened), "GET /temp");
    EXPECT_EQ(error_of(pair.open(pair.server, record, plaintext)), RecordError::replayed);
    const Buffer reply = pair.seal(pair.server, "2.05 22.5");
    ASSERT_TRUE(pair.open(pair.client, reply, plaintext));
    EXPECT_EQ(as_string(Bytes(plaintext).first(9)), "2.05 22.5");
    EXPECT_EQ(as_string(pair.server.identity()), "device-7");
}

TEST(DtlsSession, ReorderedRecordsInsideTheWindowOpenAndOldOnesDoNot) {
    SessionPair pair;
    std::vector<Buffer> records;
    for (int i = 0; i < 100; ++i)
        records.push_back(pair.seal(pair.client, "x"));
    Buffer plaintext;
    ASSERT_TRUE(pair.open(pair.server, records[99], plaintext));
    ASSERT_TRUE(pair.open(pair.server, records[50], plaintext));  // 49 behind: in the window
    EXPECT_EQ(error_of(pair.open(pair.server, records[50], plaintext)), RecordError::replayed);
    EXPECT_EQ(error_of(pair.open(pair.server, records[20], plaintext)), RecordError::replayed);
}

TEST(DtlsSession, OtherEpochsAndForgeriesAreRejectedWithoutMovingTheWindow) {
    SessionPair pair;
    Buffer plaintext;
    Buffer record = pair.seal(pair.client, "hello");
    for (std::uint8_t epoch : {0, 2}) {
        Buffer moved = record;
        moved[4] = epoch;
        EXPECT_EQ(error_of(pair.open(pair.server, moved, plaintext)), RecordError::bad_epoch);
    }
    Buffer forged = record;
    forged[10] = 0x7f;  // a far-future sequence number: authentication fails
    EXPECT_EQ(error_of(pair.open(pair.server, forged, plaintext)), RecordError::bad_record_mac);
    EXPECT_TRUE(pair.open(pair.server, record, plaintext));  // the window did not move
}

TEST(DtlsSession, SequenceNumbersDoNotWrap) {
    SessionPair pair(max_sequence_number);
    Buffer out(64);
    EXPECT_TRUE(pair.server.seal(pair.aead, ContentType::application_data, as_bytes("last"), out));
    EXPECT_EQ(
        error_of(pair.server.seal(pair.aead, ContentType::application_data, as_bytes("x"), out)),
        RecordError::bad_sequence);
}

// RFC 6347 §4.2.4: the side that sent the last flight answers the peer's repeated Finished.
TEST(DtlsSession, RepeatedPeerFinishedGetsTheLastFlightAgain) {
    SessionPair pair;
    std::array<std::uint8_t, handshake_header_size + verify_data_size> finished{};
    (void)write_handshake_header({HandshakeType::finished, 12, 4, 0, 12}, finished);
    EXPECT_TRUE(pair.server.is_repeated_peer_finished(finished));
    EXPECT_FALSE(pair.client.is_repeated_peer_finished(finished));  // it did not send the last
    finished[5] = 3;                                                // another message_seq
    EXPECT_FALSE(pair.server.is_repeated_peer_finished(finished));

    Buffer datagram(128);
    const std::size_t size = pair.server.write_last_flight(pair.aead, datagram);
    ASSERT_GT(size, 0u);
    datagram.resize(size);
    RecordReader reader(datagram);
    auto ccs = reader.next();
    ASSERT_TRUE(ccs);
    EXPECT_EQ(ccs->header.type, ContentType::change_cipher_spec);
    EXPECT_EQ(ccs->header.epoch, 0);
    auto sealed = reader.next();
    ASSERT_TRUE(sealed);
    Buffer plaintext(sealed->fragment.size());
    auto opened = pair.client.open(pair.aead, *sealed, plaintext);
    ASSERT_TRUE(opened);
    auto fragment = parse_handshake_fragment(*opened);
    ASSERT_TRUE(fragment);
    EXPECT_EQ(fragment->header.type, HandshakeType::finished);
    EXPECT_EQ(fragment->header.message_seq, 5);
    EXPECT_EQ(fragment->body[11], 12);
    pair.server.peer_confirmed();
    EXPECT_FALSE(pair.server.is_repeated_peer_finished(finished));
}

TEST(DtlsSessionTable, FindInsertEraseAndEvictLeastRecentlyActive) {
    SessionTable table(3, 60s);
    TimePoint now = TimePoint{} + 1h;
    std::vector<Endpoint> evicted;
    auto on_evict = [&](const Endpoint& victim) { evicted.push_back(victim); };
    for (std::uint16_t port = 1; port <= 3; ++port) {
        table.insert(peer(port), now, on_evict);
        now += 1s;
    }
    EXPECT_EQ(table.size(), 3u);
    ASSERT_NE(table.find(peer(2)), nullptr);
    EXPECT_EQ(table.find(peer(2))->peer(), peer(2));
    EXPECT_EQ(table.find(peer(4)), nullptr);
    table.touch(*table.find(peer(1)), now);  // 2 is now the least recently active
    table.insert(peer(4), now, on_evict);
    EXPECT_EQ(evicted, std::vector<Endpoint>{peer(2)});
    EXPECT_EQ(table.find(peer(2)), nullptr);
    EXPECT_NE(table.find(peer(1)), nullptr);
    table.erase(*table.find(peer(3)));
    EXPECT_EQ(table.size(), 2u);
    EXPECT_EQ(table.find(peer(3)), nullptr);
    table.insert(peer(5), now, on_evict);
    EXPECT_EQ(evicted.size(), 1u);  // a slot was free
}

TEST(DtlsSessionTable, IdleSessionsExpireInOrder) {
    SessionTable table(8, 30s);
    const TimePoint start = TimePoint{} + 1h;
    for (std::uint16_t port = 1; port <= 4; ++port)
        table.insert(peer(port), start + std::chrono::seconds(port), [](const Endpoint&) {});
    EXPECT_EQ(table.next_expiry(), start + 31s);
    std::vector<Endpoint> expired;
    auto collect = [&](const Endpoint& gone) { expired.push_back(gone); };
    EXPECT_EQ(table.expire(start + 30s, collect), 0u);
    EXPECT_EQ(table.expire(start + 32s, collect), 2u);
    EXPECT_EQ(expired, (std::vector<Endpoint>{peer(1), peer(2)}));
    EXPECT_EQ(table.next_expiry(), start + 33s);
    table.touch(*table.find(peer(3)), start + 40s);
    EXPECT_EQ(table.expire(start + 40s, collect), 1u);
    EXPECT_EQ(expired.back(), peer(4));
    EXPECT_EQ(table.size(), 1u);
}

TEST(DtlsSessionTable, ErasedSessionsLeaveNoKeyBytesBehind) {
    SessionTable table(2, 60s);
    Session& session = table.insert(peer(9), TimePoint{}, [](const Endpoint&) {});
    SessionSetup setup;
    setup.write_keys = keys(0x31);
    setup.read_keys = keys(0x71);
    setup.identity = as_bytes("secret-identity");
    session.establish(peer(9), setup, TimePoint{});
    const auto* raw = reinterpret_cast<const std::uint8_t*>(&session);
    auto contains = [&](Bytes needle) {
        return std::search(raw, raw + sizeof(Session), needle.begin(), needle.end()) !=
               raw + sizeof(Session);
    };
    const TrafficKeys write = keys(0x31), read = keys(0x71);
    ASSERT_TRUE(contains(Bytes(write.key).first(16)));
    ASSERT_TRUE(contains(as_bytes("secret-identity")));
    table.erase(session);
    EXPECT_FALSE(contains(Bytes(write.key).first(16)));
    EXPECT_FALSE(contains(Bytes(read.key).first(16)));
    EXPECT_FALSE(contains(Bytes(write.iv).first(4)));
    EXPECT_FALSE(contains(as_bytes("secret-identity")));
}

TEST(DtlsSessionTable, SizeIsDocumented) {
    static_assert(SessionTable::bytes_per_session <= 512);
    EXPECT_LE(sizeof(Session), 512u);
    SessionTable big(65536, 60s);  // the default dtls_session_count
    EXPECT_EQ(big.capacity(), 65536u);
}

// Random inserts and erases against std::map: backward-shift deletion keeps every key findable.
TEST(DtlsSlotIndex, MatchesAModelUnderRandomChurn) {
    constexpr std::size_t capacity = 200;
    SlotIndex index(capacity);
    std::map<std::uint64_t, std::uint32_t> model;  // key -> slot
    std::vector<std::uint64_t> key_of_slot(capacity, 0);
    std::vector<std::uint32_t> free_slots;
    for (std::uint32_t slot = 0; slot < capacity; ++slot)
        free_slots.push_back(slot);
    std::mt19937_64 random(42);
    // Few distinct hashes so that probe runs are long and wrap around.
    auto hash_of = [](std::uint64_t key) { return (key * 0x9e3779b97f4a7c15ull) & 0x1ff; };
    for (int step = 0; step < 50000; ++step) {
        const std::uint64_t key = random() % 400;
        auto known = model.find(key);
        if (known == model.end() && !free_slots.empty()) {
            const std::uint32_t slot = free_slots.back();
            free_slots.pop_back();
            key_of_slot[slot] = key;
            index.insert(hash_of(key), slot);
            model[key] = slot;
        } else if (known != model.end()) {
            index.erase(hash_of(key), known->second);
            free_slots.push_back(known->second);
            model.erase(known);
        }
        if (step % 97 == 0) {
            for (std::uint64_t probe = 0; probe < 400; ++probe) {
                const std::uint32_t found = index.find(
                    hash_of(probe), [&](std::uint32_t slot) { return key_of_slot[slot] == probe; });
                auto expected = model.find(probe);
                ASSERT_EQ(found, expected == model.end() ? SlotIndex::none : expected->second);
            }
        }
    }
}

TEST(DtlsResumptionCache, FindsInsertsAndEvictsLeastRecentlyUsed) {
    ResumptionCache cache(2);
    auto session = [](char tag) {
        ResumableSession s;
        s.set_id(as_bytes(std::string(32, tag)));
        s.master.bytes.fill(static_cast<std::uint8_t>(tag));
        s.extended_master_secret = tag % 2 == 0;
        s.set_identity(as_bytes(std::string("id-") + tag));
        return s;
    };
    cache.insert(session('a'));
    cache.insert(session('b'));
    ASSERT_NE(cache.find(as_bytes(std::string(32, 'a'))), nullptr);  // b is now the oldest
    cache.insert(session('c'));
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_EQ(cache.find(as_bytes(std::string(32, 'b'))), nullptr);
    const ResumableSession* c = cache.find(as_bytes(std::string(32, 'c')));
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->master.bytes[0], 'c');
    EXPECT_EQ(as_string(c->identity_bytes()), "id-c");
    cache.erase(as_bytes(std::string(32, 'c')));
    EXPECT_EQ(cache.find(as_bytes(std::string(32, 'c'))), nullptr);
    EXPECT_EQ(cache.find(as_bytes("short")), nullptr);
    EXPECT_EQ(cache.find({}), nullptr);

    ResumptionCache disabled(0);
    disabled.insert(session('a'));
    EXPECT_EQ(disabled.find(as_bytes(std::string(32, 'a'))), nullptr);
}

struct HelloFields {
    std::array<std::uint8_t, 32> random{};
    std::uint8_t suites[2] = {0xc0, 0xa8};
    std::uint8_t compression[1] = {0};
    std::uint8_t extensions[4] = {0x00, 0x17, 0x00, 0x00};
    ClientHello hello() const {
        ClientHello h;
        h.random = random;
        h.cipher_suites = suites;
        h.compression_methods = compression;
        h.extensions.raw = extensions;
        return h;
    }
};

TEST(DtlsCookie, BindsAddressPortAndHelloAndSurvivesOneRotation) {
    CookieSecret secret{};
    secret[0] = 1;
    CookieAuthority cookies(secret, 16);
    ASSERT_TRUE(cookies.valid());
    HelloFields fields;
    ClientHello hello = fields.hello();
    std::array<std::uint8_t, max_cookie_size> cookie{};
    ASSERT_EQ(cookies.make(peer(1), hello, cookie), 16u);
    hello.cookie = Bytes(cookie).first(16);
    EXPECT_TRUE(cookies.verify(peer(1), hello));
    EXPECT_FALSE(cookies.verify(peer(2), hello));
    EXPECT_FALSE(cookies.verify(peer(1, 2), hello));
    ClientHello changed = hello;
    fields.extensions[1] = 0x18;  // another extension list
    changed.extensions.raw = fields.extensions;
    EXPECT_FALSE(cookies.verify(peer(1), changed));
    fields.extensions[1] = 0x17;
    ClientHello shorter = hello;
    shorter.cookie = Bytes(cookie).first(15);
    EXPECT_FALSE(cookies.verify(peer(1), shorter));

    secret[0] = 2;
    ASSERT_TRUE(cookies.rotate(secret));
    EXPECT_TRUE(cookies.verify(peer(1), hello));  // the previous secret still verifies
    secret[0] = 3;
    ASSERT_TRUE(cookies.rotate(secret));
    EXPECT_FALSE(cookies.verify(peer(1), hello));

    CookieAuthority longest(secret, 100);
    EXPECT_EQ(longest.cookie_size(), 32u);
    CookieAuthority shortest(secret, 1);
    EXPECT_EQ(shortest.cookie_size(), 16u);
}

TEST(DtlsRetransmitTimer, DoublesToTheCapAndGivesUp) {
    HandshakeTiming timing;
    timing.max_retransmissions = 8;
    RetransmitTimer timer;
    const TimePoint start = TimePoint{} + 1h;
    timer.start(start, timing);
    std::vector<Duration> fired;
    TimePoint now = start;
    for (int i = 0; i < 10; ++i) {
        now = *timer.deadline();
        EXPECT_EQ(timer.poll(now - 1ms, timing), RetransmitTimer::Expiry::none);
        const auto expiry = timer.poll(now, timing);
        if (expiry == RetransmitTimer::Expiry::give_up) break;
        EXPECT_EQ(expiry, RetransmitTimer::Expiry::retransmit);
        fired.push_back(now - start);
    }
    // 1, 2, 4, 8, 16, 32, then capped at 60 s (RFC 6347 §4.2.4.1).
    EXPECT_EQ(fired, (std::vector<Duration>{1s, 3s, 7s, 15s, 31s, 63s, 123s, 183s}));
    EXPECT_EQ(now - start, 243s);
    EXPECT_FALSE(timer.deadline());

    // A flight that needed retransmissions keeps the backed-off value for the next flight;
    // one that got through at once resets it.
    RetransmitTimer next;
    next.start(start, timing);
    (void)next.poll(start + 1s, timing);
    next.start(start + 2s, timing);
    EXPECT_EQ(next.deadline(), start + 4s);
    next.start(start + 3s, timing);
    EXPECT_EQ(next.deadline(), start + 4s);
}

struct Collect final : DatagramSink {
    std::vector<Buffer> datagrams;
    void send(Bytes datagram) noexcept override {
        datagrams.emplace_back(datagram.begin(), datagram.end());
    }
};

TEST(DtlsFlight, FragmentsToTheMtuAndReassembles) {
    Flight flight;
    Buffer body(300);
    for (std::size_t i = 0; i < body.size(); ++i)
        body[i] = static_cast<std::uint8_t>(i * 7);
    MutableBytes area = flight.body_area();
    std::copy(body.begin(), body.end(), area.begin());
    const Bytes whole = flight.add_message(HandshakeType::server_key_exchange, 2, body.size(), 0);
    ASSERT_EQ(whole.size(), handshake_header_size + body.size());
    ASSERT_FALSE(flight.add_message(HandshakeType::server_hello_done, 3, 0, 0).empty());

    for (std::size_t mtu : {40u, 64u, 100u, 1232u}) {
        SCOPED_TRACE(mtu);
        CcmContext aead;
        Collect sink;
        Buffer scratch(2048);
        Transmit tx{aead, scratch, sink, mtu};
        EpochWriter writers[2] = {{0, 7, nullptr}, {1, 0, nullptr}};
        ASSERT_TRUE(flight.send(tx, writers));
        std::array<std::uint8_t, 512> buffer{};
        HandshakeReassembler reassembler(buffer);
        std::uint64_t expected_sequence = 7;
        bool done = false;
        int messages = 0;
        for (const Buffer& datagram : sink.datagrams) {
            EXPECT_LE(datagram.size(), mtu);
            for (RecordReader reader(datagram); !reader.done();) {
                auto record = reader.next();
                ASSERT_TRUE(record);
                EXPECT_EQ(record->header.sequence, expected_sequence++);
                auto fragment = parse_handshake_fragment(record->fragment);
                ASSERT_TRUE(fragment);
                if (fragment->header.type == HandshakeType::server_hello_done) {
                    ++messages;
                    continue;
                }
                auto added = reassembler.add(*fragment);
                ASSERT_TRUE(added);
                if (*added && !done) {
                    done = true;
                    ++messages;
                    EXPECT_TRUE(
                        std::equal(body.begin(), body.end(), reassembler.message().begin()));
                }
            }
        }
        EXPECT_TRUE(done);
        EXPECT_EQ(messages, 2);
        EXPECT_EQ(writers[0].next_sequence, expected_sequence);
    }
}

}  // namespace
}  // namespace coap::dtls
