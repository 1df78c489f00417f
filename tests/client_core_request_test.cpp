// The client engine with injected time: piggybacked and separate responses (RFC 7252 §5.2),
// the Echo retry (RFC 9175 §2.3), failure of the transport, bad arguments and tokens.
#include <gtest/gtest.h>

#include <array>
#include <set>
#include <string>

#include "support/client_core_fixture.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using namespace client_test;

// --- RFC 7252 §5.2: piggybacked and separate responses ---------------------------------------

TEST_F(ClientCoreTest, PiggybackedResponseCompletesTheRequest) {
    make();
    RequestHandle handle = submit_ok(get_x());
    ByteVector request = one_sent();
    auto v = view(request);
    EXPECT_EQ(v.type(), MessageType::con);
    EXPECT_EQ(v.code(), Code::get);
    EXPECT_EQ(v.token().size(), 4u);
    EXPECT_EQ(options_of(request), (OptionList{{11, bytes("x")}}));
    EXPECT_FALSE(core_->server_answered());

    ByteVector answer = piggyback(request).payload("hi").wire();
    receive(answer, t0 + 10ms);
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    EXPECT_EQ(text_of(c), "hi");
    EXPECT_EQ(c.result->code(), Code::content);
    EXPECT_EQ(c.result->type(), MessageType::ack);
    EXPECT_TRUE(sent().empty()) << "an ACK is never answered (§4.2)";
    EXPECT_FALSE(core_->next_deadline());
    EXPECT_EQ(core_->active(), 0u);
    EXPECT_TRUE(core_->server_answered());

    receive(answer, t0 + 20ms);  // a duplicate ACK
    EXPECT_FALSE(core_->pop_completion());
    EXPECT_TRUE(sent().empty());
}

TEST_F(ClientCoreTest, EmptyAckThenSeparateConResponseIsAcknowledgedOnce) {
    make();
    RequestHandle handle = submit_ok(get_x());
    ByteVector request = one_sent();
    receive(empty_message(MessageType::ack, mid_of(request)), t0 + 100ms);
    EXPECT_TRUE(sent().empty());
    EXPECT_FALSE(core_->pop_completion());
    EXPECT_EQ(core_->next_deadline(), t0 + 100ms + config_.response_timeout);
    core_->on_timer(t0 + 60s);
    EXPECT_TRUE(sent().empty()) << "retransmission stops at the empty ACK";

    ByteVector response = separate(request, MessageType::con, 0x5000).payload("later").wire();
    receive(response, t0 + 61s);
    EXPECT_EQ(one_sent(), empty_message(MessageType::ack, 0x5000));
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    EXPECT_EQ(text_of(c), "later");

    // The server did not get our ACK and retransmits: ACK again, deliver nothing.
    receive(response, t0 + 63s);
    EXPECT_EQ(one_sent(), empty_message(MessageType::ack, 0x5000));
    EXPECT_FALSE(core_->pop_completion());
    EXPECT_EQ(core_->active(), 0u);
}

TEST_F(ClientCoreTest, SeparateResponseBeforeTheEmptyAckStopsRetransmission) {
    make();
    submit_ok(get_x());
    ByteVector request = one_sent();
    receive(separate(request, MessageType::con, 0x77).payload("first").wire(), t0 + 1s);
    EXPECT_EQ(one_sent(), empty_message(MessageType::ack, 0x77));
    EXPECT_EQ(text_of(completion()), "first");
    EXPECT_FALSE(core_->next_deadline());
    receive(empty_message(MessageType::ack, mid_of(request)), t0 + 2s);  // the late empty ACK
    core_->on_timer(t0 + 100s);
    EXPECT_TRUE(sent().empty());
    EXPECT_FALSE(core_->pop_completion());
}

TEST_F(ClientCoreTest, NonSeparateResponseToConRequestIsNotAcknowledged) {
    make();
    submit_ok(get_x());
    ByteVector request = one_sent();
    receive(empty_message(MessageType::ack, mid_of(request)));
    receive(separate(request, MessageType::non, 0x99).payload("non").wire(), t0 + 1s);
    EXPECT_TRUE(sent().empty());
    EXPECT_EQ(text_of(completion()), "non");
}

TEST_F(ClientCoreTest, SeparateResponseThatNeverComesTimesOutAfterResponseTimeout) {
    config_.response_timeout = 30s;
    make();
    RequestHandle handle = submit_ok(get_x());
    ByteVector request = one_sent();
    receive(empty_message(MessageType::ack, mid_of(request)), t0 + 1s);
    core_->on_timer(t0 + 31s - 1ns);
    EXPECT_FALSE(core_->pop_completion());
    core_->on_timer(t0 + 31s);
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    EXPECT_EQ(error_of(c), ClientError::no_separate_response) << "acknowledged, not answered";
    EXPECT_TRUE(sent().empty());
    // The response arriving after the give-up is unexpected: rejected with RST (§5.3.2).
    receive(separate(request, MessageType::con, 0x1234).wire(), t0 + 40s);
    EXPECT_EQ(one_sent(), empty_message(MessageType::rst, 0x1234));
    EXPECT_FALSE(core_->pop_completion());
}

// --- RFC 9175 §2.3: Echo ------------------------------------------------------------------------

TEST_F(ClientCoreTest, UnauthorizedWithEchoIsRetriedOnceWithThatEcho) {
    make();
    UintValue format(to_int(ContentFormat::text_plain));
    std::array<Option, 3> options{Option{OptionNumber::uri_path, as_bytes("lock")},
                                  Option{OptionNumber::content_format, format.bytes()},
                                  Option{OptionNumber::uri_query, as_bytes("a=1")}};
    RequestHandle handle = submit_ok(RequestSpec{Code::put, options, as_bytes("0"), false});
    ByteVector first = one_sent();
    ByteVector echo = bytes({0x00, 0x09, 0x43, 0x74, 0x68});
    receive(piggyback(first, Code::unauthorized).opt(OptionNumber::echo, echo).wire());
    EXPECT_FALSE(core_->pop_completion());
    ByteVector retry = one_sent();
    EXPECT_NE(mid_of(retry), mid_of(first)) << "a new request, a new Message ID";
    EXPECT_EQ(view(retry).type(), MessageType::con);
    EXPECT_EQ(view(retry).code(), Code::put);
    EXPECT_EQ(option_of(retry, OptionNumber::echo), echo);
    EXPECT_EQ(options_of(retry, {OptionNumber::echo}), options_of(first));
    EXPECT_EQ(payload_of(retry), bytes("0"));
    receive(piggyback(retry, Code::changed).wire());
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    ASSERT_TRUE(c.result);
    EXPECT_EQ(c.result->code(), Code::changed);
}

TEST_F(ClientCoreTest, SecondUnauthorizedIsReturnedToTheCaller) {
    make();
    RequestHandle handle = submit_ok(get_x());
    receive(piggyback(one_sent(), Code::unauthorized).opt(OptionNumber::echo, bytes({1})).wire());
    ByteVector retry = one_sent();
    receive(piggyback(retry, Code::unauthorized).opt(OptionNumber::echo, bytes({2})).wire());
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    ASSERT_TRUE(c.result);
    EXPECT_EQ(c.result->code(), Code::unauthorized);
    EXPECT_EQ(ByteVector(c.result->option(OptionNumber::echo)->value.begin(),
                         c.result->option(OptionNumber::echo)->value.end()),
              bytes({2}));
    EXPECT_TRUE(sent().empty());
}

TEST_F(ClientCoreTest, UnauthorizedWithoutEchoIsNotRetried) {
    make();
    submit_ok(get_x());
    receive(piggyback(one_sent(), Code::unauthorized).wire());
    Completion c = completion();
    ASSERT_TRUE(c.result);
    EXPECT_EQ(c.result->code(), Code::unauthorized);
    EXPECT_TRUE(sent().empty());
}

// --- Failure of the transport, bad arguments, tokens ---------------------------------------------

TEST_F(ClientCoreTest, FailAllEndsEverythingWithTheError) {
    make();
    RequestHandle a = submit_ok(get_x());
    RequestHandle b = submit_ok(get_x());  // queued behind NSTART
    auto id = core_->observe(get_x(), t0);
    ASSERT_TRUE(id);
    core_->fail_all(ClientError::network);
    std::set<RequestHandle> failed;
    while (auto c = core_->pop_completion()) {
        EXPECT_EQ(error_of(*c), ClientError::network);
        failed.insert(c->handle);
    }
    EXPECT_EQ(failed, (std::set<RequestHandle>{a, b}));
    Notification n = notification(*id);
    EXPECT_TRUE(n.last);
    EXPECT_FALSE(n.result);
    EXPECT_EQ(core_->active(), 0u);
    EXPECT_FALSE(core_->next_deadline());
}

TEST_F(ClientCoreTest, BadRequestsAreRefused) {
    make();
    auto refused = submit(RequestSpec{Code::content, {}, {}, false});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), ClientError::invalid_request);

    std::string long_value(2000, 'a');
    std::array<Option, 1> huge{Option{OptionNumber::uri_path, as_bytes(long_value)}};
    refused = submit(RequestSpec{Code::get, huge, {}, false});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), ClientError::too_large);
    EXPECT_EQ(core_->active(), 0u);

    // Options and a payload of one block that together do not fit a datagram.
    std::string value(400, 'b');
    std::array<Option, 1> big{Option{OptionNumber::uri_path, as_bytes(value)}};
    ByteVector payload = body_of_size(1000);
    RequestHandle handle = submit_ok(RequestSpec{Code::put, big, payload, false});
    Completion c = completion();
    EXPECT_EQ(c.handle, handle);
    EXPECT_EQ(error_of(c), ClientError::too_large);
    EXPECT_TRUE(sent().empty());
    EXPECT_EQ(core_->active(), 0u);
}

TEST_F(ClientCoreTest, TokenLengthComesFromTheConfig) {
    for (std::uint8_t length : {1, 8}) {
        config_.token_length = length;
        make();
        submit_ok(get_x());
        EXPECT_EQ(token_of(one_sent()).size(), length);
    }
}

TEST_F(ClientCoreTest, CallerChosenTokensAreUsedAndMustBeUnique) {
    make();
    ByteVector cafe = bytes({0xca, 0xfe});
    RequestSpec spec = get_x();
    spec.token = Bytes(cafe);
    submit_ok(spec);
    EXPECT_EQ(token_of(one_sent()), cafe);
    auto again = core_->submit(spec, t0);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error(), ClientError::busy) << "that token is outstanding";
    ByteVector empty;
    spec.token = Bytes(empty);  // a zero-length token (TD_COAP_CORE_12)
    ByteVector nine(9, 1);
    RequestSpec too_long = get_x();
    too_long.token = Bytes(nine);
    EXPECT_EQ(core_->submit(too_long, t0).error(), ClientError::invalid_request);
}

TEST_F(ClientCoreTest, OneByteTokensNeverHangWhenMoreRequestsThanTokens) {
    config_.token_length = 1;
    config_.max_in_flight = 300;
    make();
    handshake();
    for (int i = 0; i < 300; ++i)
        submit_ok(get_x());
    std::vector<ByteVector> out = sent();
    EXPECT_LE(out.size(), 256u);
    std::set<ByteVector> tokens;
    for (const ByteVector& request : out)
        tokens.insert(token_of(request));
    EXPECT_EQ(tokens.size(), out.size()) << "tokens unique among outstanding requests";
    // Answering one frees a token for a queued request.
    receive(piggyback(out[0]).wire());
    ASSERT_TRUE(core_->pop_completion());
    std::vector<ByteVector> more = sent();
    EXPECT_EQ(more.size(), 1u);
    if (!more.empty()) {
        EXPECT_EQ(token_of(more[0]), token_of(out[0]));
    }
}

TEST(ClientErrorText, NoSeparateResponseSaysTheRequestWasAcknowledged) {
    EXPECT_NE(describe(ClientError::no_separate_response).find("acknowledged"),
              std::string_view::npos);
    EXPECT_NE(describe(ClientError::timeout), describe(ClientError::no_separate_response));
}

}  // namespace
}  // namespace coap::detail
