// Separate responses (RFC 7252 §5.2.2) through the sans-I/O core, with injected time: the empty
// ACK, the later CON or NON answer, the §4.2 retransmission schedule, and pool limits.
#include <gtest/gtest.h>

#include <array>
#include <thread>
#include <vector>

#include "server/server_core.hpp"
#include "support/bytes.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using test::bytes;
using test::ByteVector;

TimePoint at(Duration offset) {
    return TimePoint{} + offset;
}

struct Sent {
    TimePoint when;
    ByteVector bytes;
};

class RecordingSink final : public DatagramSink {
  public:
    bool send(const Endpoint&, Bytes datagram) noexcept override {
        sent.push_back({now, ByteVector(datagram.begin(), datagram.end())});
        return true;
    }
    TimePoint now{};
    std::vector<Sent> sent;
};

class DeferredTest : public ::testing::Test {
  protected:
    DeferredTest() {
        config_.max_deferred = 2;
        config_.exchange_count = 64;
        config_.exchange_cache_bytes = 16 * 1024;
        config_.max_arena_size = 4096;
        core_ = std::make_unique<ServerCore>(config_, handler_, false, 0x2000ull << 16);
    }

    ByteVector send(MessageType type, std::uint16_t id, Duration when = 0s) {
        std::array<std::uint8_t, 64> request{};
        auto n = MessageWriter(request)
                     .header(type, Code::get, id, bytes({0x53}))
                     .option(OptionNumber::uri_path, "separate")
                     .finish();
        std::array<std::uint8_t, 1280> reply{};
        std::size_t length =
            core_->on_datagram(client_, Bytes(request.data(), *n), at(when), reply);
        return ByteVector(reply.begin(), reply.begin() + length);
    }
    void receive_empty(MessageType type, std::uint16_t id) {
        std::array<std::uint8_t, 4> message{
            static_cast<std::uint8_t>(0x40 | (static_cast<unsigned>(type) << 4)), 0,
            static_cast<std::uint8_t>(id >> 8), static_cast<std::uint8_t>(id)};
        std::array<std::uint8_t, 64> reply{};
        EXPECT_EQ(core_->on_datagram(client_, message, sink_.now, reply), 0u);
    }
    void tick(Duration when) {
        sink_.now = at(when);
        core_->on_timers(sink_.now, sink_);
    }

    ServerConfig config_;
    std::vector<DeferredResponse> handles_;
    int calls_ = 0;
    Handler handler_ = [this](Request& request) -> HandlerResult {
        ++calls_;
        if (auto handle = request.defer()) handles_.push_back(*handle);
        return std::nullopt;
    };
    Endpoint client_ = *Endpoint::from_literal("::1", 5555);
    RecordingSink sink_;
    std::unique_ptr<ServerCore> core_;
};

TEST_F(DeferredTest, ConRequestIsAcknowledgedAtOnceAndAnsweredLaterAsCon) {
    ByteVector ack = send(MessageType::con, 0x7d38);
    EXPECT_EQ(ack, bytes({0x60, 0x00, 0x7d, 0x38}));  // RFC 7252 Figure 20: empty ACK
    ASSERT_EQ(handles_.size(), 1u);
    tick(100ms);
    EXPECT_TRUE(sink_.sent.empty()) << "nothing to send before the application answers";

    ASSERT_TRUE(
        core_->complete(handles_[0], Response::content(ContentFormat::text_plain, "22.3 C")));
    tick(200ms);
    ASSERT_EQ(sink_.sent.size(), 1u);
    auto response = parse(sink_.sent[0].bytes);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->type(), MessageType::con);
    EXPECT_EQ(response->code(), Code::content);
    EXPECT_EQ(response->token().size(), 1u);
    EXPECT_EQ(response->token()[0], 0x53);
    EXPECT_EQ(as_string(response->payload()), "22.3 C");

    receive_empty(MessageType::ack, response->message_id());
    for (int s = 1; s < 100; ++s)
        tick(200ms + 1s * s);
    EXPECT_EQ(sink_.sent.size(), 1u) << "the ACK stops retransmission";
    EXPECT_EQ(core_->deferred().in_use(), 0u);
}

TEST_F(DeferredTest, UnacknowledgedAnswerFollowsTheRetransmissionScheduleThenGivesUp) {
    send(MessageType::con, 1);
    ASSERT_TRUE(core_->complete(handles_[0], Response::ok("x")));
    for (Duration t = 0ms; t <= 100s; t += 1ms)
        tick(t);  // 31 x 3 s at most
    // RFC 7252 §4.2: the first timeout is in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR],
    // it doubles after each retransmission, and MAX_RETRANSMIT (4) retransmissions are made.
    ASSERT_EQ(sink_.sent.size(), 5u);
    Duration first = sink_.sent[1].when - sink_.sent[0].when;
    EXPECT_GE(first, 2s);
    EXPECT_LE(first, 3s);
    for (std::size_t i = 2; i < sink_.sent.size(); ++i) {
        Duration gap = sink_.sent[i].when - sink_.sent[i - 1].when;
        Duration expected = first * (1 << (i - 1));
        // `first` is measured on the 1 ms tick grid, so its error doubles along with it.
        double tolerance = 0.001 * (1 << (i - 1)) + 0.001;
        EXPECT_NEAR(std::chrono::duration<double>(gap).count(),
                    std::chrono::duration<double>(expected).count(), tolerance)
            << "gap " << i;
    }
    for (const Sent& s : sink_.sent)
        EXPECT_EQ(s.bytes, sink_.sent[0].bytes);
    EXPECT_EQ(core_->deferred().in_use(), 0u) << "given up after MAX_RETRANSMIT";
    EXPECT_EQ(core_->deferred().stats().gave_up, 1u);
}

TEST_F(DeferredTest, ResetStopsRetransmission) {
    send(MessageType::con, 2);
    ASSERT_TRUE(core_->complete(handles_[0], Response::ok("x")));
    tick(0s);
    auto response = parse(sink_.sent.at(0).bytes);
    receive_empty(MessageType::rst, response->message_id());
    for (int s = 1; s < 60; ++s)
        tick(1s * s);
    EXPECT_EQ(sink_.sent.size(), 1u);
    EXPECT_EQ(core_->deferred().stats().reset, 1u);
}

TEST_F(DeferredTest, NonRequestGetsNoAckAndANonAnswerWithoutRetransmission) {
    EXPECT_TRUE(send(MessageType::non, 3).empty());
    ASSERT_TRUE(core_->complete(handles_.at(0), Response::ok("later")));
    for (int s = 0; s < 60; ++s)
        tick(1s * s);
    ASSERT_EQ(sink_.sent.size(), 1u);
    auto response = parse(sink_.sent[0].bytes);
    EXPECT_EQ(response->type(), MessageType::non);
    EXPECT_EQ(as_string(response->payload()), "later");
    EXPECT_EQ(core_->deferred().in_use(), 0u);
}

TEST_F(DeferredTest, FullPoolAnswersServiceUnavailableWithMaxAge) {
    send(MessageType::con, 10);
    send(MessageType::con, 11);
    ByteVector refused = send(MessageType::con, 12);
    auto response = parse(refused);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->type(), MessageType::ack);
    EXPECT_EQ(response->code(), Code::service_unavailable);
    EXPECT_EQ(response->find_uint(OptionNumber::max_age), config_.deferred_busy_max_age);
    EXPECT_EQ(handles_.size(), 2u);
}

TEST_F(DeferredTest, AHandleAnswersOnceAndStaleHandlesAreRefused) {
    send(MessageType::non, 20);
    DeferredResponse handle = handles_.at(0);
    EXPECT_TRUE(core_->complete(handle, Response::ok("one")));
    EXPECT_FALSE(core_->complete(handle, Response::ok("two")));
    tick(0s);
    EXPECT_FALSE(core_->complete(handle, Response::ok("three"))) << "slot reused or freed";
    EXPECT_FALSE(core_->complete(DeferredResponse(0, 99, 0), Response::ok("x")));
    EXPECT_FALSE(core_->complete(DeferredResponse(7, 0, 0), Response::ok("x")));
}

TEST_F(DeferredTest, AnswerMayComeFromAnotherThread) {
    send(MessageType::con, 30);
    DeferredResponse handle = handles_.at(0);
    std::thread responder([&] { EXPECT_TRUE(core_->complete(handle, Response::ok("threaded"))); });
    responder.join();
    tick(1ms);
    ASSERT_EQ(sink_.sent.size(), 1u);
    EXPECT_EQ(as_string(parse(sink_.sent[0].bytes)->payload()), "threaded");
}

TEST_F(DeferredTest, UnansweredDeferralIsReclaimedAfterTheTimeout) {
    send(MessageType::con, 40);
    tick(config_.deferred_answer_timeout - 1ms);
    EXPECT_EQ(core_->deferred().in_use(), 1u);
    tick(config_.deferred_answer_timeout);
    EXPECT_EQ(core_->deferred().in_use(), 0u);
    EXPECT_FALSE(core_->complete(handles_.at(0), Response::ok("too late")));
    EXPECT_TRUE(sink_.sent.empty());
}

TEST_F(DeferredTest, RetransmittedRequestGetsTheEmptyAckAgainWithoutANewDeferral) {
    ByteVector first = send(MessageType::con, 50);
    ByteVector again = send(MessageType::con, 50, 1s);
    EXPECT_EQ(first, again);
    EXPECT_EQ(calls_, 1);
    EXPECT_EQ(core_->deferred().in_use(), 1u);
}

}  // namespace
}  // namespace coap::detail
