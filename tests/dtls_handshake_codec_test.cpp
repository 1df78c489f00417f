// The DTLS 1.2 PSK handshake codec: the handshake header with message_seq and fragment fields
// (RFC 6347 §4.2.2), ClientHello with cookie and HelloVerifyRequest (§4.2.1), ServerHello, the
// PSK key exchange messages (RFC 4279 §2), ServerHelloDone and Finished (RFC 5246 §7.4), the
// extended_master_secret and renegotiation_info extensions (RFC 7627 §5.1, RFC 5746 §3.2), every
// truncation of every message, and fragment reassembly in any order (RFC 6347 §4.2.3).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "dtls/handshake_codec.hpp"
#include "dtls/handshake_reassembler.hpp"

namespace coap::dtls {
namespace {

using Buffer = std::vector<std::uint8_t>;

Buffer hex(std::string_view text) {
    Buffer out;
    for (std::size_t i = 0; i + 1 < text.size(); i += 2)
        out.push_back(
            static_cast<std::uint8_t>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16)));
    return out;
}

Buffer bytes_of(Bytes view) {
    return Buffer(view.begin(), view.end());
}

Buffer sequence_bytes(std::size_t size, std::uint8_t first = 0) {
    Buffer out(size);
    for (std::size_t i = 0; i < size; ++i)
        out[i] = static_cast<std::uint8_t>(first + i);
    return out;
}

// Writes `message` with `write` into an exactly sized buffer; also checks that every shorter
// buffer is refused.
template <class Message, class Writer>
Buffer write_exactly(const Message& message, Writer write) {
    Buffer big(70000);
    auto size = write(message, MutableBytes(big));
    EXPECT_TRUE(size.has_value());
    if (!size) return {};
    big.resize(*size);
    for (std::size_t shorter = 0; shorter < big.size(); ++shorter) {
        Buffer small(shorter);
        auto refused = write(message, MutableBytes(small));
        EXPECT_FALSE(refused) << shorter;
        if (!refused) {
            EXPECT_EQ(refused.error(), CodecError::buffer_too_small);
        }
    }
    return big;
}

// Every proper prefix of `encoded` must fail to parse, except those listed in `valid_prefixes`.
template <class Parser>
void every_prefix_fails(const Buffer& encoded, Parser parse,
                        std::vector<std::size_t> valid_prefixes = {}) {
    for (std::size_t size = 0; size < encoded.size(); ++size) {
        const bool valid =
            std::find(valid_prefixes.begin(), valid_prefixes.end(), size) != valid_prefixes.end();
        EXPECT_EQ(parse(Bytes(encoded).first(size)).has_value(), valid) << "prefix " << size;
    }
}

// --- Handshake header ---

TEST(DtlsHandshakeHeader, ParsesFieldsAndFragment) {
    const Buffer input =
        hex("01000010"
            "0003"
            "000004"
            "000002"
            "abcd"
            "ffff");
    auto fragment = parse_handshake_fragment(input);
    ASSERT_TRUE(fragment);
    EXPECT_EQ(fragment->header.type, HandshakeType::client_hello);
    EXPECT_EQ(fragment->header.length, 16u);
    EXPECT_EQ(fragment->header.message_seq, 3);
    EXPECT_EQ(fragment->header.fragment_offset, 4u);
    EXPECT_EQ(fragment->header.fragment_length, 2u);
    EXPECT_EQ(bytes_of(fragment->body), hex("abcd"));
    EXPECT_EQ(fragment->body.data(), input.data() + 12);
    EXPECT_FALSE(fragment->is_whole_message());

    Buffer written(12);
    ASSERT_TRUE(write_handshake_header(fragment->header, written));
    EXPECT_EQ(written, Buffer(input.begin(), input.begin() + 12));
}

TEST(DtlsHandshakeHeader, FragmentMustLieInsideTheMessageAndTheInput) {
    // offset 4 + length 3 > total 6
    EXPECT_EQ(parse_handshake_fragment(hex("0e000006000000000400000300000000")).error(),
              CodecError::bad_length);
    // offset beyond the length
    EXPECT_EQ(parse_handshake_fragment(hex("0e000006000000000700000000")).error(),
              CodecError::bad_length);
    // fragment_length 4 but only 3 bytes present
    EXPECT_EQ(parse_handshake_fragment(hex("0e000004000000000000000400"
                                           "0000"))
                  .error(),
              CodecError::truncated);
    // the largest lengths are accepted as long as they are consistent
    auto empty = parse_handshake_fragment(hex("14ffffffffffffffff000000"));
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->header.length, max_handshake_length);
    EXPECT_EQ(empty->header.fragment_offset, max_handshake_length);
}

TEST(DtlsHandshakeHeader, EveryTruncationFails) {
    const Buffer input =
        hex("0e0000040001000000000004"
            "01020304");
    ASSERT_TRUE(parse_handshake_fragment(input));
    every_prefix_fails(input, parse_handshake_fragment);
}

TEST(DtlsHandshakeHeader, WriteChecksBufferAndFieldSizes) {
    HandshakeHeader header{HandshakeType::finished, 12, 5, 0, 12};
    Buffer out(11);
    EXPECT_FALSE(write_handshake_header(header, out));
    out.resize(12);
    EXPECT_TRUE(write_handshake_header(header, out));
    EXPECT_EQ(out, hex("1400000c000500000000000c"));
    header.length = max_handshake_length + 1;
    EXPECT_FALSE(write_handshake_header(header, out));
}

TEST(DtlsHandshakeReader, IteratesMessagesInOneRecord) {
    const Buffer record =
        hex("0e0000000002000000000000"
            "1400000c000300000000000c"
            "000102030405060708090a0b");
    HandshakeReader reader(record);
    auto first = reader.next();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->header.type, HandshakeType::server_hello_done);
    EXPECT_TRUE(first->is_whole_message());
    auto second = reader.next();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->header.type, HandshakeType::finished);
    EXPECT_EQ(second->body.size(), 12u);
    EXPECT_TRUE(reader.done());

    const Buffer cut = hex("0e00000000020000000000001400");
    HandshakeReader broken(cut);
    EXPECT_TRUE(broken.next());
    EXPECT_EQ(broken.next().error(), CodecError::truncated);
    EXPECT_TRUE(broken.done());
}

// --- ClientHello ---

const Buffer client_random = sequence_bytes(32);
const Buffer cookie = hex("c0c1c2c3");
const Buffer suites = hex("c0a800ff");
const Buffer null_compression = hex("00");

ClientHello sample_client_hello() {
    ClientHello hello;
    hello.random = client_random;
    hello.cookie = cookie;
    hello.cipher_suites = suites;
    hello.compression_methods = null_compression;
    hello.extensions.extended_master_secret = true;
    hello.extensions.renegotiation_info = true;
    return hello;
}

const Buffer sample_client_hello_bytes =
    hex("fefd"                                                              // client_version
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"  // random
        "00"                                                                // session_id
        "04c0c1c2c3"                                                        // cookie
        "0004c0a800ff"                                                      // cipher_suites
        "0100"                                                              // compression
        "0009"                                                              // extensions
        "00170000"                                                          // ext. master secret
        "ff01000100");                                                      // renegotiation_info

TEST(DtlsClientHello, WritesTheRfcLayout) {
    EXPECT_EQ(write_exactly(sample_client_hello(), write_client_hello), sample_client_hello_bytes);
}

TEST(DtlsClientHello, ParsesEveryField) {
    auto hello = parse_client_hello(sample_client_hello_bytes);
    ASSERT_TRUE(hello);
    EXPECT_EQ(hello->client_version, dtls_1_2);
    EXPECT_EQ(bytes_of(hello->random), client_random);
    EXPECT_TRUE(hello->session_id.empty());
    EXPECT_EQ(bytes_of(hello->cookie), cookie);
    EXPECT_TRUE(hello->offers_cipher_suite(0xC0A8));
    EXPECT_TRUE(hello->offers_cipher_suite(0x00FF));
    EXPECT_FALSE(hello->offers_cipher_suite(0xA8C0));
    EXPECT_TRUE(hello->offers_null_compression());
    EXPECT_TRUE(hello->extensions.extended_master_secret);
    EXPECT_TRUE(hello->extensions.renegotiation_info);
    EXPECT_TRUE(hello->extensions.renegotiated_connection.empty());
    EXPECT_FALSE(hello->extensions.unknown_extensions);
}

TEST(DtlsClientHello, EveryTruncationFailsExceptBeforeTheExtensions) {
    // Without the extension block the body is a complete ClientHello (RFC 5246 §7.4.1.2).
    const std::size_t before_extensions = sample_client_hello_bytes.size() - 11;
    every_prefix_fails(sample_client_hello_bytes, parse_client_hello, {before_extensions});
    auto bare = parse_client_hello(Bytes(sample_client_hello_bytes).first(before_extensions));
    ASSERT_TRUE(bare);
    EXPECT_FALSE(bare->extensions.extended_master_secret);
}

TEST(DtlsClientHello, SkipsUnknownExtensionsAndReadsTheRest) {
    const Buffer body =
        hex("fefd"
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
            "20"
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"  // 32-byte id
            "00"
            "0002c0a8"
            "020100"
            "0015"
            "000a00040002001d"
            "00170000"
            "00230000"
            "ff01000100");
    auto hello = parse_client_hello(body);
    ASSERT_TRUE(hello) << int(hello.error());
    EXPECT_EQ(hello->session_id.size(), 32u);
    EXPECT_TRUE(hello->cookie.empty());
    EXPECT_TRUE(hello->extensions.extended_master_secret);
    EXPECT_TRUE(hello->extensions.renegotiation_info);
    EXPECT_TRUE(hello->extensions.unknown_extensions);
    EXPECT_TRUE(hello->offers_null_compression());
}

Buffer client_hello_with(std::string_view session_and_cookie, std::string_view suites_hex,
                         std::string_view compression, std::string_view tail) {
    return hex(std::string("fefd") +
               "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" +
               std::string(session_and_cookie) + std::string(suites_hex) +
               std::string(compression) + std::string(tail));
}

TEST(DtlsClientHello, RejectsInvalidLengthsAndExtensions) {
    const auto parse_error = [](const Buffer& body) {
        auto hello = parse_client_hello(body);
        return hello ? std::optional<CodecError>{} : std::optional{hello.error()};
    };
    ASSERT_FALSE(parse_error(client_hello_with("0000", "0002c0a8", "0100", "")));
    // session_id longer than 32
    EXPECT_EQ(parse_error(client_hello_with(
                  "21000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2000",
                  "0002c0a8", "0100", "")),
              CodecError::bad_length);
    EXPECT_EQ(parse_error(client_hello_with("0000", "0003c0a800", "0100", "")),
              CodecError::bad_length);  // odd cipher_suites
    EXPECT_EQ(parse_error(client_hello_with("0000", "0000", "0100", "")), CodecError::bad_length);
    EXPECT_EQ(parse_error(client_hello_with("0000", "0002c0a8", "00", "")),
              CodecError::bad_length);  // no compression method
    EXPECT_EQ(parse_error(client_hello_with("0000", "0002c0a8", "0101", "")), std::nullopt)
        << "parses; offers_null_compression() tells the caller";
    EXPECT_EQ(parse_error(client_hello_with("0000", "0002c0a8", "0100", "0008001700000017000000")),
              CodecError::duplicate_extension);
    EXPECT_EQ(parse_error(client_hello_with("0000", "0002c0a8", "0100", "00050017000100")),
              CodecError::bad_extension);  // extended_master_secret must be empty
    EXPECT_EQ(parse_error(client_hello_with("0000", "0002c0a8", "0100", "0004ff01000100")),
              CodecError::bad_length);  // extension list shorter than its contents
    EXPECT_EQ(parse_error(client_hello_with("0000", "0002c0a8", "0100", "0005ff0100010000")),
              CodecError::trailing_bytes);  // a byte after the extension list
    EXPECT_EQ(parse_error(client_hello_with("0000", "0002c0a8", "0100", "0005ff01000102")),
              CodecError::bad_extension);  // renegotiated_connection longer than its extension
    EXPECT_EQ(parse_error(client_hello_with("0000", "0002c0a8", "0100", "0006ff010002010000")),
              CodecError::trailing_bytes);
    EXPECT_EQ(parse_error(client_hello_with("0000", "0002c0a8", "0100", "0003ff0100")),
              CodecError::bad_length);  // an extension header cut short
    EXPECT_EQ(parse_error(client_hello_with("0000", "0002c0a8", "0100", "000000")),
              CodecError::trailing_bytes);  // a byte after the (empty) extension block
    EXPECT_EQ(parse_error(client_hello_with("0000", "0002c0a8", "0100", "00")),
              CodecError::truncated);
}

TEST(DtlsClientHello, WriterRejectsFieldsThatDoNotFit) {
    Buffer out(512);
    ClientHello hello = sample_client_hello();
    const Buffer short_random(31), long_id(33), odd_suites(3), long_cookie(256), no_methods;
    const Buffer long_reneg(256);
    hello.random = short_random;
    EXPECT_EQ(write_client_hello(hello, out).error(), CodecError::bad_value);
    hello = sample_client_hello();
    hello.session_id = long_id;
    EXPECT_EQ(write_client_hello(hello, out).error(), CodecError::bad_value);
    hello = sample_client_hello();
    hello.cipher_suites = odd_suites;
    EXPECT_EQ(write_client_hello(hello, out).error(), CodecError::bad_value);
    hello = sample_client_hello();
    hello.cookie = long_cookie;
    EXPECT_EQ(write_client_hello(hello, out).error(), CodecError::bad_value);
    hello = sample_client_hello();
    hello.compression_methods = no_methods;
    EXPECT_EQ(write_client_hello(hello, out).error(), CodecError::bad_value);
    hello = sample_client_hello();
    hello.extensions.renegotiated_connection = long_reneg;
    EXPECT_EQ(write_client_hello(hello, out).error(), CodecError::bad_value);
}

TEST(DtlsClientHello, RoundTripsWithoutExtensionsAndWithALongCookie) {
    ClientHello hello = sample_client_hello();
    const Buffer cookie255 = sequence_bytes(255, 1);
    const Buffer session = sequence_bytes(32, 9);
    hello.cookie = cookie255;
    hello.session_id = session;
    hello.extensions = {};
    const Buffer encoded = write_exactly(hello, write_client_hello);
    auto parsed = parse_client_hello(encoded);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(bytes_of(parsed->cookie), cookie255);
    EXPECT_EQ(bytes_of(parsed->session_id), session);
    EXPECT_FALSE(parsed->extensions.extended_master_secret);
    every_prefix_fails(encoded, parse_client_hello);
}

// --- HelloVerifyRequest, ServerHello ---

TEST(DtlsHelloVerifyRequest, RoundTripsAndFailsOnEveryTruncation) {
    HelloVerifyRequest request;
    request.cookie = cookie;
    const Buffer encoded = write_exactly(request, write_hello_verify_request);
    EXPECT_EQ(encoded, hex("feff04c0c1c2c3"));
    auto parsed = parse_hello_verify_request(encoded);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->server_version, dtls_1_0);
    EXPECT_EQ(bytes_of(parsed->cookie), cookie);
    every_prefix_fails(encoded, parse_hello_verify_request);
    EXPECT_EQ(parse_hello_verify_request(hex("feff04c0c1c2c3ff")).error(),
              CodecError::trailing_bytes);
    const Buffer long_cookie(256);
    request.cookie = long_cookie;
    Buffer out(300);
    EXPECT_EQ(write_hello_verify_request(request, out).error(), CodecError::bad_value);
}

ServerHello sample_server_hello(const Buffer& random) {
    ServerHello hello;
    hello.random = random;
    hello.cipher_suite = 0xC0A8;
    hello.extensions.extended_master_secret = true;
    hello.extensions.renegotiation_info = true;
    return hello;
}

TEST(DtlsServerHello, RoundTripsWithExtensions) {
    const Buffer random = sequence_bytes(32, 0x40);
    const Buffer encoded = write_exactly(sample_server_hello(random), write_server_hello);
    EXPECT_EQ(encoded, hex("fefd"
                           "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
                           "00"
                           "c0a8"
                           "00"
                           "0009"
                           "00170000"
                           "ff01000100"));
    auto parsed = parse_server_hello(encoded);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->server_version, dtls_1_2);
    EXPECT_EQ(bytes_of(parsed->random), random);
    EXPECT_EQ(parsed->cipher_suite, 0xC0A8);
    EXPECT_EQ(parsed->compression_method, 0);
    EXPECT_TRUE(parsed->extensions.extended_master_secret);
    EXPECT_TRUE(parsed->extensions.renegotiation_info);
    every_prefix_fails(encoded, parse_server_hello, {encoded.size() - 11});
}

TEST(DtlsServerHello, RejectsBadSessionIdsAndTrailingBytes) {
    const Buffer random = sequence_bytes(32);
    ServerHello hello = sample_server_hello(random);
    hello.extensions = {};
    Buffer encoded = write_exactly(hello, write_server_hello);
    ASSERT_TRUE(parse_server_hello(encoded));
    Buffer bad = encoded;
    bad[34] = 33;  // session_id length beyond 32 (and beyond the body)
    EXPECT_FALSE(parse_server_hello(bad));
    encoded.push_back(0);
    EXPECT_EQ(parse_server_hello(encoded).error(), CodecError::truncated)
        << "one byte where an extension block length belongs";
    const Buffer long_id(33);
    hello.session_id = long_id;
    Buffer out(100);
    EXPECT_EQ(write_server_hello(hello, out).error(), CodecError::bad_value);
}

// --- PSK key exchange, ServerHelloDone, Finished ---

TEST(DtlsPskKeyExchange, IdentityAndHintRoundTrip) {
    const Buffer identity = sequence_bytes(128);
    const Buffer encoded =
        write_exactly(PskClientKeyExchange{identity}, write_psk_client_key_exchange);
    ASSERT_EQ(encoded.size(), 130u);
    EXPECT_EQ(encoded[0], 0);
    EXPECT_EQ(encoded[1], 128);
    auto parsed = parse_psk_client_key_exchange(encoded);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(bytes_of(parsed->identity), identity);
    every_prefix_fails(encoded, parse_psk_client_key_exchange);
    Buffer trailing = encoded;
    trailing.push_back(1);
    EXPECT_EQ(parse_psk_client_key_exchange(trailing).error(), CodecError::trailing_bytes);

    const Buffer hint_bytes = hex("000568696e7421");
    auto hint = parse_psk_server_key_exchange(hint_bytes);
    ASSERT_TRUE(hint);
    EXPECT_EQ(as_string(hint->identity_hint), "hint!");
    EXPECT_EQ(write_exactly(*hint, write_psk_server_key_exchange), hint_bytes);
    every_prefix_fails(hint_bytes, parse_psk_server_key_exchange);
    auto empty_hint = parse_psk_server_key_exchange(hex("0000"));
    ASSERT_TRUE(empty_hint);
    EXPECT_TRUE(empty_hint->identity_hint.empty());
}

TEST(DtlsPskKeyExchange, LongestIdentityFitsAndLongerIsRefused) {
    const Buffer longest(0xffff, 'a');
    const Buffer encoded = write_exactly(PskClientKeyExchange{longest}, [](auto& m, auto out) {
        return write_psk_client_key_exchange(m, out);
    });
    ASSERT_EQ(encoded.size(), 0xffffu + 2);
    EXPECT_TRUE(parse_psk_client_key_exchange(encoded));
    const Buffer too_long(0x10000, 'a');
    Buffer out(0x10010);
    EXPECT_EQ(write_psk_client_key_exchange({too_long}, out).error(), CodecError::bad_value);
}

TEST(DtlsServerHelloDone, IsEmpty) {
    EXPECT_TRUE(parse_server_hello_done({}));
    EXPECT_EQ(parse_server_hello_done(hex("00")).error(), CodecError::trailing_bytes);
}

TEST(DtlsFinished, IsExactlyTwelveBytes) {
    const Buffer verify_data = sequence_bytes(12, 0x70);
    const Buffer encoded = write_exactly(Finished{verify_data}, write_finished);
    EXPECT_EQ(encoded, verify_data);
    auto parsed = parse_finished(encoded);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->verify_data.data(), encoded.data());
    every_prefix_fails(encoded, parse_finished);
    Buffer longer = encoded;
    longer.push_back(0);
    EXPECT_EQ(parse_finished(longer).error(), CodecError::trailing_bytes);
    Buffer out(20);
    EXPECT_EQ(write_finished({Bytes(verify_data).first(11)}, out).error(), CodecError::bad_value);
}

TEST(DtlsHandshakeMessage, AWholeClientHelloWithItsHeaderFailsOnEveryTruncation) {
    Buffer message(12 + sample_client_hello_bytes.size());
    HandshakeHeader header{HandshakeType::client_hello,
                           static_cast<std::uint32_t>(sample_client_hello_bytes.size()), 0, 0,
                           static_cast<std::uint32_t>(sample_client_hello_bytes.size())};
    ASSERT_TRUE(write_handshake_header(header, message));
    std::copy(sample_client_hello_bytes.begin(), sample_client_hello_bytes.end(),
              message.begin() + 12);
    auto fragment = parse_handshake_fragment(message);
    ASSERT_TRUE(fragment);
    ASSERT_TRUE(fragment->is_whole_message());
    EXPECT_TRUE(parse_client_hello(fragment->body));
    every_prefix_fails(message, parse_handshake_fragment);
}

// --- Reassembly ---

HandshakeFragment fragment_of(const Buffer& message, std::uint32_t offset, std::uint32_t length,
                              HandshakeType type = HandshakeType::client_hello,
                              std::uint16_t message_seq = 1) {
    HandshakeFragment fragment;
    fragment.header = {type, static_cast<std::uint32_t>(message.size()), message_seq, offset,
                       length};
    fragment.body = Bytes(message).subspan(offset, length);
    return fragment;
}

TEST(DtlsReassembler, AWholeMessageCompletesAtOnce) {
    const Buffer message = sequence_bytes(40);
    Buffer storage(64);
    HandshakeReassembler reassembler(storage);
    EXPECT_FALSE(reassembler.started());
    auto done = reassembler.add(fragment_of(message, 0, 40));
    ASSERT_TRUE(done);
    EXPECT_TRUE(*done);
    EXPECT_TRUE(reassembler.complete());
    EXPECT_EQ(bytes_of(reassembler.message()), message);
    const HandshakeHeader header = reassembler.header();
    EXPECT_EQ(header.type, HandshakeType::client_hello);
    EXPECT_EQ(header.length, 40u);
    EXPECT_EQ(header.message_seq, 1);
    EXPECT_EQ(header.fragment_offset, 0u);
    EXPECT_EQ(header.fragment_length, 40u);
}

TEST(DtlsReassembler, FragmentsInReverseOrderWithOverlapAndDuplicates) {
    const Buffer message = sequence_bytes(100);
    Buffer storage(100);
    HandshakeReassembler reassembler(storage);
    EXPECT_FALSE(*reassembler.add(fragment_of(message, 80, 20)));
    EXPECT_FALSE(*reassembler.add(fragment_of(message, 80, 20)));  // duplicate
    EXPECT_FALSE(*reassembler.add(fragment_of(message, 50, 35)));  // overlaps the first
    EXPECT_FALSE(*reassembler.add(fragment_of(message, 0, 10)));
    EXPECT_FALSE(*reassembler.add(fragment_of(message, 10, 0)));  // empty
    EXPECT_FALSE(reassembler.complete());
    EXPECT_TRUE(*reassembler.add(fragment_of(message, 5, 46)));  // fills the gap
    EXPECT_EQ(bytes_of(reassembler.message()), message);
    EXPECT_TRUE(*reassembler.add(fragment_of(message, 0, 3))) << "late fragments are ignored";
}

TEST(DtlsReassembler, RejectsFragmentsOfAnotherMessage) {
    const Buffer message = sequence_bytes(30);
    Buffer storage(64);
    HandshakeReassembler reassembler(storage);
    ASSERT_TRUE(reassembler.add(fragment_of(message, 0, 10)));
    EXPECT_EQ(reassembler.add(fragment_of(message, 10, 10, HandshakeType::finished)).error(),
              CodecError::mismatch);
    EXPECT_EQ(reassembler.add(fragment_of(message, 10, 10, HandshakeType::client_hello, 2)).error(),
              CodecError::mismatch);
    const Buffer longer = sequence_bytes(31);
    EXPECT_EQ(reassembler.add(fragment_of(longer, 10, 10)).error(), CodecError::mismatch);
    HandshakeFragment inconsistent = fragment_of(message, 10, 10);
    inconsistent.body = inconsistent.body.first(9);
    EXPECT_EQ(reassembler.add(inconsistent).error(), CodecError::bad_length);
    inconsistent = fragment_of(message, 10, 10);
    inconsistent.header.fragment_offset = 25;
    EXPECT_EQ(reassembler.add(inconsistent).error(), CodecError::bad_length);
    EXPECT_TRUE(*reassembler.add(fragment_of(message, 10, 20)));
    EXPECT_EQ(bytes_of(reassembler.message()), message);
}

TEST(DtlsReassembler, RefusesMessagesLargerThanTheBuffer) {
    const Buffer message = sequence_bytes(65);
    Buffer storage(64);
    HandshakeReassembler reassembler(storage);
    EXPECT_EQ(reassembler.add(fragment_of(message, 0, 10)).error(), CodecError::too_large);
    EXPECT_FALSE(reassembler.started());
}

TEST(DtlsReassembler, RefusesTooManyDisjointRangesWithoutLosingState) {
    const Buffer message = sequence_bytes(100);
    Buffer storage(100);
    HandshakeReassembler reassembler(storage);
    for (std::uint32_t i = 0; i < HandshakeReassembler::max_ranges; ++i)
        ASSERT_FALSE(*reassembler.add(fragment_of(message, i * 10, 5))) << i;
    EXPECT_EQ(reassembler.add(fragment_of(message, 90, 5)).error(), CodecError::too_fragmented);
    // Fragments that merge with known ranges are still taken, and the message completes.
    for (std::uint32_t i = 0; i < HandshakeReassembler::max_ranges; ++i)
        ASSERT_FALSE(*reassembler.add(fragment_of(message, i * 10 + 5, 5))) << i;
    EXPECT_TRUE(*reassembler.add(fragment_of(message, 80, 20)));
    EXPECT_EQ(bytes_of(reassembler.message()), message);
}

TEST(DtlsReassembler, EmptyMessageAndReset) {
    const Buffer empty;
    Buffer storage(8);
    HandshakeReassembler reassembler(storage);
    EXPECT_TRUE(*reassembler.add(fragment_of(empty, 0, 0, HandshakeType::server_hello_done)));
    EXPECT_TRUE(reassembler.message().empty());
    reassembler.reset();
    EXPECT_FALSE(reassembler.started());
    EXPECT_FALSE(reassembler.complete());
    const Buffer message = sequence_bytes(8);
    EXPECT_FALSE(*reassembler.add(fragment_of(message, 4, 4, HandshakeType::finished, 9)));
    EXPECT_TRUE(*reassembler.add(fragment_of(message, 0, 4, HandshakeType::finished, 9)));
    EXPECT_EQ(bytes_of(reassembler.message()), message);
}

TEST(DtlsReassembler, RandomFragmentationsAlwaysReassemble) {
    std::mt19937 random(11);
    const Buffer message = sequence_bytes(1000, 3);
    Buffer storage(1000);
    for (int round = 0; round < 300; ++round) {
        // Cover the message with random pieces, then shuffle them: any order, some overlap. A
        // piece refused as too fragmented is offered again at the end, as a retransmission.
        std::vector<std::pair<std::uint32_t, std::uint32_t>> pieces;
        for (std::uint32_t at = 0; at < message.size();) {
            const std::uint32_t length =
                std::min<std::uint32_t>(1 + random() % 200, message.size() - at);
            const std::uint32_t back = std::min<std::uint32_t>(at, random() % 20);
            pieces.emplace_back(at - back, length + back);
            at += length;
        }
        std::shuffle(pieces.begin(), pieces.end(), random);
        HandshakeReassembler reassembler(storage);
        for (std::size_t i = 0; i < pieces.size(); ++i) {
            auto done = reassembler.add(fragment_of(message, pieces[i].first, pieces[i].second));
            if (!done) {
                ASSERT_EQ(done.error(), CodecError::too_fragmented);
                pieces.push_back(pieces[i]);
                continue;
            }
        }
        ASSERT_TRUE(reassembler.complete()) << round;
        EXPECT_EQ(bytes_of(reassembler.message()), message) << round;
    }
}

}  // namespace
}  // namespace coap::dtls
