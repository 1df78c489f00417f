// libFuzzer target for the DTLS 1.2 record layer and handshake codec (RFC 6347 §4.1, §4.2).
//
// The input is one datagram. It is split into records; each header must write back to the
// same 13 bytes. Records of epoch >= 1 are opened with a fixed AES-128-CCM_8 key (forged tags
// must fail, and only authenticated records may move the anti-replay window, which is checked
// against a set-based model of RFC 6347 §4.1.2.6); every fragment is also sealed under the
// record's header and must open back to itself, and fail with one byte flipped. Epoch-0
// handshake records are split into handshake fragments, which go through the reassembler and,
// when whole, the message parser for their type; a parsed message is written, parsed again and
// written again, which must give the same bytes (the writer is a fixed point).
// Any violated invariant traps.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "dtls/handshake_codec.hpp"
#include "dtls/handshake_reassembler.hpp"
#include "dtls/record.hpp"
#include "dtls/replay_window.hpp"

namespace {

using namespace coap;
using namespace coap::dtls;

using Buffer = std::vector<std::uint8_t>;

void check(bool condition) {
    if (!condition) __builtin_trap();
}

const CipherSuite& suite = tls_psk_with_aes_128_ccm_8;

// The key the seed corpus was sealed with: key 00..0f, salt a0 a1 a2 a3.
const TrafficKeys& fixed_keys() {
    static const TrafficKeys keys = [] {
        TrafficKeys k;
        for (std::size_t i = 0; i < 16; ++i)
            k.key[i] = static_cast<std::uint8_t>(i);
        for (std::size_t i = 0; i < 4; ++i)
            k.iv[i] = static_cast<std::uint8_t>(0xa0 + i);
        return k;
    }();
    return keys;
}

CcmContext& aead() {
    static CcmContext context;  // one per process, as one per worker thread in the server
    return context;
}

// RFC 6347 §4.1.2.6 as a set: fresh when right of the highest received or, within 64 of it,
// not received yet.
struct ReplayModel {
    std::set<std::uint64_t> received;
    std::uint64_t highest = 0;
    bool is_fresh(std::uint64_t sequence) const {
        if (sequence > highest) return true;
        return highest - sequence < 64 && received.count(sequence) == 0;
    }
    void mark(std::uint64_t sequence) {
        received.insert(sequence);
        if (sequence > highest) highest = sequence;
    }
};

void check_header_round_trip(const Record& record) {
    std::array<std::uint8_t, record_header_size> written{};
    check(write_record_header(record.header, written));
    check(std::memcmp(written.data(), record.fragment.data() - record_header_size,
                      record_header_size) == 0);
    auto parsed = parse_record_header(written);
    check(parsed.has_value() && parsed->sequence == record.header.sequence &&
          parsed->length == record.fragment.size());
}

// Seals the fragment as plaintext under the record's header; it must open to the same bytes,
// and not open with one byte changed.
void check_seal_open(const Record& record) {
    if (record.fragment.size() > max_plaintext_size) return;
    Buffer sealed(sealed_record_size(suite, record.fragment.size()));
    auto size = seal_record(aead(), suite, fixed_keys(), record.header, record.fragment, sealed);
    check(size.has_value() && *size == sealed.size());
    RecordReader reader(sealed);
    auto again = reader.next();
    check(again.has_value() && reader.done());
    Buffer opened(record.fragment.size());
    auto plaintext = open_record(aead(), suite, fixed_keys(), *again, opened);
    check(plaintext.has_value() && plaintext->size() == record.fragment.size());
    check(record.fragment.empty() ||
          std::memcmp(plaintext->data(), record.fragment.data(), record.fragment.size()) == 0);
    const std::size_t flip = record_header_size + record.header.sequence % (sealed.size() - 13);
    sealed[flip] ^= 0x20;
    RecordReader forged_reader(sealed);
    auto forged = forged_reader.next();
    check(forged.has_value());
    check(!open_record(aead(), suite, fixed_keys(), *forged, opened).has_value());
}

void open_protected(const Record& record, ReplayWindow& window, ReplayModel& model) {
    const std::uint64_t sequence = record.header.sequence;
    const bool fresh = window.is_fresh(sequence);
    check(fresh == model.is_fresh(sequence));
    Buffer out(record.fragment.size());
    auto opened = open_record(aead(), suite, fixed_keys(), record, out);
    if (opened) {
        check(record.fragment.size() >= record_expansion(suite));
        check(opened->size() == record.fragment.size() - record_expansion(suite));
    }
    // Only an authenticated, fresh record moves the window. The fuzzer rarely forges a tag, so
    // records whose sequence number is odd stand in for authenticated ones too.
    if (fresh && (opened || sequence % 2 == 1)) {
        window.mark_received(sequence);
        model.mark(sequence);
        check(!window.is_fresh(sequence));
    }
    check_seal_open(record);
}

// parse -> write -> parse -> write: the two writes must agree.
template <class Parse, class Write>
void round_trip(Bytes body, Parse parse, Write write) {
    auto first = parse(body);
    if (!first) return;
    Buffer out(body.size() + 16);
    auto size = write(*first, MutableBytes(out));
    check(size.has_value() && *size <= out.size());
    out.resize(*size);
    auto second = parse(Bytes(out));
    check(second.has_value());
    Buffer again(out.size());
    auto size_again = write(*second, MutableBytes(again));
    check(size_again.has_value() && again == out);
}

void parse_message(HandshakeType type, Bytes body) {
    switch (type) {
        case HandshakeType::client_hello: {
            round_trip(body, parse_client_hello, write_client_hello);
            if (auto hello = parse_client_hello(body)) {
                check(hello->random.size() == random_size && hello->session_id.size() <= 32);
                check(hello->cipher_suites.size() % 2 == 0 && !hello->compression_methods.empty());
                (void)hello->offers_cipher_suite(0xC0A8);
            }
            break;
        }
        case HandshakeType::hello_verify_request:
            round_trip(body, parse_hello_verify_request, write_hello_verify_request);
            break;
        case HandshakeType::server_hello:
            round_trip(body, parse_server_hello, write_server_hello);
            break;
        case HandshakeType::server_key_exchange:
            round_trip(body, parse_psk_server_key_exchange, write_psk_server_key_exchange);
            break;
        case HandshakeType::server_hello_done:
            check(parse_server_hello_done(body).has_value() == body.empty());
            break;
        case HandshakeType::client_key_exchange:
            round_trip(body, parse_psk_client_key_exchange, write_psk_client_key_exchange);
            break;
        case HandshakeType::finished:
            check(parse_finished(body).has_value() == (body.size() == verify_data_size));
            round_trip(body, parse_finished, write_finished);
            break;
        default:
            break;
    }
}

void read_handshake(const Record& record, HandshakeReassembler& reassembler) {
    for (HandshakeReader reader(record.fragment); !reader.done();) {
        auto fragment = reader.next();
        if (!fragment) break;
        const HandshakeHeader& header = fragment->header;
        check(header.fragment_offset + header.fragment_length <= header.length);
        check(fragment->body.size() == header.fragment_length);
        if (fragment->is_whole_message()) parse_message(header.type, fragment->body);
        auto added = reassembler.add(*fragment);
        if (!added && added.error() == CodecError::mismatch) {
            reassembler.reset();
            added = reassembler.add(*fragment);
        }
        if (added && *added) {
            check(reassembler.complete() && reassembler.message().size() == header.length);
            parse_message(reassembler.header().type, reassembler.message());
            reassembler.reset();
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    check(aead().valid());
    ReplayWindow window;
    ReplayModel model;
    static std::array<std::uint8_t, 4096> reassembly_buffer;
    HandshakeReassembler reassembler(reassembly_buffer);

    for (RecordReader reader(Bytes(data, size)); !reader.done();) {
        auto record = reader.next();
        if (!record) continue;
        check(record->fragment.size() == record->header.length);
        check_header_round_trip(*record);
        if (record->header.epoch >= 1) {
            open_protected(*record, window, model);
        } else if (record->header.type == ContentType::handshake) {
            read_handshake(*record, reassembler);
        }
    }
    return 0;
}
