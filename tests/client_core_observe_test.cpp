// The client engine with injected time: observation (RFC 7641): registration, notification
// order, ending and cancelling an observation, and NSTART for deregistrations.
#include <gtest/gtest.h>

#include <string>

#include "support/client_core_fixture.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using namespace client_test;

// --- RFC 7641: observation ----------------------------------------------------------------------

TEST_F(ClientObserveTest, RegistrationCarriesObserveZeroAndNotificationsArrive) {
    make();
    auto id = core_->observe(get_x(), t0);
    ASSERT_TRUE(id);
    ByteVector request = one_sent();
    EXPECT_EQ(option_of(request, OptionNumber::observe), ByteVector{}) << "Observe = 0";
    EXPECT_EQ(view(request).code(), Code::get);
    receive(piggyback(request).observe(5).payload("v5").wire());
    EXPECT_FALSE(core_->pop_completion()) << "notifications are not completions";
    Notification n = notification(*id);
    EXPECT_FALSE(n.last);
    EXPECT_EQ(text(n), "v5");
    EXPECT_TRUE(core_->observation_open(*id));
    EXPECT_FALSE(core_->pop_notification(*id));
    EXPECT_FALSE(core_->next_deadline()) << "an established observation has no timer";

    receive(notify(request, MessageType::con, 0x7000, 6), t0 + 1s);
    EXPECT_EQ(one_sent(), empty_message(MessageType::ack, 0x7000));
    EXPECT_EQ(text(notification(*id)), "v6");
    receive(notify(request, MessageType::non, 0x7001, 7), t0 + 2s);
    EXPECT_TRUE(sent().empty());
    EXPECT_EQ(text(notification(*id)), "v7");
    EXPECT_TRUE(core_->observation_open(*id));
}

TEST_F(ClientObserveTest, ReorderedOlderNotificationIsDropped) {
    make();
    RequestHandle id = 0;
    ByteVector request = registered(id, 10);
    receive(notify(request, MessageType::non, 0x10, 12), t0 + 1s);
    receive(notify(request, MessageType::non, 0x11, 11), t0 + 2s);  // sent before 12
    receive(notify(request, MessageType::con, 0x12, 12), t0 + 3s);  // same number again
    EXPECT_EQ(one_sent(), empty_message(MessageType::ack, 0x12)) << "still acknowledged";
    EXPECT_EQ(text(notification(id)), "v12");
    EXPECT_FALSE(core_->pop_notification(id));
    receive(notify(request, MessageType::non, 0x13, 13), t0 + 4s);
    EXPECT_EQ(text(notification(id)), "v13");
}

TEST_F(ClientObserveTest, SequenceNumbersWrapAt24Bits) {
    make();
    RequestHandle id = 0;
    ByteVector request = registered(id, 0xfffff0);
    receive(notify(request, MessageType::non, 0x20, 0x000002), t0 + 1s);  // wrapped: newer
    EXPECT_EQ(text(notification(id)), "v2");
    receive(notify(request, MessageType::non, 0x21, 0xfffff5), t0 + 2s);  // before the wrap
    EXPECT_FALSE(core_->pop_notification(id));
    receive(notify(request, MessageType::non, 0x22, 0x7fffff), t0 + 3s);  // 2^23 - 3 ahead
    EXPECT_EQ(text(notification(id)), "v8388607");
    receive(notify(request, MessageType::non, 0x23, 0xffffff), t0 + 4s);  // exactly 2^23 ahead
    EXPECT_FALSE(core_->pop_notification(id));
}

TEST_F(ClientObserveTest, AfterOneHundredTwentyEightSecondsAnyNotificationIsFresher) {
    make();
    RequestHandle id = 0;
    ByteVector request = registered(id, 100);
    receive(notify(request, MessageType::non, 0x30, 50), t0 + 128s);  // not yet
    EXPECT_FALSE(core_->pop_notification(id));
    receive(notify(request, MessageType::non, 0x31, 50), t0 + 128s + 1ms);
    EXPECT_EQ(text(notification(id)), "v50");
    receive(notify(request, MessageType::non, 0x32, 49), t0 + 129s);  // 50 is the new reference
    EXPECT_FALSE(core_->pop_notification(id));
}

TEST_F(ClientObserveTest, NonSuccessEndsTheObservationAndLaterNotificationsGetReset) {
    make();
    RequestHandle id = 0;
    ByteVector request = registered(id);
    receive(separate(request, MessageType::con, 0x40, Code::not_found).payload("gone").wire(),
            t0 + 1s);
    EXPECT_EQ(one_sent(), empty_message(MessageType::ack, 0x40));
    Notification n = notification(id);
    EXPECT_TRUE(n.last);
    ASSERT_TRUE(n.result);
    EXPECT_EQ(n.result->code(), Code::not_found);
    EXPECT_FALSE(core_->observation_open(id));
    EXPECT_EQ(core_->active(), 0u);
    receive(notify(request, MessageType::con, 0x41, 9), t0 + 2s);
    EXPECT_EQ(one_sent(), empty_message(MessageType::rst, 0x41));
    receive(notify(request, MessageType::non, 0x42, 10), t0 + 3s);
    EXPECT_EQ(one_sent(), empty_message(MessageType::rst, 0x42));
    EXPECT_FALSE(core_->pop_notification(id));
}

TEST_F(ClientObserveTest, ResponseWithoutObserveEndsTheObservation) {
    make();
    auto id = core_->observe(get_x(), t0);
    ASSERT_TRUE(id);
    receive(piggyback(one_sent()).payload("plain").wire());
    Notification n = notification(*id);
    EXPECT_TRUE(n.last);
    EXPECT_EQ(text(n), "plain");
    EXPECT_FALSE(core_->observation_open(*id));
}

TEST_F(ClientObserveTest, CancelSendsObserveOneOnTheSameTokenAndItsAnswerEnds) {
    make();
    RequestHandle id = 0;
    ByteVector registration = registered(id);
    ASSERT_TRUE(core_->cancel_observation(id, t0 + 5s));
    ByteVector cancel = one_sent();
    EXPECT_EQ(view(cancel).type(), MessageType::con);
    EXPECT_EQ(view(cancel).code(), Code::get);
    EXPECT_EQ(token_of(cancel), token_of(registration));
    EXPECT_NE(mid_of(cancel), mid_of(registration));
    EXPECT_EQ(view(cancel).find_uint(OptionNumber::observe), 1u);
    EXPECT_EQ(options_of(cancel, {OptionNumber::observe}),
              options_of(registration, {OptionNumber::observe}));
    EXPECT_FALSE(core_->pop_notification(id));
    receive(piggyback(cancel).payload("final").wire(), t0 + 6s);
    Notification n = notification(id);
    EXPECT_TRUE(n.last);
    EXPECT_EQ(text(n), "final");
    EXPECT_FALSE(core_->observation_open(id));
    EXPECT_FALSE(core_->cancel_observation(id, t0 + 7s));
    EXPECT_EQ(core_->active(), 0u);
    receive(notify(registration, MessageType::con, 0x50, 8), t0 + 8s);
    EXPECT_EQ(one_sent(), empty_message(MessageType::rst, 0x50));
}

TEST_F(ClientObserveTest, CancelBeforeTheRegistrationIsAnsweredLeavesNothingBehind) {
    make();
    auto id = core_->observe(get_x(), t0);
    ASSERT_TRUE(id);
    ByteVector registration = one_sent();
    EXPECT_TRUE(core_->cancel_observation(*id, t0 + 1s)) << "the registration is in flight";
    receive(piggyback(registration).observe(3).payload("v3").wire(), t0 + 2s);
    Notification n = notification(*id);
    EXPECT_TRUE(n.last) << "the registration's answer ends the cancelled observation";
    EXPECT_FALSE(core_->observation_open(*id));
    EXPECT_EQ(core_->active(), 0u);
    // The server did register us: its notifications are rejected (RFC 7641 §3.6).
    receive(notify(registration, MessageType::con, 0x60, 4), t0 + 3s);
    EXPECT_EQ(one_sent(), empty_message(MessageType::rst, 0x60));
    EXPECT_FALSE(core_->pop_notification(*id));
}

TEST_F(ClientObserveTest, CancelOfAQueuedRegistrationDropsIt) {
    make();
    submit_ok(get_x());  // holds NSTART
    auto id = core_->observe(get_x(), t0);
    ASSERT_TRUE(id);
    EXPECT_EQ(sent().size(), 1u);
    EXPECT_FALSE(core_->cancel_observation(*id, t0)) << "never sent: nothing to deregister";
    EXPECT_FALSE(core_->observation_open(*id));
    EXPECT_EQ(core_->active(), 1u);
}

TEST_F(ClientObserveTest, EstablishedObservationsDoNotCountAgainstNstart) {
    config_.max_in_flight = 2;
    make();
    RequestHandle id = 0;
    registered(id);
    submit_ok(get_x());
    submit_ok(get_x());
    EXPECT_EQ(sent().size(), 2u) << "the observation does not take a max_in_flight slot";
    submit_ok(get_x());
    EXPECT_TRUE(sent().empty()) << "max_in_flight = 2 is taken by the two GETs";
}

// RFC 7252 §4.7: the deregistration is one more request; with max_in_flight requests in
// flight it waits for a slot (regression: fuzz/regressions/client_datagram/).
TEST_F(ClientObserveTest, DeregistrationWaitsForNstart) {
    config_.max_in_flight = 2;
    make();
    RequestHandle id = 0;
    ByteVector registration = registered(id);
    submit_ok(get_x());
    submit_ok(get_x());
    auto requests = sent();
    ASSERT_EQ(requests.size(), 2u);
    ASSERT_TRUE(core_->cancel_observation(id, t0 + 1s));
    EXPECT_TRUE(sent().empty()) << "both max_in_flight slots are taken";
    EXPECT_TRUE(core_->cancel_observation(id, t0 + 1s)) << "still being cancelled";
    EXPECT_TRUE(sent().empty());
    receive(piggyback(requests[0]).payload("a").wire(), t0 + 2s);
    ByteVector cancel = one_sent();
    EXPECT_EQ(token_of(cancel), token_of(registration));
    EXPECT_EQ(view(cancel).find_uint(OptionNumber::observe), 1u);
    receive(piggyback(cancel).payload("final").wire(), t0 + 3s);
    EXPECT_TRUE(notification(id).last);
    EXPECT_FALSE(core_->observation_open(id));
    EXPECT_EQ(core_->active(), 1u) << "the second GET";
}

TEST_F(ClientObserveTest, NotificationBeforeAWaitingDeregistrationEndsTheObservation) {
    config_.max_in_flight = 1;
    make();
    RequestHandle id = 0;
    ByteVector registration = registered(id);
    RequestHandle get = submit_ok(get_x());
    ByteVector request = one_sent();
    ASSERT_TRUE(core_->cancel_observation(id, t0 + 1s));
    EXPECT_TRUE(sent().empty());
    receive(notify(registration, MessageType::non, 0x70, 6), t0 + 2s);
    Notification n = notification(id);
    EXPECT_TRUE(n.last);
    EXPECT_EQ(text(n), "v6");
    EXPECT_FALSE(core_->observation_open(id));
    receive(piggyback(request).payload("a").wire(), t0 + 3s);
    EXPECT_EQ(completion().handle, get);
    EXPECT_TRUE(sent().empty()) << "nothing left to deregister";
    EXPECT_EQ(core_->active(), 0u);
}

TEST_F(ClientObserveTest, RegistrationFailuresEndTheObservation) {
    make();
    auto id = core_->observe(get_x(), t0);
    ASSERT_TRUE(id);
    receive(empty_message(MessageType::rst, mid_of(one_sent())));
    Notification n = notification(*id);
    EXPECT_TRUE(n.last);
    ASSERT_FALSE(n.result);
    EXPECT_EQ(n.result.error(), ClientError::reset);

    id = core_->observe(get_x(), t0);
    ASSERT_TRUE(id);
    sent();
    while (core_->next_deadline())
        core_->on_timer(*core_->next_deadline());
    n = notification(*id);
    EXPECT_TRUE(n.last);
    ASSERT_FALSE(n.result);
    EXPECT_EQ(n.result.error(), ClientError::timeout);
    EXPECT_FALSE(core_->pop_completion());
}

TEST_F(ClientObserveTest, UnansweredDeregistrationTimesOut) {
    make();
    RequestHandle id = 0;
    registered(id);
    ASSERT_TRUE(core_->cancel_observation(id, t0 + 1s));
    sent();
    while (core_->next_deadline())
        core_->on_timer(*core_->next_deadline());
    Notification n = notification(id);
    EXPECT_TRUE(n.last);
    ASSERT_FALSE(n.result);
    EXPECT_EQ(n.result.error(), ClientError::timeout);
    EXPECT_FALSE(core_->observation_open(id));
}

}  // namespace
}  // namespace coap::detail
