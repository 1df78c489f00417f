// Load levels with hysteresis, and the replies for refused messages (RST, 4.29 with Max-Age per
// RFC 8516 §3, or silence), checked by parsing them back.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include "server/load_monitor.hpp"
#include "server/refusal.hpp"

namespace coap::detail {
namespace {

using L = LoadLevel;

/// The levels after feeding each utilisation in turn.
std::vector<L> feed(LoadMonitor& monitor, std::initializer_list<std::uint32_t> percents) {
    std::vector<L> levels;
    for (std::uint32_t used : percents)
        levels.push_back(monitor.update(used));
    return levels;
}

TEST(Percent, RoundsDownAndClamps) {
    EXPECT_EQ(percent(0, 512), 0u);
    EXPECT_EQ(percent(383, 512), 74u);  // 74.8 %: not yet at a 75 % threshold
    EXPECT_EQ(percent(384, 512), 75u);
    EXPECT_EQ(percent(512, 512), 100u);
    EXPECT_EQ(percent(600, 512), 100u);
    EXPECT_EQ(percent(5, 0), 0u);  // a pool of size 0 is never the full one
    constexpr std::uint64_t huge = std::numeric_limits<std::uint64_t>::max();
    EXPECT_EQ(percent(huge / 2, huge), 49u);
    EXPECT_EQ(percent(huge - 1, huge), 99u);
}

TEST(LoadMonitor, RisesAtThrottleAndCritical) {
    LoadMonitor monitor(75, 90, 50);
    EXPECT_EQ(monitor.level(), L::normal);
    EXPECT_EQ(feed(monitor, {0, 74, 75, 89, 90, 100}),
              (std::vector<L>{L::normal, L::normal, L::throttled, L::throttled, L::shedding,
                              L::shedding}));
    EXPECT_EQ(monitor.transitions(), 2u);
}

TEST(LoadMonitor, SpikeGoesStraightToShedding) {
    LoadMonitor monitor(75, 90, 50);
    EXPECT_EQ(monitor.update(95), L::shedding);
    EXPECT_EQ(monitor.transitions(), 1u);
}

TEST(LoadMonitor, StepsDownOnlyBelowRecover) {
    LoadMonitor monitor(75, 90, 50);
    monitor.update(80);
    EXPECT_EQ(feed(monitor, {74, 60, 50, 49}),
              (std::vector<L>{L::throttled, L::throttled, L::throttled, L::normal}));
    monitor.update(95);
    // Shedding holds down to the recover threshold, then drops straight to normal.
    EXPECT_EQ(
        feed(monitor, {89, 75, 60, 50, 49, 60}),
        (std::vector<L>{L::shedding, L::shedding, L::shedding, L::shedding, L::normal, L::normal}));
    EXPECT_EQ(monitor.transitions(), 4u);  // up, down, up, down
}

TEST(LoadMonitor, FlappingAroundAThresholdDoesNotOscillate) {
    LoadMonitor monitor(75, 90, 50);
    for (int i = 0; i < 100; ++i) {
        monitor.update(i % 2 ? 73 : 76);  // around throttle
        EXPECT_EQ(monitor.level(), L::throttled);
    }
    EXPECT_EQ(monitor.transitions(), 1u);
    for (int i = 0; i < 100; ++i) {
        monitor.update(i % 2 ? 88 : 91);  // around critical
        EXPECT_EQ(monitor.level(), L::shedding);
    }
    EXPECT_EQ(monitor.transitions(), 2u);
    for (int i = 0; i < 100; ++i) {
        monitor.update(i % 2 ? 51 : 49);  // around recover: down once, then up only at 75
        EXPECT_EQ(monitor.level(), L::normal);
    }
    EXPECT_EQ(monitor.transitions(), 3u);
}

TEST(LoadMonitor, InconsistentThresholdsAreOrdered) {
    LoadMonitor monitor(80, 60, 90);  // critical below throttle, recover above it
    EXPECT_EQ(monitor.critical_pct(), 80);
    EXPECT_EQ(monitor.recover_pct(), 80);
    EXPECT_EQ(feed(monitor, {79, 80, 85, 79}),
              (std::vector<L>{L::normal, L::shedding, L::shedding, L::normal}));
}

TEST(LoadMonitor, ThresholdAboveHundredIsNeverReached) {
    LoadMonitor monitor(75, 255, 50);
    EXPECT_EQ(monitor.update(100), L::throttled);
}

// --- Refusals ---

Header header_of(MessageType type, Code code, std::uint16_t message_id) {
    return Header{protocol_version, type, 0, code, message_id};
}

constexpr std::array<std::uint8_t, 4> token{0xde, 0xad, 0xbe, 0xef};

TEST(Refusal, DefaultPolicy) {
    RefusalPolicy policy;
    EXPECT_EQ(choose_refusal(policy, header_of(MessageType::con, Code::get, 1)),
              Refusal::too_many_requests);
    EXPECT_EQ(choose_refusal(policy, header_of(MessageType::non, Code::get, 1)), Refusal::silence);
    EXPECT_EQ(choose_refusal(policy, header_of(MessageType::ack, Code::content, 1)),
              Refusal::silence);
    EXPECT_EQ(choose_refusal(policy, header_of(MessageType::rst, Code::empty, 1)),
              Refusal::silence);
    // A ping (empty CON) cannot get a response code: RST, its usual answer.
    EXPECT_EQ(choose_refusal(policy, header_of(MessageType::con, Code::empty, 1)), Refusal::reset);
}

TEST(Refusal, ConfiguredPolicy) {
    RefusalPolicy seed_like{.confirmable = Refusal::reset, .non_confirmable = Refusal::silence};
    EXPECT_EQ(choose_refusal(seed_like, header_of(MessageType::con, Code::post, 1)),
              Refusal::reset);
    RefusalPolicy chatty{.confirmable = Refusal::too_many_requests,
                         .non_confirmable = Refusal::too_many_requests};
    EXPECT_EQ(choose_refusal(chatty, header_of(MessageType::non, Code::get, 1)),
              Refusal::too_many_requests);
    EXPECT_EQ(choose_refusal(chatty, header_of(MessageType::non, Code::content, 1)),
              Refusal::silence);
}

TEST(Refusal, TooManyRequestsIsPiggybackedWithMaxAge) {
    std::array<std::uint8_t, max_refusal_size> out{};
    std::size_t length =
        encode_refusal(Refusal::too_many_requests, header_of(MessageType::con, Code::get, 0x1234),
                       token, 7, 0x9999, out);
    ASSERT_GT(length, 0u);
    auto reply = parse(Bytes(out.data(), length));
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->type(), MessageType::ack);
    EXPECT_EQ(reply->code(), Code::too_many_requests);
    EXPECT_EQ(reply->message_id(), 0x1234);
    EXPECT_TRUE(std::ranges::equal(reply->token(), token));
    EXPECT_EQ(reply->find_uint(OptionNumber::max_age), 7u);
    EXPECT_TRUE(reply->payload().empty());
}

TEST(Refusal, TooManyRequestsToNonUsesTheGivenMessageId) {
    // The longest refusal: an 8-byte token and a 4-byte Max-Age fill max_refusal_size.
    constexpr std::array<std::uint8_t, 8> long_token{1, 2, 3, 4, 5, 6, 7, 8};
    std::array<std::uint8_t, max_refusal_size> out{};
    std::size_t length =
        encode_refusal(Refusal::too_many_requests, header_of(MessageType::non, Code::get, 0x1234),
                       long_token, 0x01020304, 0x9999, out);
    auto reply = parse(Bytes(out.data(), length));
    ASSERT_TRUE(reply);
    EXPECT_EQ(length, max_refusal_size);
    EXPECT_EQ(reply->type(), MessageType::non);
    EXPECT_EQ(reply->message_id(), 0x9999);
    EXPECT_TRUE(std::ranges::equal(reply->token(), long_token));
    EXPECT_EQ(reply->find_uint(OptionNumber::max_age), 0x01020304u);
}

TEST(Refusal, ResetEchoesTheMessageIdWithoutToken) {
    std::array<std::uint8_t, max_refusal_size> out{};
    std::size_t length = encode_refusal(
        Refusal::reset, header_of(MessageType::con, Code::get, 0xbeef), token, 7, 0, out);
    auto reply = parse(Bytes(out.data(), length));
    ASSERT_TRUE(reply);
    EXPECT_EQ(length, 4u);
    EXPECT_EQ(reply->type(), MessageType::rst);
    EXPECT_EQ(reply->code(), Code::empty);
    EXPECT_EQ(reply->message_id(), 0xbeef);
    EXPECT_TRUE(reply->token().empty());
}

TEST(Refusal, SilenceWritesNothing) {
    std::array<std::uint8_t, max_refusal_size> out{};
    EXPECT_EQ(encode_refusal(Refusal::silence, header_of(MessageType::non, Code::get, 1), token, 7,
                             0, out),
              0u);
    // Never a reply to an ACK or RST, whatever is asked.
    EXPECT_EQ(encode_refusal(Refusal::reset, header_of(MessageType::ack, Code::content, 1), token,
                             7, 0, out),
              0u);
    // Too small a buffer: nothing rather than a truncated message.
    std::array<std::uint8_t, 8> small{};
    EXPECT_EQ(encode_refusal(Refusal::too_many_requests, header_of(MessageType::con, Code::get, 1),
                             token, 7, 0, small),
              0u);
}

TEST(Refusal, RefusingAParsedRequest) {
    // The path the core takes: parse, choose, encode.
    std::array<std::uint8_t, 64> request_bytes{};
    std::array<Option, 1> options{Option{OptionNumber::uri_path, as_bytes("x")}};
    auto request_length =
        encode(Message{MessageType::con, Code::get, 42, token, options, {}}, request_bytes);
    ASSERT_TRUE(request_length);
    auto request = parse(Bytes(request_bytes.data(), *request_length));
    ASSERT_TRUE(request);
    Header header{protocol_version, request->type(), 4, request->code(), request->message_id()};
    std::array<std::uint8_t, max_refusal_size> out{};
    std::size_t length =
        encode_refusal(choose_refusal({}, header), header, request->token(), 1, 0, out);
    auto reply = parse(Bytes(out.data(), length));
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->code(), Code::too_many_requests);
    EXPECT_EQ(reply->message_id(), 42);
    EXPECT_LE(length, *request_length + 2);  // no amplification worth the name
}

}  // namespace
}  // namespace coap::detail
