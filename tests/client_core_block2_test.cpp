// The client engine with injected time: block-wise downloads with Block2 (RFC 7959 §2.4).
#include <gtest/gtest.h>

#include "support/client_core_fixture.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using namespace client_test;

// --- RFC 7959 §2.4: Block2 ----------------------------------------------------------------------

class ClientBlock2Test : public ClientCoreTest {
  protected:
    // Answers `request` with block `num` of `body` (piggybacked), with `etag` if not empty.
    void answer_block(const ByteVector& request, const ByteVector& body, std::uint32_t num,
                      std::uint8_t szx, ByteVector etag = bytes({0xe7, 0x01})) {
        std::size_t size = 16u << szx;
        bool more = (num + 1) * size < body.size();
        Msg reply = piggyback(request);
        if (!etag.empty()) reply.etag(etag);
        reply.block(OptionNumber::block2, num, more, szx).payload(slice(body, num * size, size));
        receive(reply.wire());
    }
};

TEST_F(ClientBlock2Test, MultiBlockBodyIsReassembled) {
    make();
    ByteVector body = body_of_size(3000);
    RequestHandle handle = submit_ok(get_x());
    ByteVector request = one_sent();
    EXPECT_FALSE(view(request).has(OptionNumber::block2));
    for (std::uint32_t num = 0; num < 3; ++num) {
        if (num > 0) {
            request = one_sent();
            auto block = block_of(request, OptionNumber::block2);
            ASSERT_TRUE(block);
            EXPECT_EQ(*block, (BlockValue{num, false, 6}));
            EXPECT_EQ(view(request).code(), Code::get);
            EXPECT_EQ(options_of(request, {OptionNumber::block2}), (OptionList{{11, bytes("x")}}))
                << "the same options as the initial request";
            EXPECT_TRUE(view(request).payload().empty());
        }
        EXPECT_FALSE(core_->pop_completion());
        answer_block(request, body, num, 6);
    }
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    ASSERT_TRUE(c.result);
    EXPECT_EQ(ByteVector(c.result->payload().begin(), c.result->payload().end()), body);
    EXPECT_EQ(c.result->code(), Code::content);
    auto last = decode_block(c.result->option(OptionNumber::block2)->value);
    EXPECT_EQ(last->num, 2u) << "message() is the last block";
    EXPECT_TRUE(sent().empty());
    EXPECT_EQ(core_->active(), 0u);
}

TEST_F(ClientBlock2Test, EtagChangeMidTransferFailsCleanly) {
    make();
    ByteVector body = body_of_size(3000);
    RequestHandle handle = submit_ok(get_x());
    answer_block(one_sent(), body, 0, 6, bytes({1}));
    ByteVector second = one_sent();
    answer_block(second, body, 1, 6, bytes({2}));
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    EXPECT_EQ(error_of(c), ClientError::inconsistent_blocks);
    EXPECT_TRUE(sent().empty()) << "no further block is requested";
    EXPECT_FALSE(core_->next_deadline());
    EXPECT_EQ(core_->active(), 0u);
    answer_block(second, body, 1, 6, bytes({1}));  // a late ACK changes nothing
    EXPECT_FALSE(core_->pop_completion());
    EXPECT_TRUE(sent().empty());
}

TEST_F(ClientBlock2Test, EtagAppearingOrDisappearingMidTransferIsInconsistent) {
    ByteVector body = body_of_size(3000);
    for (bool first_has_etag : {true, false}) {
        make();
        submit_ok(get_x());
        answer_block(one_sent(), body, 0, 6, first_has_etag ? bytes({1}) : ByteVector{});
        answer_block(one_sent(), body, 1, 6, first_has_etag ? ByteVector{} : bytes({1}));
        EXPECT_EQ(error_of(completion()), ClientError::inconsistent_blocks);
    }
}

TEST_F(ClientBlock2Test, OutOfOrderOrMissingBlockIsInconsistent) {
    ByteVector body = body_of_size(5000);
    make();
    submit_ok(get_x());
    answer_block(one_sent(), body, 0, 6);
    answer_block(one_sent(), body, 2, 6);  // block 1 asked, block 2 given
    EXPECT_EQ(error_of(completion()), ClientError::inconsistent_blocks);
    EXPECT_TRUE(sent().empty());

    submit_ok(get_x());
    answer_block(one_sent(), body, 1, 6);  // the transfer starts in the middle
    EXPECT_EQ(error_of(completion()), ClientError::inconsistent_blocks);

    submit_ok(get_x());
    answer_block(one_sent(), body, 0, 6);
    answer_block(one_sent(), body, 0, 6);  // block 0 again
    EXPECT_EQ(error_of(completion()), ClientError::inconsistent_blocks);
    EXPECT_EQ(core_->active(), 0u);
}

TEST_F(ClientBlock2Test, BodyOverMaxBodySizeIsTooLarge) {
    config_.max_body_size = 2000;
    make();
    ByteVector body = body_of_size(3000);
    submit_ok(get_x());
    answer_block(one_sent(), body, 0, 6);
    answer_block(one_sent(), body, 1, 6);
    EXPECT_EQ(error_of(completion()), ClientError::too_large);
    EXPECT_TRUE(sent().empty());

    config_.max_body_size = 3000;  // exactly at the limit is fine
    make();
    submit_ok(get_x());
    for (std::uint32_t num = 0; num < 3; ++num)
        answer_block(one_sent(), body, num, 6);
    Completion c = completion();
    ASSERT_TRUE(c.result);
    EXPECT_EQ(c.result->payload().size(), 3000u);
}

TEST_F(ClientBlock2Test, LateNegotiationMovesToTheConfiguredSmallerSize) {
    config_.block_szx = 4;  // 256-byte blocks wanted; the server starts with 1024
    make();
    ByteVector body = body_of_size(3000);
    submit_ok(get_x());
    answer_block(one_sent(), body, 0, 6);
    // 1024 bytes received = 4 blocks of 256: the next one is block 4 of size 256.
    for (std::uint32_t num = 4; num * 256 < body.size(); ++num) {
        ByteVector request = one_sent();
        auto block = block_of(request, OptionNumber::block2);
        ASSERT_TRUE(block);
        EXPECT_EQ(*block, (BlockValue{num, false, 4}));
        answer_block(request, body, num, 4);
    }
    Completion c = completion();
    ASSERT_TRUE(c.result);
    EXPECT_EQ(ByteVector(c.result->payload().begin(), c.result->payload().end()), body);
}

TEST_F(ClientBlock2Test, ErrorResponseMidTransferIsHandedOver) {
    make();
    ByteVector body = body_of_size(3000);
    RequestHandle handle = submit_ok(get_x());
    answer_block(one_sent(), body, 0, 6);
    receive(piggyback(one_sent(), Code::not_found).payload("gone").wire());
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    ASSERT_TRUE(c.result);
    EXPECT_EQ(c.result->code(), Code::not_found);
    EXPECT_EQ(c.result->text(), "gone");

    submit_ok(get_x());
    answer_block(one_sent(), body, 0, 6);
    receive(piggyback(one_sent(), Code::service_unavailable)
                .block(OptionNumber::block2, 1, true, 6)
                .payload("busy")
                .wire());
    c = completion();
    ASSERT_TRUE(c.result);
    EXPECT_EQ(c.result->code(), Code::service_unavailable);
    EXPECT_EQ(c.result->text(), "busy") << "an error is not reassembled";
    EXPECT_TRUE(sent().empty());
}

TEST_F(ClientBlock2Test, SuccessWithoutBlock2MidTransferIsInconsistent) {
    make();
    ByteVector body = body_of_size(3000);
    submit_ok(get_x());
    answer_block(one_sent(), body, 0, 6);
    receive(piggyback(one_sent()).payload("whole?").wire());
    EXPECT_EQ(error_of(completion()), ClientError::inconsistent_blocks);
}

TEST_F(ClientBlock2Test, BlockWithMoreSetMustHaveExactlyTheBlockSize) {
    // RFC 7959 §2.2: the block size implied by SZX must match the payload size if M is set.
    config_.buffer_size = 4096;
    make();
    ByteVector body = body_of_size(5000);
    submit_ok(get_x());
    receive(piggyback(one_sent())
                .block(OptionNumber::block2, 0, true, 6)
                .payload(slice(body, 0, 1000))
                .wire());
    EXPECT_EQ(error_of(completion()), ClientError::inconsistent_blocks) << "short block";
    EXPECT_TRUE(sent().empty());

    submit_ok(get_x());
    receive(piggyback(one_sent())
                .block(OptionNumber::block2, 0, true, 6)
                .payload(slice(body, 0, 2048))
                .wire());
    EXPECT_EQ(error_of(completion()), ClientError::inconsistent_blocks) << "oversized block";
    EXPECT_TRUE(sent().empty());
}

TEST_F(ClientBlock2Test, HugeBlockNumbersFailWithoutOverflow) {
    make();
    for (std::uint8_t szx : {std::uint8_t{0}, std::uint8_t{6}}) {
        submit_ok(get_x());
        receive(piggyback(one_sent())
                    .block(OptionNumber::block2, max_block_num, true, szx)
                    .payload(body_of_size(16u << szx))
                    .wire());
        EXPECT_EQ(error_of(completion()), ClientError::inconsistent_blocks);
    }
    submit_ok(get_x());  // a malformed Block2 value (4 bytes)
    receive(piggyback(one_sent()).opt(OptionNumber::block2, bytes({1, 0, 0, 0x0e})).wire());
    EXPECT_EQ(error_of(completion()), ClientError::malformed_response);
    EXPECT_TRUE(sent().empty());
}

TEST_F(ClientBlock2Test, NonRequestsFetchBlocksWithNonRequests) {
    make();
    ByteVector body = body_of_size(1500);
    RequestSpec spec = get_x();
    spec.non_confirmable = true;
    submit_ok(spec);
    ByteVector request = one_sent();
    receive(separate(request, MessageType::non, 0x100)
                .block(OptionNumber::block2, 0, true, 6)
                .payload(slice(body, 0, 1024))
                .wire());
    request = one_sent();
    EXPECT_EQ(view(request).type(), MessageType::non);
    EXPECT_EQ(*block_of(request, OptionNumber::block2), (BlockValue{1, false, 6}));
    receive(separate(request, MessageType::non, 0x101)
                .block(OptionNumber::block2, 1, false, 6)
                .payload(slice(body, 1024, 1024))
                .wire());
    Completion c = completion();
    ASSERT_TRUE(c.result);
    EXPECT_EQ(ByteVector(c.result->payload().begin(), c.result->payload().end()), body);
}

TEST_F(ClientBlock2Test, DuplicateSeparateBlockResponseIsAcknowledgedNotProcessedAgain) {
    // RFC 7252 §4.5: acknowledge every copy of a CON, but process the response only once. The
    // duplicate carries the same token as the next block's request.
    make();
    ByteVector body = body_of_size(3000);
    RequestHandle handle = submit_ok(get_x());
    ByteVector request = one_sent();
    receive(empty_message(MessageType::ack, mid_of(request)));
    ByteVector block0 = separate(request, MessageType::con, 0x2000)
                            .block(OptionNumber::block2, 0, true, 6)
                            .payload(slice(body, 0, 1024))
                            .wire();
    receive(block0, t0 + 1s);
    std::vector<ByteVector> out = sent();
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0], empty_message(MessageType::ack, 0x2000));
    ByteVector next = out[1];
    receive(block0, t0 + 3s);  // our ACK was lost; the server retransmits
    EXPECT_EQ(one_sent(), empty_message(MessageType::ack, 0x2000));
    EXPECT_FALSE(core_->pop_completion()) << "the duplicate must not break the transfer";
    answer_block(next, body, 1, 6, {});  // block 0 had no ETag either
    answer_block(one_sent(), body, 2, 6, {});
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    ASSERT_TRUE(c.result);
    EXPECT_EQ(ByteVector(c.result->payload().begin(), c.result->payload().end()), body);
}

TEST_F(ClientBlock2Test, DuplicateNonBlockResponseIsIgnored) {
    // RFC 7252 §4.5: a duplicated NON is silently ignored.
    make();
    ByteVector body = body_of_size(2000);
    RequestSpec spec = get_x();
    spec.non_confirmable = true;
    submit_ok(spec);
    ByteVector request = one_sent();
    ByteVector block0 = separate(request, MessageType::non, 0x300)
                            .block(OptionNumber::block2, 0, true, 6)
                            .payload(slice(body, 0, 1024))
                            .wire();
    receive(block0);
    ByteVector next = one_sent();
    receive(block0);  // duplicated by the network
    EXPECT_TRUE(sent().empty());
    EXPECT_FALSE(core_->pop_completion());
    receive(separate(next, MessageType::non, 0x301)
                .block(OptionNumber::block2, 1, false, 6)
                .payload(slice(body, 1024, 1024))
                .wire());
    Completion c = completion();
    ASSERT_TRUE(c.result);
    EXPECT_EQ(c.result->payload().size(), 2000u);
}

}  // namespace
}  // namespace coap::detail
