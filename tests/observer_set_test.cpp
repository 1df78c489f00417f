// coap-bench's observe logic (tools/bench/observer_set.*), sans-I/O with injected time: paced
// registrations (RFC 7641 §3.1), CON notifications acknowledged, duplicates acknowledged again
// but counted once (RFC 7252 §4.5), unknown tokens reset, an ending notification (§3.2)
// registers again, and unanswered registrations are retransmitted (RFC 7252 §4.2).
#include "bench/observer_set.hpp"

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <utility>
#include <vector>

namespace coap::bench {
namespace {

constexpr std::uint64_t ms = 1'000'000;

struct Sent {
    std::uint32_t endpoint;
    std::vector<std::uint8_t> bytes;
    MessageView view() const { return *parse(Bytes(bytes.data(), bytes.size())); }
};

class Recorder final : public DatagramOut {
  public:
    bool send(std::uint32_t endpoint, Bytes datagram) noexcept override {
        sent.push_back({endpoint, std::vector<std::uint8_t>(datagram.begin(), datagram.end())});
        return true;
    }
    std::vector<Sent> take() { return std::exchange(sent, {}); }
    std::vector<Sent> sent;
};

class ObserverSetTest : public ::testing::Test {
  protected:
    ObserverSetTest() : set_(3, settings(), counters_, 7) {
        std::array<Option, 1> path{Option{OptionNumber::uri_path, as_bytes("obs")}};
        EXPECT_EQ(set_.prepare(path), "");
    }
    static ObserveSettings settings() {
        ObserveSettings settings;
        settings.max_outstanding = 2;
        return settings;
    }
    // The server's message to `endpoint`.
    void deliver(std::uint32_t endpoint, MessageType type, Code code, std::uint16_t message_id,
                 Bytes token, std::optional<std::uint32_t> observe, std::uint64_t now) {
        std::array<std::uint8_t, 64> buffer{};
        MessageWriter writer(buffer);
        writer.header(type, code, message_id, token);
        if (observe) writer.uint_option(OptionNumber::observe, *observe);
        auto length = writer.payload("tick").finish();
        ASSERT_TRUE(length);
        set_.on_datagram(endpoint, Bytes(buffer.data(), *length), now, out_);
    }
    // Registers endpoint 0 and returns its token.
    std::vector<std::uint8_t> register_first() {
        set_.send_due(0, out_);
        std::vector<Sent> sent = out_.take();
        EXPECT_EQ(sent.size(), 2u);
        MessageView request = sent.at(0).view();
        std::vector<std::uint8_t> token(request.token().begin(), request.token().end());
        deliver(sent[0].endpoint, MessageType::ack, Code::content, request.message_id(),
                request.token(), 5, ms);
        return token;
    }

    Counters counters_;
    ObserverSet set_;
    Recorder out_;
};

TEST_F(ObserverSetTest, RegistrationsArePacedConGetsWithObserveZeroAndTheirOwnTokens) {
    set_.send_due(0, out_);
    std::vector<Sent> sent = out_.take();
    ASSERT_EQ(sent.size(), 2u) << "at most max_outstanding in flight";
    std::set<std::vector<std::uint8_t>> tokens;
    for (const Sent& datagram : sent) {
        MessageView request = datagram.view();
        EXPECT_EQ(request.type(), MessageType::con);
        EXPECT_EQ(request.code(), Code::get);
        EXPECT_EQ(request.find_uint(OptionNumber::observe), 0u);
        EXPECT_EQ(request.token().size(), 4u);
        tokens.insert(std::vector<std::uint8_t>(request.token().begin(), request.token().end()));
    }
    EXPECT_EQ(tokens.size(), 2u);
    MessageView first = sent[0].view();
    deliver(sent[0].endpoint, MessageType::ack, Code::content, first.message_id(), first.token(), 5,
            ms);
    EXPECT_EQ(set_.registered(), 1u);
    EXPECT_EQ(counters_.completed, 0u) << "the registration's answer is not a notification";
    set_.send_due(2 * ms, out_);
    EXPECT_EQ(out_.take().size(), 1u) << "a slot came free for the third endpoint";
}

TEST_F(ObserverSetTest, ConNotificationsAreAcknowledgedAndDuplicatesCountedOnce) {
    std::vector<std::uint8_t> token = register_first();
    Bytes token_bytes(token.data(), token.size());
    for (int copy = 0; copy < 2; ++copy) {
        deliver(0, MessageType::con, Code::content, 0x1234, token_bytes, 6, 10 * ms);
        std::vector<Sent> sent = out_.take();
        ASSERT_EQ(sent.size(), 1u);
        EXPECT_EQ(sent[0].endpoint, 0u);
        EXPECT_EQ(sent[0].view().type(), MessageType::ack);
        EXPECT_EQ(sent[0].view().message_id(), 0x1234);
        EXPECT_EQ(sent[0].view().code(), Code::empty);
    }
    EXPECT_EQ(counters_.completed, 1u);
    EXPECT_EQ(counters_.con_notifications, 1u);
    deliver(0, MessageType::non, Code::content, 0x1235, token_bytes, 7, 11 * ms);
    EXPECT_TRUE(out_.take().empty()) << "a NON notification needs no answer";
    EXPECT_EQ(counters_.completed, 2u);
}

TEST_F(ObserverSetTest, UnknownTokensAreReset) {
    register_first();
    std::array<std::uint8_t, 4> stranger{9, 9, 9, 9};
    deliver(0, MessageType::con, Code::content, 0x2000, stranger, 6, 10 * ms);
    std::vector<Sent> sent = out_.take();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].view().type(), MessageType::rst);
    EXPECT_EQ(sent[0].view().message_id(), 0x2000);
    EXPECT_EQ(counters_.completed, 0u);
}

TEST_F(ObserverSetTest, AnEndingNotificationRegistersAgainWithANewToken) {
    std::vector<std::uint8_t> token = register_first();
    deliver(0, MessageType::con, Code::not_found, 0x3000, Bytes(token.data(), token.size()),
            std::nullopt, 10 * ms);
    EXPECT_EQ(counters_.non_success, 1u);
    EXPECT_EQ(set_.registered(), 0u);
    std::vector<Sent> sent = out_.take();
    ASSERT_FALSE(sent.empty());
    EXPECT_EQ(sent[0].view().type(), MessageType::ack) << "the CON is acknowledged all the same";
    // Endpoint 0 queues behind the others (max_outstanding 2); answering theirs frees slots.
    bool again = false;
    for (std::uint64_t now : {20 * ms, 1'100 * ms, 5'000 * ms, 11'000 * ms}) {
        set_.on_timers(now, out_);
        set_.send_due(now, out_);
        for (const Sent& datagram : out_.take()) {
            MessageView request = datagram.view();
            if (request.code() != Code::get) continue;
            if (datagram.endpoint != 0) {
                deliver(datagram.endpoint, MessageType::ack, Code::content, request.message_id(),
                        request.token(), 5, now);
                continue;
            }
            again = true;
            EXPECT_NE(std::vector<std::uint8_t>(request.token().begin(), request.token().end()),
                      token);
        }
    }
    EXPECT_TRUE(again);
}

TEST_F(ObserverSetTest, AnUnansweredRegistrationIsRetransmittedWithItsMessageId) {
    set_.send_due(0, out_);
    std::vector<Sent> first = out_.take();
    ASSERT_EQ(first.size(), 2u);
    set_.on_timers(1'900 * ms, out_);
    EXPECT_TRUE(out_.take().empty()) << "before ACK_TIMEOUT";
    set_.on_timers(3'001 * ms, out_);  // past ACK_TIMEOUT x ACK_RANDOM_FACTOR (1.5)
    std::vector<Sent> again = out_.take();
    ASSERT_EQ(again.size(), 2u);
    EXPECT_EQ(again[0].view().message_id(), first[0].view().message_id());
    EXPECT_EQ(counters_.retransmissions, 2u);
}

}  // namespace
}  // namespace coap::bench
