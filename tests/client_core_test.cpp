// The client engine with injected time: RFC 7252 §4 and §5 message handling, NSTART, RFC 7959
// block-wise transfers, RFC 9175 Echo and RFC 7641 observation. No sockets, no sleeps: the test
// plays the server by reading the engine's datagrams and feeding scripted replies back.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "client/client_core.hpp"
#include "support/bytes.hpp"
#include "support/random.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using test::bytes;
using test::ByteVector;

const TimePoint t0 = TimePoint{} + 1000s;

using test::Random;

// The view points into `wire`: keep the bytes alive as long as the view.
MessageView view(const ByteVector& wire) {
    auto parsed = parse(wire);
    EXPECT_TRUE(parsed) << "datagram does not parse";
    return parsed ? *parsed : MessageView{};
}

ByteVector token_of(const ByteVector& wire) {
    auto v = view(wire);
    return ByteVector(v.token().begin(), v.token().end());
}

std::uint16_t mid_of(const ByteVector& wire) {
    return view(wire).message_id();
}

ByteVector payload_of(const ByteVector& wire) {
    auto v = view(wire);
    return ByteVector(v.payload().begin(), v.payload().end());
}

std::optional<BlockValue> block_of(const ByteVector& wire, OptionNumber number) {
    auto option = view(wire).find(number);
    if (!option) return std::nullopt;
    return decode_block(option->value);
}

std::optional<ByteVector> option_of(const ByteVector& wire, OptionNumber number) {
    auto option = view(wire).find(number);
    if (!option) return std::nullopt;
    return ByteVector(option->value.begin(), option->value.end());
}

using OptionList = std::vector<std::pair<std::uint16_t, ByteVector>>;

OptionList options_of(const ByteVector& wire, std::initializer_list<OptionNumber> except = {}) {
    OptionList out;
    for (const Option& option : view(wire).options()) {
        if (std::find(except.begin(), except.end(), option.number) != except.end()) continue;
        out.emplace_back(to_int(option.number),
                         ByteVector(option.value.begin(), option.value.end()));
    }
    return out;
}

ByteVector empty_message(MessageType type, std::uint16_t id) {
    return bytes({0x40 | (static_cast<int>(type) << 4), 0, id >> 8, id & 0xff});
}

ByteVector body_of_size(std::size_t size, std::uint8_t salt = 0) {
    ByteVector body(size);
    for (std::size_t i = 0; i < size; ++i)
        body[i] = static_cast<std::uint8_t>((i * 7 + i / 251 + salt) & 0xff);
    return body;
}

ByteVector slice(const ByteVector& body, std::size_t from, std::size_t length) {
    from = std::min(from, body.size());
    length = std::min(length, body.size() - from);
    return ByteVector(body.begin() + static_cast<std::ptrdiff_t>(from),
                      body.begin() + static_cast<std::ptrdiff_t>(from + length));
}

// Builds a datagram as the server would send it.
class Msg {
  public:
    Msg(MessageType type, Code code, std::uint16_t id, ByteVector token = {})
        : type_(type), code_(code), id_(id), token_(std::move(token)) {}

    Msg& opt(OptionNumber number, ByteVector value) {
        options_.emplace_back(number, std::move(value));
        return *this;
    }
    Msg& uint(OptionNumber number, std::uint32_t value) {
        UintValue encoded(value);
        return opt(number, ByteVector(encoded.bytes().begin(), encoded.bytes().end()));
    }
    Msg& block(OptionNumber number, std::uint32_t num, bool more, std::uint8_t szx) {
        UintValue encoded = encode_block({num, more, szx});
        return opt(number, ByteVector(encoded.bytes().begin(), encoded.bytes().end()));
    }
    Msg& observe(std::uint32_t sequence) { return uint(OptionNumber::observe, sequence); }
    Msg& etag(ByteVector tag) { return opt(OptionNumber::etag, std::move(tag)); }
    Msg& payload(ByteVector body) {
        payload_ = std::move(body);
        return *this;
    }
    Msg& payload(std::string_view text) { return payload(bytes(text)); }

    ByteVector wire() const {
        std::vector<Option> options;
        for (const auto& [number, value] : options_)
            options.push_back(Option{number, value});
        ByteVector out(70000);
        auto n = encode(Message{type_, code_, id_, token_, options, payload_}, out);
        EXPECT_TRUE(n) << "test message does not encode";
        out.resize(n ? *n : 0);
        return out;
    }

  private:
    MessageType type_;
    Code code_;
    std::uint16_t id_;
    ByteVector token_;
    std::vector<std::pair<OptionNumber, ByteVector>> options_;
    ByteVector payload_;
};

// The piggybacked answer to `request`: ACK with its Message ID and token.
Msg piggyback(const ByteVector& request, Code code = Code::content) {
    return Msg(MessageType::ack, code, mid_of(request), token_of(request));
}

// A separate (or NON) answer to `request`: its token, a Message ID of the server's choosing.
Msg separate(const ByteVector& request, MessageType type, std::uint16_t id,
             Code code = Code::content) {
    return Msg(type, code, id, token_of(request));
}

class ClientCoreTest : public ::testing::Test {
  protected:
    void make(std::uint64_t seed = 0x5eed) { core_ = std::make_unique<ClientCore>(config_, seed); }

    RequestSpec get_x() const { return RequestSpec{Code::get, path_x_, {}, false}; }

    Expected<RequestHandle, ClientError> submit(const RequestSpec& spec, TimePoint now = t0) {
        return core_->submit(spec, now);
    }
    RequestHandle submit_ok(const RequestSpec& spec, TimePoint now = t0) {
        auto handle = core_->submit(spec, now);
        EXPECT_TRUE(handle) << "submit failed";
        return handle ? *handle : 0;
    }

    // Everything the engine wants to send, oldest first.
    std::vector<ByteVector> sent() {
        std::vector<ByteVector> out;
        while (core_->has_outgoing()) {
            Bytes datagram = core_->front_outgoing();
            out.emplace_back(datagram.begin(), datagram.end());
            core_->pop_outgoing();
        }
        return out;
    }
    ByteVector one_sent() {
        auto all = sent();
        EXPECT_EQ(all.size(), 1u) << "expected exactly one datagram";
        return all.empty() ? ByteVector{} : all.front();
    }
    void receive(const ByteVector& datagram, TimePoint now = t0) {
        core_->on_datagram(datagram, now);
    }
    Completion completion() {
        auto c = core_->pop_completion();
        EXPECT_TRUE(c) << "expected a completion";
        return c ? std::move(*c) : Completion{0, unexpected(ClientError::cancelled)};
    }
    ClientError error_of(const Completion& c) {
        EXPECT_FALSE(c.result) << "expected an error";
        return c.result ? ClientError::cancelled : c.result.error();
    }
    std::string text_of(const Completion& c) {
        EXPECT_TRUE(c.result) << "expected a response";
        return c.result ? std::string(c.result->text()) : std::string();
    }
    Notification notification(RequestHandle id) {
        auto n = core_->pop_notification(id);
        EXPECT_TRUE(n) << "expected a notification";
        return n ? std::move(*n) : Notification{unexpected(ClientError::cancelled), true};
    }

    // Runs one request to a piggybacked 2.05 so that NSTART opens (RFC 7252 §4.7).
    void handshake() {
        submit_ok(get_x());
        receive(piggyback(one_sent()).payload("hi").wire());
        ASSERT_TRUE(core_->pop_completion());
        ASSERT_TRUE(core_->server_answered());
    }

    ClientConfig config_;
    std::unique_ptr<ClientCore> core_;
    std::array<Option, 1> path_x_{Option{OptionNumber::uri_path, as_bytes("x")}};
};

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

// --- RFC 7252 §4.7: NSTART
// ------------------------------------------------------------------------

TEST_F(ClientCoreTest, NstartIsOneUntilTheServerAnswersThenMaxInFlight) {
    config_.max_in_flight = 4;
    make();
    std::vector<RequestHandle> handles;
    for (int i = 0; i < 5; ++i)  // 1 in flight, 4 queued
        handles.push_back(submit_ok(get_x()));
    std::vector<ByteVector> first = sent();
    ASSERT_EQ(first.size(), 1u) << "NSTART = 1 before any response";
    EXPECT_EQ(core_->active(), 5u);
    core_->on_timer(*core_->next_deadline());
    EXPECT_EQ(sent().size(), 1u) << "only the retransmission";

    receive(piggyback(first[0]).wire(), t0 + 3s);
    EXPECT_EQ(completion().handle, handles[0]);
    std::vector<ByteVector> next = sent();
    EXPECT_EQ(next.size(), 4u) << "up to max_in_flight once the server answered";
    EXPECT_EQ(core_->active(), 4u);
    std::set<ByteVector> tokens;
    for (const ByteVector& request : next)
        tokens.insert(token_of(request));
    EXPECT_EQ(tokens.size(), 4u);

    ASSERT_EQ(next.size(), 4u);
    receive(piggyback(next[2]).wire(), t0 + 4s);
    EXPECT_EQ(completion().handle, handles[3]) << "queued requests start oldest first";
    EXPECT_TRUE(sent().empty());
    submit_ok(get_x(), t0 + 5s);
    EXPECT_EQ(sent().size(), 1u) << "a free slot is used at once";
    submit_ok(get_x(), t0 + 5s);
    EXPECT_TRUE(sent().empty()) << "4 in flight: queued";
    EXPECT_EQ(core_->active(), 5u);
}

TEST_F(ClientCoreTest, QueueBeyondMaxInFlightIsBusy) {
    config_.max_in_flight = 2;
    make();
    ASSERT_TRUE(submit(get_x()));
    ASSERT_TRUE(submit(get_x()));
    ASSERT_TRUE(submit(get_x()));
    auto refused = submit(get_x());
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), ClientError::busy);
    EXPECT_EQ(core_->active(), 3u);

    std::vector<ByteVector> first = sent();
    ASSERT_EQ(first.size(), 1u);
    receive(piggyback(first[0]).wire());
    ASSERT_TRUE(core_->pop_completion());
    EXPECT_EQ(sent().size(), 2u);
    ASSERT_TRUE(submit(get_x()));
    ASSERT_TRUE(submit(get_x()));
    refused = submit(get_x());
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), ClientError::busy);
}

TEST_F(ClientCoreTest, EmptyAckIsAnAnswerThatOpensNstart) {
    // §4.7: a request stops being outstanding with its response or its ACK.
    config_.max_in_flight = 4;
    make();
    for (int i = 0; i < 3; ++i)
        submit_ok(get_x());
    ByteVector request = one_sent();
    receive(empty_message(MessageType::ack, mid_of(request)), t0 + 1s);
    EXPECT_TRUE(core_->server_answered());
    EXPECT_EQ(sent().size(), 2u) << "the queued requests start at once";
}

TEST_F(ClientCoreTest, TimeoutOfTheFirstRequestKeepsNstartAtOne) {
    config_.max_in_flight = 4;
    make();
    submit_ok(get_x());
    submit_ok(get_x());
    submit_ok(get_x());
    EXPECT_EQ(sent().size(), 1u);
    TimePoint now = t0;
    while (!core_->pop_completion()) {
        now = *core_->next_deadline();
        core_->on_timer(now);
    }
    EXPECT_FALSE(core_->server_answered());
    EXPECT_EQ(sent().size(), 5u) << "4 retransmissions, then the second request alone";
}

// --- Pipelining ----------------------------------------------------------------------------------

TEST_F(ClientCoreTest, PipelinedRequestsCompleteInAnyOrderWithUniqueHandlesAndTokens) {
    config_.max_in_flight = 16;
    make();
    handshake();
    Random random{7};
    std::map<RequestHandle, std::string> expected;  // handle -> its query
    std::map<ByteVector, ByteVector> outstanding;   // token -> request
    std::vector<std::string> queries;
    std::size_t next_query = 0, completed = 0;
    std::uint16_t server_id = 0x8000;
    TimePoint now = t0;
    std::set<RequestHandle> seen_handles;
    std::vector<std::pair<std::uint16_t, ByteVector>> awaiting_separate;  // after an empty ACK
    std::set<ByteVector> in_use;  // tokens of requests not yet answered

    while (completed < 300) {
        // Keep the engine full: submit until busy.
        while (next_query < 300) {
            std::string query = "q=" + std::to_string(next_query);
            std::array<Option, 2> options{Option{OptionNumber::uri_path, as_bytes("x")},
                                          Option{OptionNumber::uri_query, as_bytes(query)}};
            auto handle = submit(RequestSpec{Code::get, options, {}, false}, now);
            if (!handle) {
                ASSERT_EQ(handle.error(), ClientError::busy);
                break;
            }
            ASSERT_TRUE(seen_handles.insert(*handle).second) << "handles are unique";
            expected[*handle] = query;
            ++next_query;
        }
        for (ByteVector& request : sent()) {
            if (view(request).type() != MessageType::con) continue;  // our ACKs
            ByteVector token = token_of(request);
            ASSERT_TRUE(in_use.insert(token).second) << "token reused while outstanding";
            outstanding[token] = request;
        }
        ASSERT_LE(outstanding.size() + awaiting_separate.size(), 16u);
        // Answer one outstanding request at random, in one of three ways.
        if (outstanding.empty() && awaiting_separate.empty()) break;
        now += 1ms;
        std::size_t pick = random.below(outstanding.size() + awaiting_separate.size());
        if (pick < outstanding.size()) {
            auto it = std::next(outstanding.begin(), static_cast<std::ptrdiff_t>(pick));
            ByteVector request = it->second;
            outstanding.erase(it);
            std::string query(view(request).find(OptionNumber::uri_query)->as_string());
            if (random.below(3) == 0) {
                receive(empty_message(MessageType::ack, mid_of(request)), now);
                awaiting_separate.emplace_back(server_id++, request);
            } else {
                in_use.erase(token_of(request));
                receive(piggyback(request).payload(query).wire(), now);
            }
        } else {
            auto it =
                awaiting_separate.begin() + static_cast<std::ptrdiff_t>(pick - outstanding.size());
            auto [id, request] = *it;
            awaiting_separate.erase(it);
            std::string query(view(request).find(OptionNumber::uri_query)->as_string());
            MessageType type = random.below(2) ? MessageType::con : MessageType::non;
            in_use.erase(token_of(request));
            receive(separate(request, type, id).payload(query).wire(), now);
        }
        while (auto c = core_->pop_completion()) {
            ASSERT_TRUE(expected.count(c->handle)) << "unknown or repeated handle";
            EXPECT_EQ(text_of(*c), expected[c->handle]);
            expected.erase(c->handle);
            ++completed;
        }
    }
    EXPECT_EQ(completed, 300u);
    EXPECT_TRUE(expected.empty());
    EXPECT_EQ(core_->active(), 0u);
}

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

// --- RFC 7641: observation ----------------------------------------------------------------------

class ClientObserveTest : public ClientCoreTest {
  protected:
    // Registers and answers with Observe `sequence`; returns the registration request.
    ByteVector registered(RequestHandle& id, std::uint32_t sequence = 5) {
        auto started = core_->observe(get_x(), t0);
        EXPECT_TRUE(started);
        id = started ? *started : 0;
        ByteVector request = one_sent();
        receive(piggyback(request).observe(sequence).payload("v" + std::to_string(sequence)).wire(),
                t0);
        auto n = core_->pop_notification(id);
        EXPECT_TRUE(n && n->result && !n->last);
        return request;
    }
    ByteVector notify(const ByteVector& request, MessageType type, std::uint16_t id,
                      std::uint32_t sequence) {
        return separate(request, type, id)
            .observe(sequence)
            .payload("v" + std::to_string(sequence))
            .wire();
    }
    std::string text(const Notification& n) {
        EXPECT_TRUE(n.result);
        return n.result ? std::string(n.result->text()) : std::string();
    }
};

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

// --- Unpolled completions -----------------------------------------------------------------------

TEST_F(ClientCoreTest, UnpolledCompletionsAreBoundedByInFlightPlusQueue) {
    config_.max_in_flight = 2;
    make();
    handshake();
    auto refused = [&] {
        auto result = submit(get_x());
        return !result && result.error() == ClientError::busy;
    };
    std::vector<RequestHandle> handles;
    for (int i = 0; i < 4; ++i)
        handles.push_back(submit_ok(get_x()));  // 2 in flight, 2 queued
    EXPECT_TRUE(refused());
    for (int round = 0; round < 2; ++round)
        for (const ByteVector& request : sent())
            receive(piggyback(request).payload("r").wire());
    EXPECT_EQ(core_->queued_completions(), 4u);
    EXPECT_EQ(core_->active(), 0u);
    EXPECT_TRUE(refused()) << "4 completions nobody took: as many as in flight plus queue";
    EXPECT_TRUE(core_->observe(get_x(), t0)) << "observations do not complete";
    sent();

    auto taken = core_->take_completion(handles[2]);
    ASSERT_TRUE(taken);
    EXPECT_EQ(taken->value().text(), "r");
    EXPECT_FALSE(core_->take_completion(handles[2])) << "taken once";
    EXPECT_TRUE(submit(get_x())) << "room again";
    EXPECT_TRUE(refused());
    std::vector<RequestHandle> order;
    while (auto c = core_->pop_completion())
        order.push_back(c->handle);
    EXPECT_EQ(order, (std::vector<RequestHandle>{handles[0], handles[1], handles[3]}))
        << "the others stay in order";
    EXPECT_TRUE(submit(get_x()));
}

TEST(ClientErrorText, NoSeparateResponseSaysTheRequestWasAcknowledged) {
    EXPECT_NE(describe(ClientError::no_separate_response).find("acknowledged"),
              std::string_view::npos);
    EXPECT_NE(describe(ClientError::timeout), describe(ClientError::no_separate_response));
}

}  // namespace
}  // namespace coap::detail
