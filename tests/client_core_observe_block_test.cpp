// The client engine with injected time: block-wise notifications (RFC 7959 §2.6, RFC 7641):
// follow-up GETs for the later blocks, ETag checks and failures while fetching.
#include <gtest/gtest.h>

#include "support/client_core_fixture.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using namespace client_test;

// --- RFC 7959 §2.6: block-wise notifications ----------------------------------------------------

class ClientObserveBlockTest : public ClientObserveTest {
  protected:
    // Block `num` of `body` as the server would send it, with `etag` if not empty.
    static Msg with_block(Msg reply, const ByteVector& body, std::uint32_t num, ByteVector etag,
                          std::uint8_t szx = 6) {
        std::size_t size = 16u << szx;
        bool more = (num + 1) * size < body.size();
        if (!etag.empty()) reply.etag(std::move(etag));
        reply.block(OptionNumber::block2, num, more, szx).payload(slice(body, num * size, size));
        return reply;
    }
    // A notification (Observe `sequence`) carrying the first block of `body`.
    static ByteVector first_block(const ByteVector& registration, MessageType type,
                                  std::uint16_t id, std::uint32_t sequence, const ByteVector& body,
                                  ByteVector etag) {
        return with_block(separate(registration, type, id).observe(sequence), body, 0,
                          std::move(etag))
            .wire();
    }
    // Answers the follow-up GET `request` (piggybacked) with the block it asks for.
    void answer(const ByteVector& request, const ByteVector& body, ByteVector etag,
                TimePoint now = t0) {
        auto block = block_of(request, OptionNumber::block2);
        ASSERT_TRUE(block) << "a follow-up GET carries Block2";
        receive(
            with_block(piggyback(request), body, block->num, std::move(etag), block->szx).wire(),
            now);
    }
    // Answers follow-up GETs until none is sent.
    void answer_all(const ByteVector& body, ByteVector etag, TimePoint now = t0) {
        for (auto out = sent(); !out.empty(); out = sent())
            answer(out.back(), body, etag, now);
    }
    static ByteVector payload(const Notification& n) {
        EXPECT_TRUE(n.result);
        if (!n.result) return {};
        return ByteVector(n.result->payload().begin(), n.result->payload().end());
    }
};

TEST_F(ClientObserveBlockTest, ThreeBlockNotificationIsDeliveredOnceAndWhole) {
    make();
    RequestHandle id = 0;
    ByteVector registration = registered(id, 5);
    ByteVector body = body_of_size(3000, 1);
    receive(first_block(registration, MessageType::con, 0x7100, 6, body, bytes({0xe1})), t0 + 1s);
    std::vector<ByteVector> out = sent();
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0], empty_message(MessageType::ack, 0x7100));
    ByteVector get1 = out[1];
    EXPECT_EQ(view(get1).type(), MessageType::con);
    EXPECT_EQ(view(get1).code(), Code::get);
    EXPECT_NE(token_of(get1), token_of(registration)) << "RFC 7959 §3.4: not the observation's";
    EXPECT_FALSE(view(get1).has(OptionNumber::observe));
    EXPECT_EQ(block_of(get1, OptionNumber::block2), (BlockValue{1, false, 6}));
    EXPECT_EQ(options_of(get1, {OptionNumber::block2}),
              options_of(registration, {OptionNumber::observe}))
        << "the registration's options, less Observe";
    EXPECT_TRUE(view(get1).payload().empty());
    EXPECT_FALSE(core_->pop_notification(id)) << "nothing until the representation is whole";

    answer(get1, body, bytes({0xe1}), t0 + 1s);
    ByteVector get2 = one_sent();
    EXPECT_EQ(token_of(get2), token_of(get1)) << "one token for the blocks of one notification";
    EXPECT_NE(mid_of(get2), mid_of(get1));
    EXPECT_EQ(block_of(get2, OptionNumber::block2), (BlockValue{2, false, 6}));
    EXPECT_FALSE(core_->pop_notification(id));
    answer(get2, body, bytes({0xe1}), t0 + 1s);
    EXPECT_TRUE(sent().empty());

    Notification n = notification(id);
    EXPECT_FALSE(n.last);
    EXPECT_EQ(payload(n), body);
    ASSERT_TRUE(n.result);
    const MessageView& message = n.result->message();
    EXPECT_EQ(message.code(), Code::content);
    EXPECT_EQ(message.find_uint(OptionNumber::observe), 6u) << "the notification's Observe";
    auto etag = message.find(OptionNumber::etag);
    ASSERT_TRUE(etag);
    EXPECT_EQ(ByteVector(etag->value.begin(), etag->value.end()), bytes({0xe1}));
    EXPECT_FALSE(message.has(OptionNumber::block2)) << "one whole representation";
    EXPECT_EQ(message.payload().size(), body.size()) << "message() holds the whole body too";
    EXPECT_EQ(ByteVector(message.token().begin(), message.token().end()), token_of(registration));
    EXPECT_FALSE(core_->pop_notification(id)) << "delivered once";
    EXPECT_FALSE(core_->pop_completion()) << "follow-ups are not completions";
    EXPECT_FALSE(core_->next_deadline());
    EXPECT_EQ(core_->active(), 1u);

    receive(notify(registration, MessageType::non, 0x7101, 7), t0 + 2s);
    EXPECT_EQ(text(notification(id)), "v7") << "the observation goes on";
    EXPECT_EQ(core_->notifications_abandoned(), 0u);
}

TEST_F(ClientObserveBlockTest, WholeNotificationCopiesIntoACallersBuffer) {
    make();
    RequestHandle id = 0;
    ByteVector registration = registered(id, 5);
    ByteVector body = body_of_size(2500, 2);
    for (std::uint32_t sequence : {6u, 7u}) {
        receive(first_block(registration, MessageType::non,
                            static_cast<std::uint16_t>(0x7150 + sequence), sequence, body,
                            bytes({0x0b})));
        answer_all(body, bytes({0x0b}));
    }
    std::vector<std::uint8_t> small(1280), large(4096);
    auto copy = core_->pop_notification_into(id, small);
    ASSERT_TRUE(copy);
    EXPECT_FALSE(copy->last);
    ASSERT_FALSE(copy->length) << "2500 bytes do not fit 1280";
    EXPECT_EQ(copy->length.error(), ClientError::too_large);
    copy = core_->pop_notification_into(id, large);
    ASSERT_TRUE(copy && copy->length);
    auto message = parse(Bytes(large.data(), *copy->length));
    ASSERT_TRUE(message);
    EXPECT_EQ(message->find_uint(OptionNumber::observe), 7u);
    EXPECT_EQ(ByteVector(message->payload().begin(), message->payload().end()), body);
    EXPECT_FALSE(message->has(OptionNumber::block2));
}

TEST_F(ClientObserveBlockTest, EtagChangeMidFetchDropsTheNotificationForTheNewerOne) {
    make();
    RequestHandle id = 0;
    ByteVector registration = registered(id, 5);
    ByteVector old_body = body_of_size(3000, 1), new_body = body_of_size(2500, 2);
    receive(first_block(registration, MessageType::non, 0x7200, 6, old_body, bytes({1})));
    ByteVector get1 = one_sent();
    answer(get1, new_body, bytes({2}));  // the resource changed after notification 6
    EXPECT_TRUE(sent().empty()) << "no further block of a representation that is gone";
    EXPECT_FALSE(core_->pop_notification(id));
    EXPECT_EQ(core_->notifications_abandoned(), 1u);
    EXPECT_FALSE(core_->next_deadline());
    EXPECT_TRUE(core_->observation_open(id)) << "the observation goes on";

    // The server notifies the change: that representation is fetched, once.
    receive(first_block(registration, MessageType::non, 0x7201, 7, new_body, bytes({2})));
    ByteVector get = one_sent();
    EXPECT_NE(token_of(get), token_of(get1)) << "a fresh token for each notification";
    EXPECT_EQ(block_of(get, OptionNumber::block2), (BlockValue{1, false, 6}));
    answer(get, new_body, bytes({2}));
    answer_all(new_body, bytes({2}));
    Notification n = notification(id);
    EXPECT_EQ(payload(n), new_body);
    EXPECT_EQ(n.result->message().find_uint(OptionNumber::observe), 7u);
    EXPECT_FALSE(core_->pop_notification(id));
}

TEST_F(ClientObserveBlockTest, NewerNotificationMidFetchAbandonsTheOlderOne) {
    config_.ack_random_factor = 1.0;  // initial timeouts of exactly 2 s
    make();
    RequestHandle id = 0;
    ByteVector registration = registered(id, 5);
    ByteVector body6 = body_of_size(3000, 6), body7 = body_of_size(2100, 7);
    receive(first_block(registration, MessageType::con, 0x7300, 6, body6, bytes({6})), t0 + 1s);
    ByteVector get6 = sent().back();
    // A stale notification (RFC 7641 §3.4) changes nothing.
    receive(first_block(registration, MessageType::non, 0x7301, 5, body6, bytes({5})), t0 + 1200ms);
    EXPECT_TRUE(sent().empty());
    EXPECT_EQ(core_->notifications_abandoned(), 0u);

    receive(first_block(registration, MessageType::non, 0x7302, 7, body7, bytes({7})), t0 + 1500ms);
    ByteVector get7 = one_sent();
    EXPECT_NE(token_of(get7), token_of(get6));
    EXPECT_EQ(block_of(get7, OptionNumber::block2), (BlockValue{1, false, 6}));
    EXPECT_EQ(core_->notifications_abandoned(), 1u);
    // Only the new fetch is retransmitted.
    core_->on_timer(t0 + 3s);
    EXPECT_TRUE(sent().empty()) << "the abandoned GET is not retransmitted";
    core_->on_timer(t0 + 3500ms);
    EXPECT_EQ(one_sent(), get7);
    // Late answers to the abandoned GET: a piggybacked one is ignored, a separate one rejected.
    answer(get6, body6, bytes({6}), t0 + 3600ms);
    EXPECT_TRUE(sent().empty());
    receive(with_block(separate(get6, MessageType::con, 0x7303), body6, 1, bytes({6})).wire(),
            t0 + 3700ms);
    EXPECT_EQ(one_sent(), empty_message(MessageType::rst, 0x7303));
    EXPECT_FALSE(core_->pop_notification(id));

    answer(get7, body7, bytes({7}), t0 + 4s);
    answer_all(body7, bytes({7}), t0 + 4s);
    Notification n = notification(id);
    EXPECT_EQ(payload(n), body7);
    EXPECT_EQ(n.result->message().find_uint(OptionNumber::observe), 7u);
    EXPECT_FALSE(core_->pop_notification(id)) << "notification 6 is never delivered";
}

TEST_F(ClientObserveBlockTest, LostFollowUpGetIsRetransmittedAndSeparateAnswersWork) {
    config_.ack_random_factor = 1.0;
    make();
    RequestHandle id = 0;
    ByteVector registration = registered(id, 5);
    ByteVector body = body_of_size(3000, 3);
    receive(first_block(registration, MessageType::non, 0x7400, 6, body, bytes({1})), t0 + 1s);
    ByteVector get1 = one_sent();
    EXPECT_EQ(core_->next_deadline(), t0 + 3s);
    core_->on_timer(t0 + 3s);
    EXPECT_EQ(one_sent(), get1) << "the same Message ID and token";
    receive(empty_message(MessageType::ack, mid_of(get1)), t0 + 3100ms);
    ByteVector block1 =
        with_block(separate(get1, MessageType::con, 0x7401), body, 1, bytes({1})).wire();
    receive(block1, t0 + 4s);
    std::vector<ByteVector> out = sent();
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0], empty_message(MessageType::ack, 0x7401));
    ByteVector get2 = out[1];
    EXPECT_EQ(block_of(get2, OptionNumber::block2), (BlockValue{2, false, 6}));
    receive(block1, t0 + 5s);  // our ACK was lost: acknowledged again, not processed again
    EXPECT_EQ(one_sent(), empty_message(MessageType::ack, 0x7401));
    answer(get2, body, bytes({1}), t0 + 5s);
    EXPECT_EQ(payload(notification(id)), body);
}

TEST_F(ClientObserveBlockTest, FollowUpFailuresEndTheObservation) {
    ByteVector body = body_of_size(3000, 4);
    {  // No ACK to a follow-up GET: the server is gone.
        make();
        RequestHandle id = 0;
        ByteVector registration = registered(id, 5);
        receive(first_block(registration, MessageType::non, 0x7500, 6, body, bytes({1})));
        while (core_->next_deadline())
            core_->on_timer(*core_->next_deadline());
        EXPECT_EQ(sent().size(), 5u) << "the follow-up GET and its 4 retransmissions";
        Notification n = notification(id);
        EXPECT_TRUE(n.last);
        ASSERT_FALSE(n.result);
        EXPECT_EQ(n.result.error(), ClientError::timeout);
        EXPECT_FALSE(core_->observation_open(id));
        EXPECT_EQ(core_->active(), 0u);
        receive(notify(registration, MessageType::con, 0x7501, 7), t0 + 200s);
        EXPECT_EQ(one_sent(), empty_message(MessageType::rst, 0x7501)) << "RFC 7641 §3.6";
    }
    {  // A block out of order is inconsistent, as in any Block2 transfer.
        make();
        RequestHandle id = 0;
        ByteVector registration = registered(id, 5);
        receive(first_block(registration, MessageType::non, 0x7520, 6, body, bytes({1})));
        receive(with_block(piggyback(one_sent()), body, 2, bytes({1})).wire());
        Notification n = notification(id);
        EXPECT_TRUE(n.last);
        ASSERT_FALSE(n.result);
        EXPECT_EQ(n.result.error(), ClientError::inconsistent_blocks);
    }
}

TEST_F(ClientObserveBlockTest, ErrorAnswerToAFollowUpDropsOnlyThatNotification) {
    // Notifications end the observation (RFC 7641 §3.2), not the answers to follow-up GETs: a
    // representation that shrank under the client (4.02 for a block past its end), or a busy
    // server, costs the one notification.
    make();
    RequestHandle id = 0;
    ByteVector registration = registered(id, 5);
    ByteVector body = body_of_size(3000, 4);
    std::uint32_t sequence = 6;
    for (Code code : {Code::bad_option, Code::service_unavailable, Code::not_found}) {
        receive(first_block(registration, MessageType::non,
                            static_cast<std::uint16_t>(0x7510 + sequence), sequence, body,
                            bytes({1})));
        ++sequence;
        receive(piggyback(one_sent(), code).payload("no").wire());
        EXPECT_FALSE(core_->pop_notification(id));
        EXPECT_TRUE(core_->observation_open(id));
        EXPECT_FALSE(core_->next_deadline());
    }
    EXPECT_EQ(core_->notifications_abandoned(), 3u);
    receive(notify(registration, MessageType::non, 0x7520, sequence));
    EXPECT_EQ(text(notification(id)), "v9") << "still observing";
    // The resource is gone: the server says so in a notification, which ends the observation.
    receive(separate(registration, MessageType::non, 0x7521, Code::not_found).wire());
    EXPECT_TRUE(notification(id).last);

    // The final response of a server that does not observe is handed over like any GET's.
    auto final_id = core_->observe(get_x(), t0);
    ASSERT_TRUE(final_id);
    ByteVector request = one_sent();
    receive(with_block(piggyback(request), body, 0, bytes({1})).wire());
    receive(piggyback(one_sent(), Code::not_found).payload("gone").wire());
    Notification n = notification(*final_id);
    EXPECT_TRUE(n.last);
    ASSERT_TRUE(n.result);
    EXPECT_EQ(n.result->code(), Code::not_found);
    EXPECT_EQ(n.result->text(), "gone");
}

TEST_F(ClientObserveBlockTest, RepresentationAboveMaxBodySizeEndsTheObservationTooLarge) {
    ByteVector body = body_of_size(3000, 5);
    for (std::size_t limit : {std::size_t{2000}, std::size_t{1000}}) {
        config_.max_body_size = limit;  // 2000: fails at block 1; 1000: at the first block
        make();
        RequestHandle id = 0;
        ByteVector registration = registered(id, 5);
        receive(first_block(registration, MessageType::non, 0x7600, 6, body, bytes({1})));
        answer_all(body, bytes({1}));
        Notification n = notification(id);
        EXPECT_TRUE(n.last) << "limit " << limit;
        ASSERT_FALSE(n.result);
        EXPECT_EQ(n.result.error(), ClientError::too_large);
        EXPECT_EQ(core_->active(), 0u);
        EXPECT_FALSE(core_->next_deadline());
        receive(notify(registration, MessageType::non, 0x7601, 7));
        EXPECT_EQ(one_sent(), empty_message(MessageType::rst, 0x7601));
    }
    config_.max_body_size = 3000;  // exactly at the limit is fine
    make();
    RequestHandle id = 0;
    ByteVector registration = registered(id, 5);
    receive(first_block(registration, MessageType::non, 0x7602, 6, body, bytes({1})));
    answer_all(body, bytes({1}));
    EXPECT_EQ(payload(notification(id)), body);
}

TEST_F(ClientObserveBlockTest, RegistrationResponseLargerThanOneBlockIsCompletedFirst) {
    ByteVector body = body_of_size(2600, 8);
    make();
    auto id = core_->observe(get_x(), t0);
    ASSERT_TRUE(id);
    ByteVector registration = one_sent();
    receive(with_block(piggyback(registration).observe(5), body, 0, bytes({9})).wire());
    ByteVector get1 = one_sent();
    EXPECT_NE(token_of(get1), token_of(registration));
    EXPECT_FALSE(view(get1).has(OptionNumber::observe));
    EXPECT_FALSE(core_->pop_notification(*id));
    answer(get1, body, bytes({9}));
    answer_all(body, bytes({9}));
    Notification n = notification(*id);
    EXPECT_FALSE(n.last);
    EXPECT_EQ(payload(n), body);
    EXPECT_EQ(n.result->message().find_uint(OptionNumber::observe), 5u);
    receive(notify(registration, MessageType::non, 0x7700, 6), t0 + 1s);
    EXPECT_EQ(text(notification(*id)), "v6") << "registered";

    // A server that does not observe answers with a plain block-wise response: completed too,
    // and it is the last notification (RFC 7641 §3.2).
    id = core_->observe(get_x(), t0 + 2s);
    ASSERT_TRUE(id);
    registration = one_sent();
    receive(with_block(piggyback(registration), body, 0, bytes({9})).wire(), t0 + 2s);
    answer_all(body, bytes({9}), t0 + 2s);
    n = notification(*id);
    EXPECT_TRUE(n.last);
    EXPECT_EQ(payload(n), body);
    EXPECT_FALSE(core_->observation_open(*id));
    EXPECT_EQ(core_->active(), 1u) << "only the first observation is left";
}

TEST_F(ClientObserveBlockTest, CancelDuringAFetchDeregistersAtOnce) {
    config_.ack_random_factor = 1.0;
    make();
    RequestHandle id = 0;
    ByteVector registration = registered(id, 5);
    ByteVector body = body_of_size(3000, 9);
    receive(first_block(registration, MessageType::non, 0x7800, 6, body, bytes({1})), t0 + 1s);
    ByteVector get1 = one_sent();
    ASSERT_TRUE(core_->cancel_observation(id, t0 + 2s));
    ByteVector cancel = one_sent();
    EXPECT_EQ(token_of(cancel), token_of(registration));
    EXPECT_EQ(view(cancel).find_uint(OptionNumber::observe), 1u);
    EXPECT_FALSE(view(cancel).has(OptionNumber::block2));
    EXPECT_EQ(core_->next_deadline(), t0 + 4s) << "only the deregistration is retransmitted";
    answer(get1, body, bytes({1}), t0 + 2500ms);  // a late block: ignored
    EXPECT_TRUE(sent().empty());
    receive(piggyback(cancel).payload("final").wire(), t0 + 3s);
    Notification n = notification(id);
    EXPECT_TRUE(n.last);
    EXPECT_EQ(text(n), "final");
    EXPECT_EQ(core_->active(), 0u);
}

TEST_F(ClientObserveBlockTest, FollowUpGetsWaitForNstartButGoFirst) {
    config_.max_in_flight = 2;
    make();
    RequestHandle id = 0;
    ByteVector registration = registered(id, 5);
    ByteVector body = body_of_size(2000, 10);
    RequestHandle first = submit_ok(get_x());
    submit_ok(get_x());
    std::vector<ByteVector> plain = sent();
    ASSERT_EQ(plain.size(), 2u);
    receive(first_block(registration, MessageType::non, 0x7900, 6, body, bytes({1})));
    EXPECT_TRUE(sent().empty()) << "max_in_flight = 2 is taken by the GETs";
    RequestHandle third = submit_ok(get_x());
    EXPECT_TRUE(sent().empty());
    receive(piggyback(plain[0]).payload("a").wire());
    EXPECT_EQ(completion().handle, first);
    ByteVector get1 = one_sent();
    EXPECT_EQ(block_of(get1, OptionNumber::block2), (BlockValue{1, false, 6}))
        << "the rest of the notification goes before the queued request";
    answer(get1, body, bytes({1}));
    EXPECT_EQ(payload(notification(id)), body);
    ByteVector queued = one_sent();
    EXPECT_FALSE(view(queued).has(OptionNumber::block2));
    receive(piggyback(queued).payload("c").wire());
    EXPECT_EQ(completion().handle, third);
}

TEST_F(ClientObserveBlockTest, NotificationWithAnUnusableBlockIsIgnored) {
    make();
    RequestHandle id = 0;
    ByteVector registration = registered(id, 5);
    ByteVector body = body_of_size(3000, 11);
    // Block 1 as a notification, and a first block shorter than its size: neither can start a
    // transfer (RFC 7959 §2.2, §2.6).
    receive(
        with_block(separate(registration, MessageType::non, 0x7a00).observe(6), body, 1, bytes({1}))
            .wire());
    receive(separate(registration, MessageType::non, 0x7a01)
                .observe(7)
                .block(OptionNumber::block2, 0, true, 6)
                .payload(slice(body, 0, 100))
                .wire());
    EXPECT_TRUE(sent().empty());
    EXPECT_FALSE(core_->pop_notification(id));
    // A single block (M = 0) is a whole representation.
    receive(separate(registration, MessageType::non, 0x7a02)
                .observe(8)
                .block(OptionNumber::block2, 0, false, 6)
                .payload(slice(body, 0, 500))
                .wire());
    EXPECT_TRUE(sent().empty());
    EXPECT_EQ(payload(notification(id)), slice(body, 0, 500));
}

}  // namespace
}  // namespace coap::detail
