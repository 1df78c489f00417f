// The client engine with injected time: block-wise uploads with Block1 (RFC 7959 §2.5).
#include <gtest/gtest.h>

#include "support/client_core_fixture.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using namespace client_test;

// --- RFC 7959 §2.5: Block1 ----------------------------------------------------------------------

class ClientBlock1Test : public ClientCoreTest {
  protected:
    RequestSpec post(const ByteVector& body) const {
        return RequestSpec{Code::post, path_x_, body, false};
    }
    void expect_block(const ByteVector& request, const ByteVector& body, BlockValue expected,
                      std::size_t offset) {
        auto block = block_of(request, OptionNumber::block1);
        ASSERT_TRUE(block);
        EXPECT_EQ(*block, expected);
        EXPECT_EQ(payload_of(request), slice(body, offset, expected.size()));
        EXPECT_EQ(view(request).code(), Code::post);
        EXPECT_EQ(view(request).count(OptionNumber::uri_path), 1u);
    }
    void continue_(const ByteVector& request, std::uint32_t num, std::uint8_t szx) {
        receive(
            piggyback(request, Code::continue_).block(OptionNumber::block1, num, true, szx).wire());
    }
};

TEST_F(ClientBlock1Test, ConcurrentUploadsToOneResourceAreToldApartByRequestTag) {
    // RFC 9175 §3.4: the second upload to the same resource carries a Request-Tag.
    make();
    ByteVector body = body_of_size(2500);
    submit_ok(post(body));
    ByteVector first = one_sent();
    EXPECT_FALSE(view(first).has(OptionNumber::request_tag)) << "alone: no tag needed";
    continue_(first, 0, 6);  // the server has answered: NSTART opens
    ByteVector first_next = one_sent();
    EXPECT_FALSE(view(first_next).has(OptionNumber::request_tag));

    submit_ok(post(body));
    ByteVector second = one_sent();
    auto tag = view(second).find(OptionNumber::request_tag);
    ASSERT_TRUE(tag) << "overlapping upload to the same resource";
    EXPECT_EQ(tag->value.size(), 4u);
    continue_(second, 0, 6);
    ByteVector second_next = one_sent();
    auto same_tag = view(second_next).find(OptionNumber::request_tag);
    ASSERT_TRUE(same_tag) << "every block of the upload carries it";
    EXPECT_TRUE(std::ranges::equal(same_tag->value, tag->value));
}

TEST_F(ClientBlock1Test, UploadSendsBlocksWithSize1OnTheFirst) {
    make();
    ByteVector body = body_of_size(2500);
    RequestHandle handle = submit_ok(post(body));
    ByteVector request = one_sent();
    expect_block(request, body, {0, true, 6}, 0);
    EXPECT_EQ(view(request).find_uint(OptionNumber::size1), 2500u);
    continue_(request, 0, 6);

    request = one_sent();
    expect_block(request, body, {1, true, 6}, 1024);
    EXPECT_FALSE(view(request).has(OptionNumber::size1));
    continue_(request, 1, 6);

    request = one_sent();
    expect_block(request, body, {2, false, 6}, 2048);
    EXPECT_EQ(payload_of(request).size(), 452u);
    EXPECT_FALSE(core_->pop_completion());
    receive(piggyback(request, Code::changed).block(OptionNumber::block1, 2, false, 6).wire());
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    ASSERT_TRUE(c.result);
    EXPECT_EQ(c.result->code(), Code::changed);
    EXPECT_TRUE(sent().empty());
}

TEST_F(ClientBlock1Test, BodyOfExactlyOneBlockIsSentWhole) {
    make();
    submit_ok(post(body_of_size(1024)));
    ByteVector request = one_sent();
    EXPECT_FALSE(view(request).has(OptionNumber::block1));
    EXPECT_EQ(payload_of(request).size(), 1024u);
    submit_ok(post(body_of_size(1025)));
    receive(piggyback(request, Code::changed).wire());
    ASSERT_TRUE(core_->pop_completion());
    EXPECT_TRUE(block_of(one_sent(), OptionNumber::block1));
}

TEST_F(ClientBlock1Test, ServerAskingForSmallerBlocksIsHeeded) {
    config_.block_szx = 3;  // 128-byte blocks
    make();
    ByteVector body = body_of_size(400);
    submit_ok(post(body));
    ByteVector request = one_sent();
    expect_block(request, body, {0, true, 3}, 0);
    continue_(request, 0, 2);  // the server prefers 64 bytes
    // 128 bytes sent = blocks 0 and 1 of 64: next is block 2 of 64 bytes (offset 128).
    std::size_t offset = 128;
    for (std::uint32_t num = 2; offset < body.size(); ++num, offset += 64) {
        request = one_sent();
        bool more = offset + 64 < body.size();
        expect_block(request, body, {num, more, 2}, offset);
        if (more)
            continue_(request, num, 2);
        else
            receive(piggyback(request, Code::changed).wire());
    }
    Completion c = completion();
    ASSERT_TRUE(c.result);
    EXPECT_EQ(c.result->code(), Code::changed);
}

TEST_F(ClientBlock1Test, LargerSizeFromTheServerIsIgnored) {
    config_.block_szx = 2;
    make();
    ByteVector body = body_of_size(200);
    submit_ok(post(body));
    continue_(one_sent(), 0, 6);
    expect_block(one_sent(), body, {1, true, 2}, 64);
}

TEST_F(ClientBlock1Test, ErrorEndsTheUploadWithThatResponse) {
    for (Code code : {Code::request_entity_too_large, Code::request_entity_incomplete}) {
        make();
        ByteVector body = body_of_size(3000);
        RequestHandle handle = submit_ok(post(body));
        continue_(one_sent(), 0, 6);
        receive(piggyback(one_sent(), code).uint(OptionNumber::size1, 1500).wire());
        Completion c = completion();
        EXPECT_EQ(c.handle, handle);
        ASSERT_TRUE(c.result);
        EXPECT_EQ(c.result->code(), code);
        EXPECT_TRUE(sent().empty());
        EXPECT_EQ(core_->active(), 0u);
    }
}

TEST_F(ClientBlock1Test, FinalSuccessWithoutBlock1BeforeTheLastBlockIsNoSilentSuccess) {
    // A server that ignores the critical Block1 option answers the first block as if it were
    // the whole body: the rest was never sent, so the upload did not succeed.
    make();
    RequestHandle handle = submit_ok(post(body_of_size(3000)));
    continue_(one_sent(), 0, 6);
    receive(piggyback(one_sent(), Code::changed).payload("partial").wire());
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    EXPECT_EQ(error_of(c), ClientError::malformed_response);
    EXPECT_TRUE(sent().empty());
    EXPECT_EQ(core_->active(), 0u);
}

TEST_F(ClientBlock1Test, PerBlockSuccessWithBlock1ContinuesTheUpload) {
    // RFC 7959 §2.2: Block1 with M unset in the answer to a block with M set: the server acted
    // on this block alone, and the client still sends the following blocks.
    make();
    ByteVector body = body_of_size(2100);
    submit_ok(post(body));
    receive(piggyback(one_sent(), Code::changed).block(OptionNumber::block1, 0, false, 6).wire());
    EXPECT_FALSE(core_->pop_completion());
    ByteVector request = one_sent();
    expect_block(request, body, {1, true, 6}, 1024);
    receive(piggyback(request, Code::changed).block(OptionNumber::block1, 1, false, 6).wire());
    request = one_sent();
    expect_block(request, body, {2, false, 6}, 2048);
    receive(piggyback(request, Code::changed)
                .block(OptionNumber::block1, 2, false, 6)
                .payload("done")
                .wire());
    EXPECT_EQ(text_of(completion()), "done");
}

TEST_F(ClientBlock1Test, FinalResponseWithBlock2ContinuesAsADownload) {
    make();
    ByteVector body = body_of_size(1500);
    ByteVector answer = body_of_size(1124, 3);
    RequestHandle handle = submit_ok(post(body));
    continue_(one_sent(), 0, 6);
    ByteVector last = one_sent();
    expect_block(last, body, {1, false, 6}, 1024);
    receive(piggyback(last, Code::changed)
                .block(OptionNumber::block1, 1, false, 6)
                .block(OptionNumber::block2, 0, true, 6)
                .payload(slice(answer, 0, 1024))
                .wire());
    ByteVector request = one_sent();
    EXPECT_EQ(view(request).code(), Code::post);
    EXPECT_FALSE(view(request).has(OptionNumber::block1));
    EXPECT_FALSE(view(request).has(OptionNumber::size1));
    EXPECT_TRUE(payload_of(request).empty());
    EXPECT_EQ(*block_of(request, OptionNumber::block2), (BlockValue{1, false, 6}));
    receive(piggyback(request, Code::changed)
                .block(OptionNumber::block2, 1, false, 6)
                .payload(slice(answer, 1024, 1024))
                .wire());
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    ASSERT_TRUE(c.result);
    EXPECT_EQ(c.result->code(), Code::changed);
    EXPECT_EQ(ByteVector(c.result->payload().begin(), c.result->payload().end()), answer);
}

}  // namespace
}  // namespace coap::detail
