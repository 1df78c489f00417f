// The client engine with injected time: the CON retransmission schedule (RFC 7252 §4.2) and
// NON requests, which are not retransmitted (§4.3, §5.2.3).
#include <gtest/gtest.h>

#include <array>

#include "support/client_core_fixture.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using namespace client_test;

// --- RFC 7252 §4.2: the CON retransmission schedule ---------------------------------------------

TEST_F(ClientCoreTest, ConRetransmissionScheduleDoublesFromRandomInitialTimeoutThenTimesOut) {
    make();
    RequestHandle handle = submit_ok(get_x());
    ByteVector first = one_sent();
    EXPECT_EQ(view(first).type(), MessageType::con);
    ASSERT_TRUE(core_->next_deadline());
    Duration initial = *core_->next_deadline() - t0;
    EXPECT_GE(initial, 2s);  // ACK_TIMEOUT
    EXPECT_LE(initial, 3s);  // ACK_TIMEOUT * ACK_RANDOM_FACTOR

    TimePoint due = t0 + initial;
    Duration timeout = initial;
    for (int retransmission = 1; retransmission <= 4; ++retransmission) {
        core_->on_timer(due - 1ns);
        EXPECT_FALSE(core_->has_outgoing()) << "early retransmission " << retransmission;
        core_->on_timer(due);
        EXPECT_EQ(one_sent(), first) << "a retransmission repeats the datagram and Message ID";
        timeout *= 2;
        due += timeout;
        EXPECT_EQ(core_->next_deadline(), due);
    }
    // MAX_RETRANSMIT = 4: the last wait ends 31 initial timeouts after the first transmission.
    EXPECT_EQ(due - t0, 31 * initial);
    EXPECT_LE(due - t0, 93s);
    core_->on_timer(due - 1ns);
    EXPECT_FALSE(core_->pop_completion());
    EXPECT_FALSE(core_->has_outgoing());
    core_->on_timer(due);
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    EXPECT_EQ(error_of(c), ClientError::timeout);
    EXPECT_FALSE(core_->has_outgoing());
    EXPECT_FALSE(core_->next_deadline());
    EXPECT_EQ(core_->active(), 0u);
}

TEST_F(ClientCoreTest, InitialTimeoutIsSpreadOverTheWholeRandomRange) {
    Duration lowest = 1h, highest = 0s;
    for (std::uint64_t seed = 1; seed <= 200; ++seed) {
        make(seed * 0x9e3779b97f4a7c15ull);
        submit_ok(get_x());
        ASSERT_TRUE(core_->next_deadline());
        Duration initial = *core_->next_deadline() - t0;
        ASSERT_GE(initial, 2s);
        ASSERT_LE(initial, 3s);
        lowest = std::min(lowest, initial);
        highest = std::max(highest, initial);
    }
    EXPECT_LT(lowest, 2100ms);
    EXPECT_GT(highest, 2900ms);
}

TEST_F(ClientCoreTest, TransmissionParametersComeFromTheConfig) {
    config_.ack_timeout = 1s;
    config_.ack_random_factor = 1.0;
    config_.max_retransmit = 2;
    make();
    submit_ok(get_x());
    EXPECT_EQ(sent().size(), 1u);
    EXPECT_EQ(core_->next_deadline(), t0 + 1s);
    core_->on_timer(t0 + 1s);
    EXPECT_EQ(sent().size(), 1u);
    EXPECT_EQ(core_->next_deadline(), t0 + 3s);
    core_->on_timer(t0 + 3s);
    EXPECT_EQ(sent().size(), 1u);
    EXPECT_EQ(core_->next_deadline(), t0 + 7s);
    core_->on_timer(t0 + 7s);
    EXPECT_TRUE(sent().empty());
    EXPECT_EQ(error_of(completion()), ClientError::timeout);
}

TEST_F(ClientCoreTest, LateTimerCallsCatchUpAndStayInsideMaxTransmitSpan) {
    // §4.2: an endpoint may be late for a retransmission and catch up on the next one; the
    // whole sequence must stay within MAX_TRANSMIT_SPAN.
    config_.ack_random_factor = 1.0;  // initial timeout exactly 2 s
    make();
    submit_ok(get_x());
    sent();
    const std::array<Duration, 5> due{2s, 6s, 14s, 30s, 62s};
    for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(core_->next_deadline(), t0 + due[i]);
        core_->on_timer(t0 + due[i] + 1500ms);  // 1.5 s late every time
        EXPECT_EQ(sent().size(), 1u);
    }
    EXPECT_EQ(core_->next_deadline(), t0 + due[4]);
    core_->on_timer(t0 + due[4]);
    EXPECT_EQ(error_of(completion()), ClientError::timeout);
}

TEST_F(ClientCoreTest, VeryLateTimerKeepsAckTimeoutBetweenRetransmissions) {
    config_.ack_random_factor = 1.0;
    make();
    submit_ok(get_x());
    sent();
    core_->on_timer(t0 + 20s);  // asleep through several deadlines: one retransmission only
    EXPECT_EQ(sent().size(), 1u);
    ASSERT_TRUE(core_->next_deadline());
    EXPECT_GE(*core_->next_deadline(), t0 + 20s + config_.ack_timeout);
}

// --- RFC 7252 §4.3, §5.2.3: NON requests --------------------------------------------------------

TEST_F(ClientCoreTest, NonRequestIsNotRetransmittedAndMatchedByToken) {
    make();
    RequestSpec spec = get_x();
    spec.non_confirmable = true;
    RequestHandle handle = submit_ok(spec);
    ByteVector request = one_sent();
    EXPECT_EQ(view(request).type(), MessageType::non);
    EXPECT_EQ(core_->next_deadline(), t0 + config_.response_timeout);
    core_->on_timer(t0 + 60s);
    EXPECT_TRUE(sent().empty()) << "NON is never retransmitted";
    receive(piggyback(request).payload("wrong type").wire());  // an ACK cannot match a NON
    EXPECT_FALSE(core_->pop_completion());
    receive(separate(request, MessageType::non, 0x6000).payload("pong").wire(), t0 + 61s);
    EXPECT_TRUE(sent().empty());
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    EXPECT_EQ(text_of(c), "pong");
    EXPECT_FALSE(core_->next_deadline());
}

TEST_F(ClientCoreTest, NonRequestTimesOutAfterResponseTimeout) {
    config_.response_timeout = 20s;
    make();
    RequestSpec spec = get_x();
    spec.non_confirmable = true;
    submit_ok(spec);
    sent();
    core_->on_timer(t0 + 20s - 1ns);
    EXPECT_FALSE(core_->pop_completion());
    core_->on_timer(t0 + 20s);
    EXPECT_EQ(error_of(completion()), ClientError::timeout);
    EXPECT_TRUE(sent().empty());
}

TEST_F(ClientCoreTest, NonRequestMayGetAConResponse) {
    make();
    RequestSpec spec = get_x();
    spec.non_confirmable = true;
    submit_ok(spec);
    ByteVector request = one_sent();
    receive(separate(request, MessageType::con, 0x6100).payload("con").wire());
    EXPECT_EQ(one_sent(), empty_message(MessageType::ack, 0x6100));
    EXPECT_EQ(text_of(completion()), "con");
}

TEST_F(ClientCoreTest, NonRequestRejectedWithResetFailsWithReset) {
    // §4.4: a Reset matches a CON or NON message by its Message ID.
    make();
    RequestSpec spec = get_x();
    spec.non_confirmable = true;
    RequestHandle handle = submit_ok(spec);
    ByteVector request = one_sent();
    receive(empty_message(MessageType::rst, mid_of(request)), t0 + 10ms);
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    EXPECT_EQ(error_of(c), ClientError::reset);
    EXPECT_FALSE(core_->next_deadline());
}

}  // namespace
}  // namespace coap::detail
