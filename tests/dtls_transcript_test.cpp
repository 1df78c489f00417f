// Known-answer test from a recorded handshake: tests/data/dtls_psk_ccm8_transcript.hpp holds
// every datagram of a DTLS 1.2 PSK-AES128-CCM8 handshake between OpenSSL's client and server
// (cookie exchange, extended master secret, one application record each way; made by
// tests/tools/record_dtls_transcript.cpp). From those bytes and the PSK alone, our record layer,
// handshake codec, transcript hash, key schedule and CCM must parse every message, derive the
// keys OpenSSL used, open both Finished records and check their verify_data, and open the
// application data.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "data/dtls_psk_ccm8_transcript.hpp"
#include "dtls/ccm.hpp"
#include "dtls/crypto.hpp"
#include "dtls/handshake_codec.hpp"
#include "dtls/record.hpp"
#include "dtls/transcript_hash.hpp"

namespace coap::dtls {
namespace {

using Buffer = std::vector<std::uint8_t>;
using recorded::Direction;
constexpr const CipherSuite& suite = tls_psk_with_aes_128_ccm_8;

struct Datagram {
    Direction from;
    Buffer bytes;
};

std::vector<Datagram> recorded_datagrams() {
    std::vector<Datagram> out;
    for (const recorded::Datagram& d : recorded::datagrams)
        out.push_back({d.direction, Buffer(d.bytes.begin(), d.bytes.end())});
    return out;
}

// One step of the flow: a plaintext handshake message (with its 12-byte header), a
// ChangeCipherSpec, or a protected record (epoch >= 1, still encrypted).
struct Event {
    Direction from;
    RecordHeader record;
    Buffer bytes;  // the whole handshake message, or the record's fragment
    HandshakeHeader message;
    Bytes body() const { return Bytes(bytes).subspan(handshake_header_size); }
};

const char* side(Direction from) {
    return from == Direction::client_to_server ? "client" : "server";
}

std::string hex(Bytes bytes) {
    std::string out;
    for (std::uint8_t byte : bytes) {
        out += "0123456789abcdef"[byte >> 4];
        out += "0123456789abcdef"[byte & 15];
    }
    return out;
}

const char* message_name(HandshakeType type) {
    switch (type) {
        case HandshakeType::client_hello:
            return "ClientHello";
        case HandshakeType::hello_verify_request:
            return "HelloVerifyRequest";
        case HandshakeType::server_hello:
            return "ServerHello";
        case HandshakeType::server_key_exchange:
            return "ServerKeyExchange";
        case HandshakeType::server_hello_done:
            return "ServerHelloDone";
        case HandshakeType::client_key_exchange:
            return "ClientKeyExchange";
        case HandshakeType::finished:
            return "Finished";
        default:
            return "other handshake message";
    }
}

// "client ClientHello", "server ChangeCipherSpec", "client protected application_data"...
std::string describe(const Event& event) {
    const std::string from = side(event.from);
    if (event.record.epoch > 0)
        return from + (event.record.type == ContentType::handshake ? " protected handshake"
                                                                   : " protected application_data");
    if (event.record.type == ContentType::change_cipher_spec) return from + " ChangeCipherSpec";
    return from + " " + message_name(event.message.type);
}

Event make_event(Direction from, const RecordHeader& record, Bytes bytes) {
    return {from, record, Buffer(bytes.begin(), bytes.end()), {}};
}

// RFC 6347 §4.1.1: a datagram may carry several records; §4.2.3: a handshake record several
// messages. Nothing in the recording is fragmented (MTU 1400), so every message is whole.
std::vector<Event> parse_flow(const std::vector<Datagram>& datagrams) {
    std::vector<Event> events;
    for (std::size_t d = 0; d < datagrams.size(); ++d) {
        for (RecordReader reader(datagrams[d].bytes); !reader.done();) {
            auto record = reader.next();
            if (!record) {
                ADD_FAILURE() << "datagram " << d << ": record error "
                              << static_cast<int>(record.error());
                return events;
            }
            if (record->header.epoch > 0 || record->header.type != ContentType::handshake) {
                events.push_back(make_event(datagrams[d].from, record->header, record->fragment));
                continue;
            }
            for (HandshakeReader messages(record->fragment); !messages.done();) {
                auto fragment = messages.next();
                if (!fragment || !fragment->is_whole_message()) {
                    ADD_FAILURE() << "datagram " << d << ": bad or fragmented handshake message";
                    return events;
                }
                const std::size_t size = handshake_header_size + fragment->body.size();
                Event event =
                    make_event(datagrams[d].from, record->header,
                               Bytes(fragment->body.data() - handshake_header_size, size));
                event.message = fragment->header;
                events.push_back(std::move(event));
            }
        }
    }
    return events;
}

const Event* find_message(const std::vector<Event>& events, HandshakeType type, int nth = 0) {
    for (const Event& event : events)
        if (event.record.epoch == 0 && event.record.type == ContentType::handshake &&
            event.message.type == type && nth-- == 0)
            return &event;
    return nullptr;
}

const Event* find_protected(const std::vector<Event>& events, Direction from, ContentType type) {
    for (const Event& event : events)
        if (event.record.epoch > 0 && event.from == from && event.record.type == type)
            return &event;
    return nullptr;
}

// RFC 6347 §4.2.6: hashed as if sent as one fragment; §4.2.1: the first ClientHello and the
// HelloVerifyRequest are left out, so the handshake starts at the last ClientHello.
Buffer as_single_fragment(const Event& event) {
    Buffer out = event.bytes;
    HandshakeHeader header = event.message;
    header.fragment_offset = 0;
    header.fragment_length = header.length;
    EXPECT_TRUE(write_handshake_header(header, out));
    return out;
}

std::vector<Buffer> hashed_messages(const std::vector<Event>& events,
                                    bool include_cookie_exchange) {
    std::size_t start = 0;
    for (std::size_t i = 0; i < events.size() && !include_cookie_exchange; ++i)
        if (events[i].record.epoch == 0 && events[i].message.type == HandshakeType::client_hello)
            start = i;
    std::vector<Buffer> out;
    for (std::size_t i = start; i < events.size(); ++i)
        if (events[i].record.epoch == 0 && events[i].record.type == ContentType::handshake)
            out.push_back(as_single_fragment(events[i]));
    return out;
}

std::array<std::uint8_t, sha256_size> sha256_of(const std::vector<Buffer>& messages) {
    TranscriptHash hash;
    std::array<std::uint8_t, sha256_size> out{};
    EXPECT_TRUE(hash.valid());
    for (const Buffer& message : messages)
        EXPECT_TRUE(hash.update(message));
    EXPECT_TRUE(hash.snapshot(out));
    return out;
}

// The key schedule from the flow and the PSK: RFC 4279 §2 premaster, RFC 7627 §4 extended
// master secret over the RFC 7627 §3 session hash, RFC 5246 §6.3 key block.
struct Keys {
    std::array<std::uint8_t, sha256_size> session_hash{};
    MasterSecret master;
    KeyBlock block;
};

Keys derive_keys(const std::vector<Event>& events, bool include_cookie_exchange = false) {
    Keys keys;
    // Every handshake message up to and including ClientKeyExchange (RFC 7627 §3); the
    // plaintext handshake messages end there, Finished is protected.
    keys.session_hash = sha256_of(hashed_messages(events, include_cookie_exchange));
    std::array<std::uint8_t, max_premaster_size> premaster{};
    const std::size_t size = psk_premaster_secret(recorded::psk, premaster);
    EXPECT_TRUE(derive_extended_master_secret(Bytes(premaster).first(size), keys.session_hash,
                                              keys.master));
    const Event* client_hello = find_message(events, HandshakeType::client_hello, 1);
    const Event* server_hello = find_message(events, HandshakeType::server_hello);
    if (client_hello == nullptr || server_hello == nullptr) {
        ADD_FAILURE() << "no ClientHello with cookie or no ServerHello";
        return keys;
    }
    auto ch = parse_client_hello(client_hello->body());
    auto sh = parse_server_hello(server_hello->body());
    EXPECT_TRUE(ch && sh) << "hellos parse";
    if (ch && sh) {
        EXPECT_TRUE(derive_key_block(suite, keys.master, ch->random, sh->random, keys.block));
    }
    return keys;
}

// RFC 5246 §6.2.3.3 and RFC 6655 §3 by hand, straight through our CCM: nonce = the write IV
// (salt) + the record's explicit nonce; additional data = epoch + sequence (RFC 6347 §4.1.2.1),
// type, version, plaintext length.
std::optional<Buffer> open_with_ccm(const Event& event, const TrafficKeys& keys) {
    const Bytes fragment = event.bytes;
    if (fragment.size() < record_expansion(suite)) return std::nullopt;
    Buffer nonce(keys.iv.begin(), keys.iv.begin() + suite.fixed_iv_size);
    nonce.insert(nonce.end(), fragment.begin(), fragment.begin() + suite.record_iv_size);
    const std::size_t length = fragment.size() - record_expansion(suite);
    const std::uint64_t seq = (std::uint64_t{event.record.epoch} << 48) | event.record.sequence;
    Buffer aad;
    for (int shift = 56; shift >= 0; shift -= 8)
        aad.push_back(static_cast<std::uint8_t>(seq >> shift));
    aad.insert(aad.end(), {static_cast<std::uint8_t>(event.record.type), event.record.version.major,
                           event.record.version.minor, static_cast<std::uint8_t>(length >> 8),
                           static_cast<std::uint8_t>(length)});
    CcmContext ccm;
    Buffer plaintext(length);
    if (!ccm.open(Bytes(keys.key).first(suite.key_size), nonce, aad,
                  fragment.subspan(suite.record_iv_size), plaintext, suite.tag_size))
        return std::nullopt;
    return plaintext;
}

Buffer verify_data(const MasterSecret& master, Sender sender, const std::vector<Buffer>& messages) {
    std::array<std::uint8_t, verify_data_size> out{};
    EXPECT_TRUE(finished_verify_data(master, sender, sha256_of(messages), out));
    return Buffer(out.begin(), out.end());
}

// The Finished message inside a decrypted record, checked to be one; empty if it is not.
Buffer finished_message(const std::optional<Buffer>& plaintext, std::uint16_t message_seq) {
    if (!plaintext) return {};
    auto fragment = parse_handshake_fragment(*plaintext);
    EXPECT_TRUE(fragment && fragment->is_whole_message() &&
                fragment->header.type == HandshakeType::finished &&
                fragment->header.message_seq == message_seq &&
                fragment->body.size() == verify_data_size &&
                fragment->body.size() + handshake_header_size == plaintext->size())
        << "the decrypted record is one whole Finished message with message_seq " << message_seq;
    return *plaintext;
}

class RecordedTranscript : public ::testing::Test {
  protected:
    std::vector<Event> events_ = parse_flow(recorded_datagrams());
};

TEST_F(RecordedTranscript, EveryRecordAndMessageParsesInTheExpectedSequence) {
    std::vector<std::string> sequence;
    for (const Event& event : events_)
        sequence.push_back(describe(event));
    // RFC 6347 §4.2.1 cookie exchange, then RFC 4279 §2 with a hint (ServerKeyExchange sent);
    // Finished and application data travel protected in epoch 1.
    const std::vector<std::string> expected = {"client ClientHello",
                                               "server HelloVerifyRequest",
                                               "client ClientHello",
                                               "server ServerHello",
                                               "server ServerKeyExchange",
                                               "server ServerHelloDone",
                                               "client ClientKeyExchange",
                                               "client ChangeCipherSpec",
                                               "client protected handshake",
                                               "server ChangeCipherSpec",
                                               "server protected handshake",
                                               "client protected application_data",
                                               "server protected application_data"};
    EXPECT_EQ(sequence, expected) << "message sequence (handshake types of RFC 5246 §7.4)";

    // RFC 6347 §4.2.2: each side numbers its messages from 0 up; §4.1: epoch 1 starts at
    // record sequence 0 after ChangeCipherSpec and the sequence numbers increase.
    std::uint16_t next_seq[2] = {0, 0};
    std::optional<std::uint64_t> last_record[2][2];
    for (const Event& event : events_) {
        const int s = event.from == Direction::client_to_server ? 0 : 1;
        auto& last = last_record[s][event.record.epoch > 0 ? 1 : 0];
        EXPECT_TRUE(!last || event.record.sequence > *last) << describe(event) << ": record seq";
        if (event.record.epoch > 0 && !last) {
            EXPECT_EQ(event.record.sequence, 0u) << describe(event) << ": first of epoch 1";
        }
        last = event.record.sequence;
        if (event.record.epoch == 0 && event.record.type == ContentType::handshake) {
            EXPECT_EQ(event.message.message_seq, next_seq[s]++) << describe(event);
        }
    }
    // RFC 6347 §4.2.1: the HelloVerifyRequest and the ServerHello reuse the record sequence
    // numbers of the ClientHellos they answer.
    ASSERT_EQ(events_.size(), expected.size());
    EXPECT_EQ(events_[1].record.sequence, events_[0].record.sequence) << "HelloVerifyRequest";
    EXPECT_EQ(events_[3].record.sequence, events_[2].record.sequence) << "ServerHello";
}

TEST_F(RecordedTranscript, HelloAndKeyExchangeMessagesDecode) {
    auto first = parse_client_hello(events_.at(0).body());
    auto verify = parse_hello_verify_request(events_.at(1).body());
    auto second = parse_client_hello(events_.at(2).body());
    auto server = parse_server_hello(events_.at(3).body());
    auto hint = parse_psk_server_key_exchange(events_.at(4).body());
    auto done = parse_server_hello_done(events_.at(5).body());
    auto identity = parse_psk_client_key_exchange(events_.at(6).body());
    ASSERT_TRUE(first && verify && second && server && hint && done && identity)
        << "every handshake body parses";

    EXPECT_TRUE(first->cookie.empty()) << "RFC 6347 §4.2.1: the first ClientHello has no cookie";
    EXPECT_FALSE(verify->cookie.empty());
    EXPECT_EQ(hex(second->cookie), hex(verify->cookie))
        << "the second ClientHello echoes the cookie";
    EXPECT_TRUE(std::equal(first->random.begin(), first->random.end(), second->random.begin(),
                           second->random.end()))
        << "RFC 6347 §4.2.1: the same random in both ClientHellos";
    EXPECT_TRUE(second->offers_cipher_suite(suite.id) && second->offers_null_compression());
    EXPECT_TRUE(second->extensions.extended_master_secret) << "RFC 7627 §5.1 in ClientHello";
    EXPECT_EQ(server->server_version, dtls_1_2);
    EXPECT_EQ(server->cipher_suite, suite.id) << "TLS_PSK_WITH_AES_128_CCM_8 selected";
    EXPECT_EQ(server->compression_method, 0);
    EXPECT_TRUE(server->extensions.extended_master_secret) << "RFC 7627 §5.2 in ServerHello";
    EXPECT_EQ(as_string(hint->identity_hint), recorded::psk_identity_hint) << "RFC 4279 §2 hint";
    EXPECT_EQ(as_string(identity->identity), recorded::psk_identity) << "RFC 4279 §2 identity";
}

TEST_F(RecordedTranscript, KeyScheduleMatchesOpenSsl) {
    // RFC 4279 §2: uint16 N, N zero octets, uint16 N, the PSK.
    Buffer expected_premaster = {0, 16};
    expected_premaster.resize(2 + 16);
    expected_premaster.insert(expected_premaster.end(), {0, 16});
    expected_premaster.insert(expected_premaster.end(), recorded::psk.begin(), recorded::psk.end());
    std::array<std::uint8_t, max_premaster_size> premaster{};
    const std::size_t size = psk_premaster_secret(recorded::psk, premaster);
    EXPECT_EQ(hex(Bytes(premaster).first(size)), hex(expected_premaster)) << "PSK premaster secret";

    const Keys keys = derive_keys(events_);
    EXPECT_EQ(hex(keys.master.bytes), hex(recorded::openssl_master_secret))
        << "extended master secret over the session hash (RFC 7627 §3, §4)";
    const Keys with_cookie_exchange = derive_keys(events_, true);
    EXPECT_NE(hex(with_cookie_exchange.master.bytes), hex(recorded::openssl_master_secret))
        << "RFC 6347 §4.2.1: hashing the first ClientHello and HelloVerifyRequest gives "
           "another secret";
}

TEST_F(RecordedTranscript, BothFinishedRecordsOpenAndVerify) {
    const Keys keys = derive_keys(events_);
    const Event* client =
        find_protected(events_, Direction::client_to_server, ContentType::handshake);
    const Event* server =
        find_protected(events_, Direction::server_to_client, ContentType::handshake);
    ASSERT_TRUE(client && server);

    const Buffer client_finished =
        finished_message(open_with_ccm(*client, keys.block.client_write), 3);
    ASSERT_FALSE(client_finished.empty()) << "the client's Finished opens with client_write keys";
    std::vector<Buffer> handshake = hashed_messages(events_, false);
    EXPECT_EQ(hex(verify_data(keys.master, Sender::client, handshake)),
              hex(Bytes(client_finished).subspan(handshake_header_size)))
        << "client verify_data (RFC 5246 §7.4.9)";

    const Buffer server_finished =
        finished_message(open_with_ccm(*server, keys.block.server_write), 4);
    ASSERT_FALSE(server_finished.empty()) << "the server's Finished opens with server_write keys";
    handshake.push_back(client_finished);  // the server's hash includes the client's Finished
    EXPECT_EQ(hex(verify_data(keys.master, Sender::server, handshake)),
              hex(Bytes(server_finished).subspan(handshake_header_size)))
        << "server verify_data (RFC 5246 §7.4.9)";
}

TEST_F(RecordedTranscript, ApplicationDataOpensThroughTheRecordLayer) {
    const Keys keys = derive_keys(events_);
    CcmContext ccm;
    for (auto [from, expected] :
         {std::pair{Direction::client_to_server, recorded::client_message},
          std::pair{Direction::server_to_client, recorded::server_message}}) {
        const Event* event = find_protected(events_, from, ContentType::application_data);
        ASSERT_NE(event, nullptr);
        const Record record{event->record, event->bytes};
        Buffer out(event->bytes.size());
        auto opened = open_record(
            ccm, suite,
            from == Direction::client_to_server ? keys.block.client_write : keys.block.server_write,
            record, out);
        ASSERT_TRUE(opened) << side(from) << " application data opens";
        EXPECT_EQ(as_string(*opened), expected) << side(from) << " application data";
    }
}

TEST_F(RecordedTranscript, FlippedByteInClientKeyExchangeFailsVerifyData) {
    const Keys genuine = derive_keys(events_);
    const Event* client =
        find_protected(events_, Direction::client_to_server, ContentType::handshake);
    ASSERT_NE(client, nullptr);
    const Buffer finished = finished_message(open_with_ccm(*client, genuine.block.client_write), 3);
    ASSERT_EQ(finished.size(), handshake_header_size + verify_data_size);
    const Buffer recorded_verify_data(finished.begin() + handshake_header_size, finished.end());

    // The last byte of the datagram's ClientKeyExchange is the identity's last character:
    // flipping it keeps every length valid.
    std::vector<Datagram> tampered = recorded_datagrams();
    const Event& exchange = events_.at(6);
    ASSERT_EQ(exchange.message.type, HandshakeType::client_key_exchange);
    Buffer& datagram = tampered.at(4).bytes;
    auto at =
        std::search(datagram.begin(), datagram.end(), exchange.bytes.begin(), exchange.bytes.end());
    ASSERT_NE(at, datagram.end()) << "the ClientKeyExchange is in datagram 4";
    at[static_cast<std::ptrdiff_t>(exchange.bytes.size() - 1)] ^= 0x01;

    const std::vector<Event> events = parse_flow(tampered);
    ASSERT_EQ(events.size(), events_.size()) << "the tampered flow still parses";
    const Keys keys = derive_keys(events);
    EXPECT_NE(hex(verify_data(keys.master, Sender::client, hashed_messages(events, false))),
              hex(recorded_verify_data))
        << "verify_data over the tampered transcript differs from the recorded one";
    EXPECT_FALSE(open_with_ccm(events.at(8), keys.block.client_write))
        << "keys from the tampered transcript do not open the client's Finished";
}

}  // namespace
}  // namespace coap::dtls
