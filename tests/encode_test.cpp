// Encoder tests: RFC 7252 Appendix A byte for byte, option ordering, uint shortening,
// extended deltas and lengths, buffer limits and every encode error.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "coap/message.hpp"
#include "support/appendix_a.hpp"
#include "support/bytes.hpp"

namespace coap {
namespace {

using test::bytes;
using test::ByteVector;

ByteVector encode_to_vector(const Message& message) {
    ByteVector out(encoded_size(message));
    auto written = encode(message, out);
    EXPECT_TRUE(written.has_value()) << describe(written.error());
    if (!written) return {};
    EXPECT_EQ(*written, out.size()) << "encoded_size disagrees with encode";
    return out;
}

TEST(Encode, AppendixAMessagesAreReproducedByteForByte) {
    for (const auto& m : test::appendix_a_messages()) {
        SCOPED_TRACE(m.name);
        std::vector<Option> options;
        if (!m.uri_path.empty()) options.push_back({OptionNumber::uri_path, as_bytes(m.uri_path)});
        Message message{m.type, m.code, m.message_id, m.token, options, as_bytes(m.payload)};
        EXPECT_EQ(encode_to_vector(message), m.wire);
    }
}

TEST(Encode, OptionsAreSortedAndEqualNumbersKeepTheirOrder) {
    UintValue json(50);  // must outlive the options that view it
    std::array options{
        Option{OptionNumber::uri_query, as_bytes("a=1")},
        Option{OptionNumber::uri_path, as_bytes("first")},
        Option{OptionNumber::content_format, json.bytes()},
        Option{OptionNumber::uri_path, as_bytes("second")},
        Option{OptionNumber::uri_host, as_bytes("h")},
        Option{OptionNumber::uri_query, as_bytes("b=2")},
    };
    Message message{MessageType::con, Code::post, 7, {}, options, {}};
    ByteVector wire = encode_to_vector(message);
    auto view = parse(wire);
    ASSERT_TRUE(view);
    std::vector<std::string_view> seen;
    for (const Option& o : view->options())
        seen.push_back(o.as_string());
    ASSERT_EQ(seen.size(), 6u);
    EXPECT_EQ(seen[0], "h");
    EXPECT_EQ(seen[1], "first");
    EXPECT_EQ(seen[2], "second");
    EXPECT_EQ(seen[4], "a=1");
    EXPECT_EQ(seen[5], "b=2");
    EXPECT_EQ(view->find_uint(OptionNumber::content_format), 50u);
}

TEST(Encode, UintOptionsAreWrittenInTheirShortestForm) {
    ByteVector padded_format = bytes({0, 0});      // Content-Format 0 -> empty value
    ByteVector padded_observe = bytes({0, 0, 5});  // Observe 5 -> one byte
    ByteVector opaque_zeroes = bytes({0, 0});      // ETag keeps its bytes
    std::array options{Option{OptionNumber::content_format, padded_format},
                       Option{OptionNumber::observe, padded_observe},
                       Option{OptionNumber::etag, opaque_zeroes}};
    Message message{MessageType::non, Code::content, 1, {}, options, {}};
    ByteVector wire = encode_to_vector(message);
    auto view = parse(wire);
    ASSERT_TRUE(view);
    EXPECT_EQ(view->find(OptionNumber::content_format)->value.size(), 0u);
    EXPECT_EQ(view->find(OptionNumber::observe)->value.size(), 1u);
    EXPECT_EQ(view->find(OptionNumber::etag)->value.size(), 2u);
}

TEST(Encode, UintValueIsMinimal) {
    EXPECT_EQ(UintValue(0).bytes().size(), 0u);
    EXPECT_EQ(UintValue(1).bytes().size(), 1u);
    EXPECT_EQ(UintValue(255).bytes().size(), 1u);
    EXPECT_EQ(UintValue(256).bytes().size(), 2u);
    EXPECT_EQ(UintValue(0xffffff).bytes().size(), 3u);
    EXPECT_EQ(UintValue(0x1000000).bytes().size(), 4u);
    UintValue v(0x010203);
    EXPECT_EQ(ByteVector(v.bytes().begin(), v.bytes().end()), bytes({1, 2, 3}));
}

TEST(Encode, ExtendedDeltasAndLengthsUseTheRightForms) {
    ByteVector len12(12, 'a'), len13(13, 'b'), len268(268, 'c'), len269(269, 'd'),
        len1000(1000, 'e');
    std::array options{
        Option{static_cast<OptionNumber>(12), len12},    // delta 12: in the nibble
        Option{static_cast<OptionNumber>(25), len13},    // delta 13: one extra byte
        Option{static_cast<OptionNumber>(293), len268},  // delta 268: one extra byte
        Option{static_cast<OptionNumber>(562), len269},  // delta 269: two extra bytes
        Option{static_cast<OptionNumber>(65535), len1000},
    };
    Message message{MessageType::con, Code::put, 9, {}, options, {}};
    ByteVector wire = encode_to_vector(message);
    ASSERT_GE(wire.size(), 6u);
    EXPECT_EQ(wire[4], 0xcc);  // delta 12, length 12
    EXPECT_EQ(wire[4 + 1 + 12], 0xdd);
    auto view = parse(wire);
    ASSERT_TRUE(view) << describe(view.error());
    std::vector<std::pair<int, std::size_t>> seen;
    for (const Option& o : view->options())
        seen.emplace_back(to_int(o.number), o.value.size());
    EXPECT_EQ(seen, (std::vector<std::pair<int, std::size_t>>{
                        {12, 12}, {25, 13}, {293, 268}, {562, 269}, {65535, 1000}}));
}

TEST(Encode, EveryBufferSizeBelowTheMessageSizeFails) {
    std::array options{Option{OptionNumber::uri_path, as_bytes("temperature")},
                       Option{OptionNumber::uri_query, as_bytes("unit=c")}};
    ByteVector token = bytes({1, 2, 3, 4});
    Message message{MessageType::con, Code::get, 0x1234, token, options, as_bytes("body")};
    std::size_t needed = encoded_size(message);
    ByteVector out(needed + 8, 0xee);
    for (std::size_t size = 0; size < needed; ++size) {
        auto result = encode(message, MutableBytes(out).first(size));
        ASSERT_FALSE(result) << "size " << size;
        EXPECT_EQ(result.error(), EncodeError::buffer_too_small);
        EXPECT_EQ(out[size], 0xee) << "wrote past the buffer at size " << size;
    }
    auto exact = encode(message, MutableBytes(out).first(needed));
    ASSERT_TRUE(exact);
    EXPECT_EQ(*exact, needed);
}

TEST(Encode, TokenLongerThanEightBytesIsRejected) {
    ByteVector token(9, 1);
    std::array<std::uint8_t, 64> out{};
    auto result = encode(Message{MessageType::con, Code::get, 1, token, {}, {}}, out);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error(), EncodeError::token_too_long);
}

TEST(Encode, EmptyMessageMustBeJustTheHeader) {
    std::array<std::uint8_t, 64> out{};
    ByteVector token = bytes({1});
    std::array options{Option{OptionNumber::uri_path, as_bytes("x")}};
    EXPECT_EQ(encode(Message{MessageType::ack, Code::empty, 1, token, {}, {}}, out).error(),
              EncodeError::invalid_empty_message);
    EXPECT_EQ(encode(Message{MessageType::ack, Code::empty, 1, {}, options, {}}, out).error(),
              EncodeError::invalid_empty_message);
    EXPECT_EQ(encode(Message{MessageType::rst, Code::empty, 1, {}, {}, as_bytes("p")}, out).error(),
              EncodeError::invalid_empty_message);
    auto ok = encode(Message{MessageType::rst, Code::empty, 0xabcd, {}, {}, {}}, out);
    ASSERT_TRUE(ok);
    EXPECT_EQ(*ok, 4u);
    EXPECT_EQ(ByteVector(out.begin(), out.begin() + 4), bytes({0x70, 0x00, 0xab, 0xcd}));
}

TEST(Encode, OptionValueLongerThan65804BytesIsRejected) {
    ByteVector huge(65805, 'x');
    ByteVector out(70000);
    std::array options{Option{OptionNumber::uri_path, huge}};
    auto result = encode(Message{MessageType::con, Code::get, 1, {}, options, {}}, out);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error(), EncodeError::option_too_long);
}

TEST(MessageWriter, WritesPiecesInOrderWithoutSorting) {
    std::array<std::uint8_t, 64> out{};
    auto written = MessageWriter(out)
                       .header(MessageType::ack, Code::content, 0x7d35, bytes({0x20}))
                       .payload("22.3 C")
                       .finish();
    ASSERT_TRUE(written);
    EXPECT_EQ(ByteVector(out.begin(), out.begin() + *written), test::appendix_a_messages()[3].wire);
}

TEST(MessageWriter, UintOptionHelperIsMinimal) {
    std::array<std::uint8_t, 64> out{};
    auto written = MessageWriter(out)
                       .header(MessageType::con, Code::get, 1)
                       .uint_option(OptionNumber::observe, 0)
                       .uint_option(OptionNumber::accept, 50)
                       .finish();
    ASSERT_TRUE(written);
    auto view = parse(Bytes(out).first(*written));
    ASSERT_TRUE(view);
    EXPECT_EQ(view->find(OptionNumber::observe)->value.size(), 0u);
    EXPECT_EQ(view->find_uint(OptionNumber::accept), 50u);
}

TEST(MessageWriter, DecreasingOptionNumberIsAStickyError) {
    std::array<std::uint8_t, 64> out{};
    auto result = MessageWriter(out)
                      .header(MessageType::con, Code::get, 1)
                      .option(OptionNumber::uri_path, "a")
                      .option(OptionNumber::uri_host, "h")
                      .option(OptionNumber::uri_query, "q")
                      .finish();
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error(), EncodeError::options_out_of_order);
}

TEST(MessageWriter, PiecesOutOfSequenceAreRejected) {
    std::array<std::uint8_t, 64> out{};
    EXPECT_EQ(MessageWriter(out).finish().error(), EncodeError::out_of_sequence);
    EXPECT_EQ(MessageWriter(out).option(OptionNumber::uri_path, "a").finish().error(),
              EncodeError::out_of_sequence);
    EXPECT_EQ(MessageWriter(out)
                  .header(MessageType::con, Code::get, 1)
                  .payload("p")
                  .option(OptionNumber::uri_path, "a")
                  .finish()
                  .error(),
              EncodeError::out_of_sequence);
    EXPECT_EQ(MessageWriter(out)
                  .header(MessageType::con, Code::get, 1)
                  .header(MessageType::con, Code::get, 1)
                  .finish()
                  .error(),
              EncodeError::out_of_sequence);
}

TEST(MessageWriter, FirstErrorWins) {
    std::array<std::uint8_t, 6> out{};
    auto result = MessageWriter(out)
                      .header(MessageType::con, Code::get, 1)
                      .option(OptionNumber::uri_path, "toolong")
                      .option(OptionNumber::uri_host, "h")
                      .finish();
    EXPECT_EQ(result.error(), EncodeError::buffer_too_small);
}

TEST(Encode, EveryEncodeErrorHasADescription) {
    for (int e = 0; e <= static_cast<int>(EncodeError::out_of_sequence); ++e)
        EXPECT_NE(describe(static_cast<EncodeError>(e)), "unknown encode error");
}

}  // namespace
}  // namespace coap
