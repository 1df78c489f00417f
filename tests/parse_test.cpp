// Parser tests: RFC 7252 Appendix A, every format error, every truncation point, options.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "coap/message.hpp"
#include "support/appendix_a.hpp"
#include "support/bytes.hpp"
#include "support/guarded_buffer.hpp"

namespace coap {
namespace {

using test::bytes;
using test::ByteVector;
using test::concat;
using test::GuardedBuffer;

ParseError parse_error(const ByteVector& wire, std::size_t token_limit = max_token_length) {
    GuardedBuffer buffer(wire);
    auto result = parse(buffer.bytes(), token_limit);
    EXPECT_FALSE(result.has_value()) << "expected a parse error";
    return result ? ParseError::too_short : result.error();
}

TEST(Parse, AppendixAMessagesDecodeToTheirFields) {
    for (const auto& m : test::appendix_a_messages()) {
        SCOPED_TRACE(m.name);
        GuardedBuffer buffer(m.wire);
        auto view = parse(buffer.bytes());
        ASSERT_TRUE(view.has_value()) << describe(view.error());
        EXPECT_EQ(view->type(), m.type);
        EXPECT_EQ(view->code(), m.code);
        EXPECT_EQ(view->message_id(), m.message_id);
        EXPECT_EQ(ByteVector(view->token().begin(), view->token().end()), m.token);
        EXPECT_EQ(as_string(view->payload()), m.payload);
        auto path = view->find(OptionNumber::uri_path);
        if (m.uri_path.empty()) {
            EXPECT_FALSE(view->options().begin() != view->options().end());
        } else {
            ASSERT_TRUE(path.has_value());
            EXPECT_EQ(path->as_string(), m.uri_path);
            EXPECT_EQ(view->count(OptionNumber::uri_path), 1u);
        }
    }
}

TEST(Parse, ViewsPointIntoTheDatagramWithoutCopying) {
    ByteVector wire = test::appendix_a_messages()[2].wire;
    auto view = parse(wire);
    ASSERT_TRUE(view);
    EXPECT_EQ(view->token().data(), wire.data() + 4);
    EXPECT_EQ(view->find(OptionNumber::uri_path)->value.data(), wire.data() + 6);
    EXPECT_EQ(view->datagram().data(), wire.data());
}

TEST(Parse, HeaderShorterThanFourBytesIsTooShort) {
    EXPECT_EQ(parse_error({}), ParseError::too_short);
    EXPECT_EQ(parse_error(bytes({0x40})), ParseError::too_short);
    EXPECT_EQ(parse_error(bytes({0x40, 0x01, 0x00})), ParseError::too_short);
}

TEST(Parse, VersionOtherThanOneIsBadVersion) {
    for (int version : {0, 2, 3}) {
        EXPECT_EQ(parse_error(bytes({version << 6, 0x01, 0, 0})), ParseError::bad_version);
    }
}

TEST(Parse, TokenLengthNineToFifteenIsAFormatError) {
    for (int tkl = 9; tkl <= 15; ++tkl) {
        ByteVector wire(24, 0x41);  // header followed by enough bytes for any token
        wire[0] = static_cast<std::uint8_t>(0x40 | tkl);
        wire[1] = 0x01;
        wire[2] = wire[3] = 0;
        EXPECT_EQ(parse_error(wire), ParseError::bad_token_length) << "TKL " << tkl;
    }
}

TEST(Parse, DatagramEndingInsideTheTokenIsTruncatedToken) {
    EXPECT_EQ(parse_error(bytes({0x48, 0x01, 0, 0, 1, 2, 3, 4, 5, 6, 7})),
              ParseError::truncated_token);
    EXPECT_EQ(parse_error(bytes({0x41, 0x01, 0, 0})), ParseError::truncated_token);
}

TEST(Parse, OptionNibbleFifteenOutsideThePayloadMarkerIsReserved) {
    EXPECT_EQ(parse_error(bytes({0x40, 0x01, 0, 0, 0xf0})), ParseError::reserved_option_nibble);
    EXPECT_EQ(parse_error(bytes({0x40, 0x01, 0, 0, 0x0f})), ParseError::reserved_option_nibble);
    EXPECT_EQ(parse_error(bytes({0x40, 0x01, 0, 0, 0xbf, 'x'})),
              ParseError::reserved_option_nibble);
}

TEST(Parse, DatagramEndingInsideAnOptionIsTruncatedOption) {
    EXPECT_EQ(parse_error(bytes({0x40, 0x01, 0, 0, 0xd0})), ParseError::truncated_option);
    EXPECT_EQ(parse_error(bytes({0x40, 0x01, 0, 0, 0xe0, 0x00})), ParseError::truncated_option);
    EXPECT_EQ(parse_error(bytes({0x40, 0x01, 0, 0, 0x0d})), ParseError::truncated_option);
    EXPECT_EQ(parse_error(bytes({0x40, 0x01, 0, 0, 0xb3, 'a', 'b'})), ParseError::truncated_option);
}

TEST(Parse, OptionNumberAbove65535Overflows) {
    // Delta 269 + 0xffff = 65804 in one step.
    EXPECT_EQ(parse_error(bytes({0x40, 0x01, 0, 0, 0xe0, 0xff, 0xff})),
              ParseError::option_number_overflow);
    // 65000 reached in steps, then one more large delta.
    EXPECT_EQ(parse_error(bytes({0x40, 0x01, 0, 0, 0xe0, 0xfc, 0xdb, 0xe0, 0x02, 0x00})),
              ParseError::option_number_overflow);
}

TEST(Parse, OptionNumber65535IsAccepted) {
    auto wire = bytes({0x40, 0x01, 0, 0, 0xe0, 0xfe, 0xf2});  // 269 + 0xfef2 = 65535
    auto view = parse(wire);
    ASSERT_TRUE(view);
    EXPECT_EQ(to_int(view->options().begin()->number), 65535);
}

TEST(Parse, PayloadMarkerFollowedByNothingIsAFormatError) {
    EXPECT_EQ(parse_error(bytes({0x40, 0x01, 0, 0, 0xff})), ParseError::empty_payload);
    EXPECT_EQ(parse_error(bytes({0x40, 0x01, 0, 0, 0xb1, 'a', 0xff})), ParseError::empty_payload);
}

TEST(Parse, EmptyMessageWithAnyContentIsAFormatError) {
    EXPECT_EQ(parse_error(bytes({0x40, 0x00, 0, 0, 0xff, 'x'})),
              ParseError::nonempty_empty_message);
    EXPECT_EQ(parse_error(bytes({0x41, 0x00, 0, 0, 0x01})), ParseError::nonempty_empty_message);
    EXPECT_EQ(parse_error(bytes({0x41, 0x00, 0, 0})), ParseError::nonempty_empty_message);
    EXPECT_EQ(parse_error(bytes({0x60, 0x00, 0, 0, 0xb1, 'a'})),
              ParseError::nonempty_empty_message);
}

TEST(Parse, EveryParseErrorHasADescription) {
    for (int e = 0; e <= static_cast<int>(ParseError::nonempty_empty_message); ++e)
        EXPECT_NE(describe(static_cast<ParseError>(e)), "unknown parse error");
}

TEST(Parse, PeekHeaderReadsTheMessageIdOfAMalformedMessage) {
    auto header = peek_header(bytes({0x4f, 0x01, 0x12, 0x34, 0xff}));
    ASSERT_TRUE(header);
    EXPECT_EQ(header->type, MessageType::con);
    EXPECT_EQ(header->message_id, 0x1234);
    EXPECT_EQ(header->token_length_nibble, 15);
    EXPECT_FALSE(peek_header(bytes({0x40, 0x01, 0x12})));
}

// A message that exercises every encoding branch: token, one-byte and two-byte extended deltas
// and lengths, repeated options, an empty value and a payload.
ByteVector rich_message() {
    ByteVector long_value(300, 'v');
    ByteVector medium_value(20, 'm');
    return concat({
        bytes({0x44, 0x02, 0xbe, 0xef, 1, 2, 3, 4}),
        bytes({0x3a}),
        bytes("localhost!"),  // 3 Uri-Host
        bytes({0x81}),
        bytes({0x01}),  // 11 Uri-Path
        bytes({0x03}),
        bytes("abc"),  // 11 Uri-Path
        bytes({0x0d, 20 - 13}),
        medium_value,                              // 11 Uri-Path, 20 bytes
        bytes({0x11, 0x32}),                       // 12 Content-Format 50
        bytes({0xd0, 60 - 12 - 13}),               // 60 Size1, empty
        bytes({0xd2, 252 - 60 - 13, 0x12, 0x34}),  // 252 Echo, 2 bytes
        bytes({0xee, 0x05, 0xf7, 0x00, 300 - 269}),
        long_value,  // 2048, 300 bytes
        bytes({0xff}),
        bytes("payload bytes"),
    });
}

TEST(Parse, RichMessageExposesAllOptionsInOrder) {
    ByteVector wire = rich_message();
    auto view = parse(wire);
    ASSERT_TRUE(view) << describe(view.error());
    std::vector<std::uint16_t> numbers;
    for (const Option& option : view->options())
        numbers.push_back(to_int(option.number));
    EXPECT_EQ(numbers, (std::vector<std::uint16_t>{3, 11, 11, 11, 12, 60, 252, 2048}));
    EXPECT_EQ(view->count(OptionNumber::uri_path), 3u);
    std::vector<std::size_t> path_lengths;
    for (const Option& o : view->options(OptionNumber::uri_path))
        path_lengths.push_back(o.value.size());
    EXPECT_EQ(path_lengths, (std::vector<std::size_t>{1, 3, 20}));
    EXPECT_EQ(view->find_uint(OptionNumber::content_format), 50u);
    EXPECT_EQ(view->find_uint(OptionNumber::size1), 0u);
    EXPECT_EQ(view->find(static_cast<OptionNumber>(2048))->value.size(), 300u);
    EXPECT_FALSE(view->find(OptionNumber::observe));
    EXPECT_TRUE(view->options(OptionNumber::observe).empty());
    EXPECT_EQ(as_string(view->payload()), "payload bytes");
}

TEST(Parse, EveryTruncationPointFailsCleanlyOrYieldsAPrefix) {
    ByteVector wire = rich_message();
    auto full = parse(wire);
    ASSERT_TRUE(full);
    std::vector<std::uint16_t> full_numbers;
    for (const Option& o : full->options())
        full_numbers.push_back(to_int(o.number));

    std::size_t accepted = 0;
    for (std::size_t length = 0; length < wire.size(); ++length) {
        SCOPED_TRACE("prefix length " + std::to_string(length));
        GuardedBuffer buffer(Bytes(wire).first(length));
        auto view = parse(buffer.bytes());
        if (!view) {
            EXPECT_NE(view.error(), ParseError::bad_version);
            continue;
        }
        ++accepted;
        // A prefix that parses must be the message cut at an option or payload boundary.
        std::vector<std::uint16_t> numbers;
        for (const Option& o : view->options())
            numbers.push_back(to_int(o.number));
        ASSERT_LE(numbers.size(), full_numbers.size());
        EXPECT_TRUE(std::equal(numbers.begin(), numbers.end(), full_numbers.begin()));
        EXPECT_EQ(view->payload().data() + view->payload().size(), buffer.bytes().data() + length);
    }
    // Ends of the token, of each of the 8 options, and inside the payload.
    EXPECT_EQ(accepted, 1u + 8u + (sizeof("payload bytes") - 2));
}

TEST(Parse, EveryTruncationOfAppendixAMessagesIsSafe) {
    for (const auto& m : test::appendix_a_messages()) {
        for (std::size_t length = 0; length <= m.wire.size(); ++length) {
            GuardedBuffer buffer(Bytes(m.wire).first(length));
            auto view = parse(buffer.bytes());
            if (view) {
                for (const Option& o : view->options())
                    (void)o;
            }
        }
    }
}

TEST(Parse, ExtendedTokenLengthsNeedOptIn) {
    ByteVector token13(13, 0xaa);
    ByteVector wire13 = concat({bytes({0x4d, 0x01, 0, 1, 0x00}), token13, bytes({0xb1, 'x'})});
    EXPECT_EQ(parse_error(wire13), ParseError::bad_token_length);
    auto view = parse(wire13, 64);
    ASSERT_TRUE(view) << describe(view.error());
    EXPECT_EQ(view->token().size(), 13u);
    EXPECT_EQ(view->find(OptionNumber::uri_path)->as_string(), "x");

    ByteVector token300(300, 0xbb);
    ByteVector wire300 = concat({bytes({0x4e, 0x01, 0, 1, 0x00, 300 - 269}), token300});
    auto long_view = parse(wire300, max_extended_token_length);
    ASSERT_TRUE(long_view);
    EXPECT_EQ(long_view->token().size(), 300u);
    EXPECT_EQ(parse_error(wire300, 299), ParseError::bad_token_length);
    EXPECT_EQ(parse_error(bytes({0x4e, 0x01, 0, 1, 0x00}), 1000), ParseError::truncated_token);
    EXPECT_EQ(parse_error(bytes({0x4f, 0x01, 0, 1}), 1000), ParseError::bad_token_length);
    EXPECT_EQ(parse_error(bytes({0x49, 0x01, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9}), 1000),
              ParseError::bad_token_length);
}

TEST(Parse, ReservedAndSignalingCodesStillParse) {
    // The message layer, not the codec, decides what to do with reserved classes.
    for (int code : {0x20, 0x60, 0xc0, 0xe1}) {
        auto view = parse(bytes({0x40, code, 0, 1}));
        ASSERT_TRUE(view) << code;
        EXPECT_EQ(static_cast<int>(view->code()), code);
    }
}

}  // namespace
}  // namespace coap
