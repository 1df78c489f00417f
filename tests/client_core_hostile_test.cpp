// The client engine with injected time against a hostile or broken server: rejections
// (RFC 7252 §4.2, §4.3, §5.3.2), random garbage, duplicate responses, endless block-wise
// transfers and notification floods, with bounded state and outgoing queue.
#include <gtest/gtest.h>

#include <cstddef>

#include "support/client_core_fixture.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using namespace client_test;

// --- RFC 7252 §4.2, §4.3, §5.3.2: rejections ---------------------------------------------------

TEST_F(ClientCoreTest, ResetAnswerFailsTheRequestWithReset) {
    make();
    RequestHandle handle = submit_ok(get_x());
    ByteVector request = one_sent();
    receive(empty_message(MessageType::rst, static_cast<std::uint16_t>(mid_of(request) + 1)));
    EXPECT_FALSE(core_->pop_completion()) << "a RST for another Message ID is not ours";
    receive(empty_message(MessageType::rst, mid_of(request)));
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    EXPECT_EQ(error_of(c), ClientError::reset);
    EXPECT_TRUE(sent().empty()) << "a RST is never answered";
    EXPECT_FALSE(core_->next_deadline());
}

TEST_F(ClientCoreTest, NonEmptyResetIsSilentlyIgnored) {
    // §4.2: a Reset that is not Empty is rejected, i.e. silently ignored.
    make();
    submit_ok(get_x());
    ByteVector request = one_sent();
    receive(Msg(MessageType::rst, Code::content, mid_of(request), token_of(request))
                .payload("x")
                .wire());
    EXPECT_FALSE(core_->pop_completion());
    EXPECT_TRUE(sent().empty());
    receive(piggyback(request).payload("ok").wire());
    EXPECT_EQ(text_of(completion()), "ok");
}

TEST_F(ClientCoreTest, AckCarryingARequestOrReservedCodeIsSilentlyIgnored) {
    // §4.2: an ACK carrying a request or a code with a reserved class is rejected (ignored).
    make();
    submit_ok(get_x());
    ByteVector request = one_sent();
    for (Code code : {Code::get, make_code(1, 2), make_code(3, 1), make_code(6, 0), Code::csm}) {
        receive(piggyback(request, code).wire());
        EXPECT_FALSE(core_->pop_completion()) << code_text(code).view();
        EXPECT_TRUE(sent().empty());
    }
    auto due = core_->next_deadline();
    ASSERT_TRUE(due);
    core_->on_timer(*due);
    EXPECT_EQ(one_sent(), request) << "the request is still awaiting its ACK";
    receive(piggyback(request).payload("ok").wire());
    EXPECT_EQ(text_of(completion()), "ok");
}

TEST_F(ClientCoreTest, ResponsesWithUnknownTokensAreRejectedWithReset) {
    make();
    submit_ok(get_x());
    ByteVector request = one_sent();
    ByteVector other = bytes({0xde, 0xad, 0xbe, 0xef});
    ASSERT_NE(token_of(request), other);
    receive(Msg(MessageType::con, Code::content, 0x4001, other).payload("?").wire());
    EXPECT_EQ(one_sent(), empty_message(MessageType::rst, 0x4001));
    receive(Msg(MessageType::non, Code::content, 0x4002, other).payload("?").wire());
    EXPECT_EQ(one_sent(), empty_message(MessageType::rst, 0x4002));
    EXPECT_FALSE(core_->pop_completion());
    EXPECT_EQ(core_->active(), 1u);
}

TEST_F(ClientCoreTest, MalformedConIsRejectedWithReset) {
    make();
    // TKL 9 is a message format error (RFC 7252 §3).
    receive(bytes({0x49, 0x45, 0x12, 0x34, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
    EXPECT_EQ(one_sent(), empty_message(MessageType::rst, 0x1234));
    // An option running past the end of the datagram.
    receive(bytes({0x40, 0x45, 0x12, 0x35, 0xb5, 'a'}));
    EXPECT_EQ(one_sent(), empty_message(MessageType::rst, 0x1235));
    // Unknown version: silently ignored (§3); a runt has no Message ID to answer.
    receive(bytes({0x89, 0x45, 0x12, 0x36}));
    receive(bytes({0x40, 0x45, 0x12}));
    receive({});
    EXPECT_TRUE(sent().empty());
}

TEST_F(ClientCoreTest, MalformedAckAndNonAreIgnored) {
    make();
    submit_ok(get_x());
    ByteVector request = one_sent();
    std::uint16_t id = mid_of(request);
    auto hi = static_cast<std::uint8_t>(id >> 8), lo = static_cast<std::uint8_t>(id);
    receive(bytes({0x69, 0x45, hi, lo, 1, 2, 3, 4, 5, 6, 7, 8, 9}));      // ACK, TKL 9
    receive(bytes({0x60, 0x45, hi, lo, 0xff}));                           // ACK, empty payload
    receive(bytes({0x59, 0x45, 0x20, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9}));  // NON, TKL 9
    receive(bytes({0x70, 0x00, hi, lo, 0xff, 1}));  // RST with a payload: malformed
    EXPECT_TRUE(sent().empty());
    EXPECT_FALSE(core_->pop_completion());
    EXPECT_EQ(core_->active(), 1u);
    core_->on_timer(*core_->next_deadline());
    EXPECT_EQ(one_sent(), request) << "the request still waits for its ACK";
}

TEST_F(ClientCoreTest, PiggybackedAckWithTheWrongTokenIsAMalformedResponse) {
    make();
    RequestHandle handle = submit_ok(get_x());
    ByteVector request = one_sent();
    ByteVector token = token_of(request);
    token[0] ^= 0xff;
    receive(Msg(MessageType::ack, Code::content, mid_of(request), token).payload("x").wire());
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    EXPECT_EQ(error_of(c), ClientError::malformed_response);
    EXPECT_TRUE(sent().empty());
    EXPECT_FALSE(core_->next_deadline());
}

TEST_F(ClientCoreTest, RequestsAndPingsFromTheServerAreRejected) {
    make();
    receive(Msg(MessageType::con, Code::get, 0x3001, bytes({1})).wire());
    EXPECT_EQ(one_sent(), empty_message(MessageType::rst, 0x3001));
    receive(empty_message(MessageType::con, 0x3002));  // CoAP ping
    EXPECT_EQ(one_sent(), empty_message(MessageType::rst, 0x3002));
    receive(Msg(MessageType::non, Code::get, 0x3003, bytes({1})).wire());
    receive(empty_message(MessageType::non, 0x3004));
    receive(empty_message(MessageType::ack, 0x3005));
    receive(empty_message(MessageType::rst, 0x3006));
    EXPECT_TRUE(sent().empty());
}

// --- A hostile server ----------------------------------------------------------------------------

// Outgoing capacity: the ring holds 2 * max_in_flight + 32 datagrams.
std::size_t outgoing_capacity(const ClientConfig& config) {
    return std::size_t{config.max_in_flight} * 2 + 32;
}

TEST_F(ClientCoreTest, RandomGarbageNeverCrashesOrBreaksTheEngine) {
    config_.max_in_flight = 8;
    make();
    handshake();
    std::vector<ByteVector> requests;
    for (int i = 0; i < 8; ++i)
        submit_ok(get_x());
    requests = sent();
    Random random{99};
    TimePoint now = t0;
    for (int round = 0; round < 20000; ++round) {
        ByteVector datagram;
        if (random.below(3) == 0) {
            // A plausible reply to one of our requests, then corrupted.
            const ByteVector& request = requests[random.below(requests.size())];
            auto type = static_cast<MessageType>(random.below(4));
            Msg reply(type, static_cast<Code>(1 + random.below(255)),
                      random.below(2) ? mid_of(request) : static_cast<std::uint16_t>(random.next()),
                      token_of(request));
            if (random.below(2))
                reply.block(OptionNumber::block2, random.below(4), random.below(2), 6);
            if (random.below(2)) reply.observe(static_cast<std::uint32_t>(random.below(1 << 24)));
            reply.payload(body_of_size(random.below(64)));
            datagram = reply.wire();
            for (std::size_t flips = random.below(3); flips > 0 && !datagram.empty(); --flips)
                datagram[random.below(datagram.size())] ^=
                    static_cast<std::uint8_t>(1u << random.below(8));
        } else {
            datagram.resize(random.below(40));
            for (auto& b : datagram)
                b = static_cast<std::uint8_t>(random.next());
            if (!datagram.empty() && random.below(2)) datagram[0] = (datagram[0] & 0x3f) | 0x40;
        }
        now += 1ms;
        EXPECT_NO_THROW(core_->on_datagram(datagram, now));
        EXPECT_NO_THROW(core_->on_timer(now));
        std::size_t queued = 0;
        while (core_->has_outgoing()) {
            ByteVector out(core_->front_outgoing().begin(), core_->front_outgoing().end());
            core_->pop_outgoing();
            ASSERT_TRUE(parse(out)) << "the engine only sends well-formed messages";
            ++queued;
        }
        ASSERT_LE(queued, outgoing_capacity(config_));
        while (core_->pop_completion()) {
        }
        ASSERT_LE(core_->active(), 8u);
    }
    // Still usable afterwards.
    core_->fail_all(ClientError::cancelled);
    while (core_->pop_completion()) {
    }
    sent();
    RequestHandle handle = submit_ok(get_x(), now);
    receive(piggyback(one_sent()).payload("alive").wire(), now);
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    EXPECT_EQ(text_of(c), "alive");
}

TEST_F(ClientCoreTest, TwoResponsesWithTheSameTokenDeliverOnlyOne) {
    make();
    submit_ok(get_x());
    ByteVector request = one_sent();
    receive(empty_message(MessageType::ack, mid_of(request)));
    receive(separate(request, MessageType::con, 0x900).payload("one").wire());
    receive(separate(request, MessageType::con, 0x901).payload("two").wire());
    receive(separate(request, MessageType::non, 0x902).payload("three").wire());
    std::vector<ByteVector> out = sent();
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0], empty_message(MessageType::ack, 0x900));
    EXPECT_EQ(out[1], empty_message(MessageType::rst, 0x901));
    EXPECT_EQ(out[2], empty_message(MessageType::rst, 0x902));
    EXPECT_EQ(text_of(completion()), "one");
    EXPECT_FALSE(core_->pop_completion());
}

TEST_F(ClientCoreTest, EndlessBlock2StopsAtMaxBodySize) {
    config_.max_body_size = 64 * 1024;
    make();
    submit_ok(get_x());
    std::size_t requests = 0;
    for (std::uint32_t num = 0; num < 1000; ++num) {
        auto out = sent();
        if (out.empty()) break;
        ++requests;
        receive(piggyback(out.back())
                    .etag(bytes({1}))
                    .block(OptionNumber::block2, num, true, 6)
                    .payload(body_of_size(1024))
                    .wire());
    }
    EXPECT_EQ(requests, 65u);
    EXPECT_EQ(error_of(completion()), ClientError::too_large);
}

TEST_F(ClientCoreTest, EndlessContinueStopsWhenTheBodyIsSent) {
    config_.block_szx = 2;
    make();
    submit_ok(RequestSpec{Code::put, path_x_, body_of_size(1000), false});
    std::size_t requests = 0;
    for (int i = 0; i < 1000; ++i) {
        auto out = sent();
        if (out.empty()) break;
        ++requests;
        // Always 2.31, always the smallest size, always a bogus block number.
        receive(piggyback(out.back(), Code::continue_)
                    .block(OptionNumber::block1, max_block_num, true, 0)
                    .wire());
    }
    // 64 bytes, then 16-byte blocks: 1 + ceil((1000 - 64) / 16) requests.
    EXPECT_EQ(requests, 1u + (936u + 15u) / 16u);
    Completion c = completion();
    ASSERT_TRUE(c.result);
    EXPECT_EQ(c.result->code(), Code::continue_);
}

TEST_F(ClientObserveTest, QueueKeepsTheNewestNotificationsAndTheLastOne) {
    config_.max_queued_notifications = 4;
    make();
    RequestHandle id = 0;
    ByteVector request = registered(id, 1);  // takes the registration's own response
    for (std::uint32_t i = 0; i < 10; ++i)
        receive(notify(request, MessageType::non, static_cast<std::uint16_t>(100 + i), 2 + i));
    receive(separate(request, MessageType::non, 0x50, Code::not_found).wire());
    std::vector<std::uint32_t> sequences;
    bool saw_last = false;
    while (auto n = core_->pop_notification(id)) {
        if (n->last) {
            saw_last = true;
            break;
        }
        sequences.push_back(*n->result->message().find_uint(OptionNumber::observe));
    }
    EXPECT_TRUE(saw_last) << "the notification that ends the observation is never dropped";
    EXPECT_EQ(sequences, (std::vector<std::uint32_t>{9, 10, 11}))
        << "three newest kept beside the final one";
}

TEST_F(ClientObserveTest, NotificationFloodKeepsOutgoingBoundedAndStaleOnesAreDropped) {
    make();
    RequestHandle id = 0;
    ByteVector request = registered(id, 1);
    // 100000 CON notifications the caller never flushes: the ACK queue stays bounded.
    std::size_t delivered = 0;
    TimePoint now = t0;
    for (std::uint32_t i = 0; i < 100000; ++i) {
        now += 1ms;
        receive(notify(request, MessageType::con, static_cast<std::uint16_t>(i), 2 + i), now);
        if (i % 1000 == 999)
            while (core_->pop_notification(id))
                ++delivered;
    }
    // The notification queue is bounded too: of each 1000 only the newest 64 (the default
    // max_queued_notifications) are still there when the caller drains.
    EXPECT_EQ(delivered, 100u * config_.max_queued_notifications);
    EXPECT_EQ(core_->notifications_dropped(), 100000u - delivered);
    EXPECT_LE(sent().size(), outgoing_capacity(config_));
    // The same notification over and over (stale): nothing is queued.
    for (int i = 0; i < 10000; ++i)
        receive(notify(request, MessageType::non, static_cast<std::uint16_t>(0x8000 + i), 5), now);
    EXPECT_FALSE(core_->pop_notification(id));
    EXPECT_TRUE(core_->observation_open(id));
}

}  // namespace
}  // namespace coap::detail
