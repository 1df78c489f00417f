// The client engine with injected time: completions copied into a caller's buffer
// (pop_completion_into, take_completion_into: the allocation-free forms behind Client::poll_into
// and Client::call_into), next to the owning forms.
#include <gtest/gtest.h>

#include "support/client_core_fixture.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using namespace client_test;

class ClientCompletionTest : public ClientCoreTest {
  protected:
    // The engine's copy of `handle`'s response, parsed in `buffer_`.
    Expected<MessageView, ClientError> take_into(RequestHandle handle, MutableBytes buffer) {
        auto length = core_->take_completion_into(handle, buffer);
        EXPECT_TRUE(length) << "expected a completion";
        if (!length) return unexpected(ClientError::cancelled);
        if (!*length) return unexpected(length->error());
        auto parsed = parse(Bytes(buffer.data(), **length));
        EXPECT_TRUE(parsed);
        return parsed ? Expected<MessageView, ClientError>(*parsed)
                      : unexpected(ClientError::malformed_response);
    }

    std::array<std::uint8_t, 1280> buffer_{};
};

TEST_F(ClientCompletionTest, ResponseDatagramIsCopiedAsReceived) {
    make();
    RequestHandle handle = submit_ok(get_x());
    ByteVector reply = piggyback(one_sent()).uint(OptionNumber::max_age, 30).payload("22.5").wire();
    receive(reply);
    auto copy = core_->pop_completion_into(buffer_);
    ASSERT_TRUE(copy);
    EXPECT_EQ(copy->handle, handle);
    ASSERT_TRUE(copy->length);
    EXPECT_EQ(ByteVector(buffer_.begin(), buffer_.begin() + *copy->length), reply);
    EXPECT_FALSE(core_->pop_completion_into(buffer_)) << "consumed";
    EXPECT_EQ(core_->queued_completions(), 0u);
}

TEST_F(ClientCompletionTest, TooSmallBufferIsTooLargeAndConsumesTheCompletion) {
    make();
    RequestHandle handle = submit_ok(get_x());
    receive(piggyback(one_sent()).payload(body_of_size(100)).wire());
    std::array<std::uint8_t, 32> small{};
    auto copy = core_->pop_completion_into(small);
    ASSERT_TRUE(copy);
    EXPECT_EQ(copy->handle, handle);
    ASSERT_FALSE(copy->length);
    EXPECT_EQ(copy->length.error(), ClientError::too_large);
    EXPECT_FALSE(core_->pop_completion());
}

TEST_F(ClientCompletionTest, ErrorsComeBackAsTheError) {
    config_.max_retransmit = 1;
    config_.response_timeout = 5s;
    make();
    handshake();
    RequestHandle con = submit_ok(get_x());
    RequestSpec non = get_x();
    non.non_confirmable = true;
    RequestHandle non_handle = submit_ok(non);
    RequestHandle reset = submit_ok(get_x());
    auto requests = sent();
    ASSERT_EQ(requests.size(), 3u);
    receive(empty_message(MessageType::rst, mid_of(requests[2])));  // RFC 7252 §4.2
    // CON: ACK_TIMEOUT x 1.5 at most, doubled once, then given up (§4.2); NON: response_timeout.
    core_->on_timer(t0 + 3s);
    core_->on_timer(t0 + 10s);
    auto timed_out = core_->take_completion_into(con, buffer_);
    ASSERT_TRUE(timed_out);
    ASSERT_FALSE(*timed_out);
    EXPECT_EQ(timed_out->error(), ClientError::timeout);
    auto non_timed_out = take_into(non_handle, buffer_);
    ASSERT_FALSE(non_timed_out);
    EXPECT_EQ(non_timed_out.error(), ClientError::timeout);
    auto was_reset = take_into(reset, buffer_);
    ASSERT_FALSE(was_reset);
    EXPECT_EQ(was_reset.error(), ClientError::reset);
}

TEST_F(ClientCompletionTest, TakingOneHandleKeepsTheOthersInOrder) {
    make();
    handshake();
    std::array<RequestHandle, 4> handles{};
    for (auto& handle : handles)
        handle = submit_ok(get_x());
    auto requests = sent();
    ASSERT_EQ(requests.size(), 4u);
    for (std::size_t i = 0; i < requests.size(); ++i)
        receive(piggyback(requests[i]).payload("r" + std::to_string(i)).wire());
    auto second = take_into(handles[1], buffer_);
    ASSERT_TRUE(second);
    EXPECT_EQ(as_string(second->payload()), "r1");
    for (std::size_t i : {0u, 2u, 3u}) {
        auto copy = core_->pop_completion_into(buffer_);
        ASSERT_TRUE(copy && copy->length);
        EXPECT_EQ(copy->handle, handles[i]);
        EXPECT_EQ(as_string(parse(Bytes(buffer_.data(), *copy->length))->payload()),
                  "r" + std::to_string(i));
    }
}

// RFC 7959 §2.4: the whole body in one datagram, with the last block's header and options
// except Block2.
TEST_F(ClientCompletionTest, Block2ResponseArrivesWholeInTheBuffer) {
    make();
    ByteVector body = body_of_size(2500);
    RequestHandle handle = submit_ok(get_x());
    for (std::uint32_t num = 0; num < 3; ++num) {
        std::size_t offset = num * 1024;
        bool more = offset + 1024 < body.size();
        receive(piggyback(one_sent())
                    .etag(bytes({0xe7}))
                    .uint(OptionNumber::content_format, 42)
                    .block(OptionNumber::block2, num, more, 6)
                    .uint(OptionNumber::size2, 2500)
                    .payload(slice(body, offset, 1024))
                    .wire());
    }
    std::vector<std::uint8_t> large(3000);
    auto whole = take_into(handle, large);
    ASSERT_TRUE(whole);
    EXPECT_EQ(ByteVector(whole->payload().begin(), whole->payload().end()), body);
    EXPECT_EQ(whole->code(), Code::content);
    EXPECT_FALSE(whole->has(OptionNumber::block2));
    EXPECT_EQ(whole->find_uint(OptionNumber::content_format), 42u);
    EXPECT_EQ(whole->find_uint(OptionNumber::size2), 2500u);
    EXPECT_EQ(option_of(ByteVector(whole->datagram().begin(), whole->datagram().end()),
                        OptionNumber::etag),
              bytes({0xe7}));
}

TEST_F(ClientCompletionTest, Block2BodyLargerThanTheBufferIsTooLarge) {
    make();
    ByteVector body = body_of_size(2000);
    RequestHandle handle = submit_ok(get_x());
    receive(piggyback(one_sent())
                .block(OptionNumber::block2, 0, true, 6)
                .payload(slice(body, 0, 1024))
                .wire());
    receive(piggyback(one_sent())
                .block(OptionNumber::block2, 1, false, 6)
                .payload(slice(body, 1024, 1024))
                .wire());
    auto copy = core_->take_completion_into(handle, buffer_);  // 1280 bytes
    ASSERT_TRUE(copy);
    ASSERT_FALSE(*copy);
    EXPECT_EQ(copy->error(), ClientError::too_large);
}

// The owning forms keep their meaning: for a block-wise response, message() is the last block.
TEST_F(ClientCompletionTest, OwningFormsStillCarryTheLastBlockAndTheBody) {
    make();
    ByteVector body = body_of_size(1500);
    submit_ok(get_x());
    receive(piggyback(one_sent())
                .block(OptionNumber::block2, 0, true, 6)
                .payload(slice(body, 0, 1024))
                .wire());
    receive(piggyback(one_sent())
                .block(OptionNumber::block2, 1, false, 6)
                .payload(slice(body, 1024, 1024))
                .wire());
    Completion c = completion();
    ASSERT_TRUE(c.result);
    EXPECT_EQ(ByteVector(c.result->payload().begin(), c.result->payload().end()), body);
    EXPECT_EQ(decode_block(c.result->option(OptionNumber::block2)->value)->num, 1u);
}

// Completions wait in fixed slots: with max_in_flight 2 there are 4, and submit's `busy` keeps
// the requests within them; the slots are reused as they are taken.
TEST_F(ClientCompletionTest, CompletionSlotsAreReusedWithinTheSubmitBound) {
    config_.max_in_flight = 2;
    make();
    handshake();
    for (int round = 0; round < 3; ++round) {
        std::vector<RequestHandle> handles;
        for (int i = 0; i < 4; ++i)
            handles.push_back(submit_ok(get_x()));
        auto refused = submit(get_x());
        ASSERT_FALSE(refused);
        EXPECT_EQ(refused.error(), ClientError::busy);
        for (int answered = 0; answered < 4;)
            for (const ByteVector& request : sent()) {
                receive(piggyback(request).payload("p" + std::to_string(answered++)).wire());
            }
        EXPECT_EQ(core_->queued_completions(), 4u);
        auto still_refused = submit(get_x());
        ASSERT_FALSE(still_refused) << "completions count too";
        EXPECT_EQ(still_refused.error(), ClientError::busy);
        for (int i = 0; i < 4; ++i) {
            auto copy = core_->pop_completion_into(buffer_);
            ASSERT_TRUE(copy && copy->length);
            EXPECT_EQ(copy->handle, handles[static_cast<std::size_t>(i)]);
            EXPECT_EQ(as_string(parse(Bytes(buffer_.data(), *copy->length))->payload()),
                      "p" + std::to_string(i));
        }
    }
}

}  // namespace
}  // namespace coap::detail
