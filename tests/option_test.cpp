// Option registry, value helpers (uint, Block) and critical-option rejection.
#include <gtest/gtest.h>

#include <array>
#include <set>

#include "coap/message.hpp"
#include "coap/option.hpp"
#include "support/bytes.hpp"

namespace coap {
namespace {

using test::bytes;
using test::ByteVector;

TEST(OptionRegistry, PropertiesFollowTheNumberBitsOfRfc7252) {
    // RFC 7252 §5.10 Table 4: C = critical, U = unsafe, N = NoCacheKey.
    EXPECT_TRUE(is_critical(OptionNumber::if_match));
    EXPECT_TRUE(is_critical(OptionNumber::uri_host));
    EXPECT_TRUE(is_unsafe(OptionNumber::uri_host));
    EXPECT_FALSE(is_critical(OptionNumber::etag));
    EXPECT_TRUE(is_critical(OptionNumber::if_none_match));
    EXPECT_TRUE(is_critical(OptionNumber::uri_port));
    EXPECT_TRUE(is_critical(OptionNumber::uri_path));
    EXPECT_FALSE(is_critical(OptionNumber::content_format));
    EXPECT_TRUE(is_unsafe(OptionNumber::max_age));
    EXPECT_FALSE(is_critical(OptionNumber::max_age));
    EXPECT_TRUE(is_critical(OptionNumber::accept));
    EXPECT_TRUE(is_critical(OptionNumber::proxy_uri));
    EXPECT_TRUE(is_no_cache_key(OptionNumber::size1));
    EXPECT_TRUE(is_no_cache_key(OptionNumber::size2));
    EXPECT_TRUE(is_no_cache_key(OptionNumber::echo));      // RFC 9175 §2.2.1
    EXPECT_FALSE(is_critical(OptionNumber::request_tag));  // RFC 9175 §3.2.1
    EXPECT_FALSE(is_no_cache_key(OptionNumber::request_tag));
    EXPECT_TRUE(is_unsafe(OptionNumber::no_response));  // RFC 7967 §2
    EXPECT_TRUE(is_critical(OptionNumber::block1));
    EXPECT_TRUE(is_critical(OptionNumber::block2));
    EXPECT_FALSE(is_critical(OptionNumber::observe));
}

TEST(OptionRegistry, CoversEveryOptionTheIssueNames) {
    std::set<std::string_view> names;
    for (const OptionDef& def : option_registry())
        names.insert(def.name);
    for (std::string_view name :
         {"If-Match",      "Uri-Host",   "ETag",      "If-None-Match",  "Observe", "Uri-Port",
          "Location-Path", "OSCORE",     "Uri-Path",  "Content-Format", "Max-Age", "Uri-Query",
          "Hop-Limit",     "Accept",     "Q-Block1",  "Location-Query", "Block2",  "Block1",
          "Size2",         "Q-Block2",   "Proxy-Uri", "Proxy-Scheme",   "Size1",   "Echo",
          "No-Response",   "Request-Tag"}) {
        EXPECT_TRUE(names.count(name)) << name;
    }
    EXPECT_EQ(option_registry().size(), 26u);
}

TEST(OptionRegistry, LookupFindsEveryRowAndNothingElse) {
    for (const OptionDef& def : option_registry()) {
        const OptionDef* found = find_option_def(def.number);
        ASSERT_NE(found, nullptr) << def.name;
        EXPECT_EQ(found->name, def.name);
        EXPECT_LE(found->min_length, found->max_length);
    }
    for (int unknown : {0, 2, 10, 13, 21, 128, 2049, 65535})
        EXPECT_EQ(find_option_def(static_cast<OptionNumber>(unknown)), nullptr) << unknown;
    const OptionDef* etag = find_option_def(OptionNumber::etag);
    EXPECT_EQ(etag->format, OptionFormat::opaque);
    EXPECT_EQ(etag->min_length, 1);
    EXPECT_EQ(etag->max_length, 8);
    EXPECT_TRUE(etag->repeatable);
    EXPECT_EQ(find_option_def(OptionNumber::proxy_uri)->max_length, 1034);
    EXPECT_EQ(find_option_def(OptionNumber::echo)->max_length, 40);
}

TEST(OptionValue, UintDecodesBigEndianUpToFourBytes) {
    EXPECT_EQ(decode_uint({}), 0u);
    EXPECT_EQ(decode_uint(bytes({0x01, 0x00})), 256u);
    EXPECT_EQ(decode_uint(bytes({0xff, 0xff, 0xff, 0xff})), 0xffffffffu);
    EXPECT_EQ(decode_uint(bytes({0, 0, 0, 0, 1})), std::nullopt);
}

TEST(BlockOption, EncodesAndDecodesNumMoreAndSzx) {
    // RFC 7959 §2.2: NUM in the high bits, M in bit 3, SZX in the low 3 bits.
    EXPECT_EQ(encode_block({0, false, 0}).bytes().size(), 0u);
    UintValue one_more_1024 = encode_block({1, true, 6});
    EXPECT_EQ(ByteVector(one_more_1024.bytes().begin(), one_more_1024.bytes().end()),
              bytes({0x1e}));
    UintValue big = encode_block({max_block_num, false, 2});
    EXPECT_EQ(big.bytes().size(), 3u);
    for (BlockValue block : {BlockValue{0, true, 2}, BlockValue{1, false, 6},
                             BlockValue{4095, true, 4}, BlockValue{max_block_num, true, 0}}) {
        UintValue encoded = encode_block(block);
        EXPECT_EQ(decode_block(encoded.bytes()), block);
    }
}

TEST(BlockOption, RejectsReservedSzxAndOverlongValues) {
    EXPECT_EQ(decode_block(bytes({0x07})), std::nullopt);
    EXPECT_EQ(decode_block(bytes({0, 0, 0, 0x16})), std::nullopt);
}

TEST(BlockOption, SizeAndOffsetFollowSzx) {
    EXPECT_EQ((BlockValue{0, false, 0}).size(), 16u);
    EXPECT_EQ((BlockValue{0, false, 6}).size(), 1024u);
    EXPECT_EQ((BlockValue{3, false, 2}).offset(), 192u);
    EXPECT_EQ(szx_for_size(16), 0);
    EXPECT_EQ(szx_for_size(31), 0);
    EXPECT_EQ(szx_for_size(64), 2);
    EXPECT_EQ(szx_for_size(1000), 5);
    EXPECT_EQ(szx_for_size(1024), 6);
    EXPECT_EQ(szx_for_size(4096), 6);
    EXPECT_EQ(szx_for_size(1), 0);
}

std::optional<OptionNumber> check(const ByteVector& wire,
                                  std::span<const std::uint16_t> extra = {}) {
    auto view = parse(wire);
    EXPECT_TRUE(view);
    if (!view) return std::nullopt;
    return first_unrecognized_critical(*view, extra);
}

TEST(CriticalOptions, RegisteredOptionsWithinBoundsAreAccepted) {
    // Uri-Host "h", Uri-Path "a", Uri-Path "b", Accept 50, Block2 0x06
    EXPECT_EQ(
        check(bytes({0x40, 0x01, 0, 1, 0x31, 'h', 0x81, 'a', 0x01, 'b', 0x61, 50, 0x61, 0x06})),
        std::nullopt);
}

TEST(CriticalOptions, UnknownCriticalOptionIsReported) {
    // Option 2049 (odd: critical), unknown.
    ByteVector wire = bytes({0x40, 0x01, 0, 1, 0xe0, 0x06, 0xf4});
    EXPECT_EQ(check(wire), static_cast<OptionNumber>(2049));
    std::array<std::uint16_t, 1> allowed{2049};
    EXPECT_EQ(check(wire, allowed), std::nullopt);
}

TEST(CriticalOptions, UnknownElectiveOptionIsIgnored) {
    EXPECT_EQ(check(bytes({0x40, 0x01, 0, 1, 0xe0, 0x06, 0xf3})), std::nullopt);  // 2048
}

TEST(CriticalOptions, LengthOutOfBoundsMakesAnOptionUnrecognized) {
    // RFC 7252 §5.4.3: If-None-Match must be empty; Uri-Host must not be.
    EXPECT_EQ(check(bytes({0x40, 0x01, 0, 1, 0x51, 'x'})), OptionNumber::if_none_match);
    EXPECT_EQ(check(bytes({0x40, 0x01, 0, 1, 0x30})), OptionNumber::uri_host);
    // ETag (elective) with 9 bytes is ignored, not reported.
    EXPECT_EQ(check(bytes({0x40, 0x01, 0, 1, 0x49, 1, 2, 3, 4, 5, 6, 7, 8, 9})), std::nullopt);
}

TEST(CriticalOptions, RepeatedNonRepeatableCriticalOptionIsReported) {
    // RFC 7252 §5.4.5: Uri-Host twice.
    EXPECT_EQ(check(bytes({0x40, 0x01, 0, 1, 0x31, 'a', 0x01, 'b'})), OptionNumber::uri_host);
    // Repeated Max-Age is elective: ignored.
    EXPECT_EQ(check(bytes({0x40, 0x01, 0, 1, 0xd1, 1, 5, 0x01, 6})), std::nullopt);
}

TEST(CriticalOptions, RegisteredButUnprocessedCriticalOptionIsReported) {
    // OSCORE (9) and Q-Block1 (19) are known numbers this library does not implement.
    EXPECT_EQ(check(bytes({0x40, 0x01, 0, 1, 0x91, 0x01})), OptionNumber::oscore);
    EXPECT_EQ(check(bytes({0x40, 0x02, 0, 1, 0xd1, 19 - 13, 0x06})), OptionNumber::q_block1);
    std::array<std::uint16_t, 1> allowed{9};
    EXPECT_EQ(check(bytes({0x40, 0x01, 0, 1, 0x91, 0x01}), allowed), std::nullopt);
}

}  // namespace
}  // namespace coap
