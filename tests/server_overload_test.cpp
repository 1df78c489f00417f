// Overload protection in the server core, with injected time: the load level follows the
// receive ring's fill per batch, throttling applies the per-IP rate limit, shedding refuses new
// requests (4.29 with Max-Age for CON, silence for NON by default) while retransmissions are
// still answered from the duplicate cache.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "server/server_core.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using ByteVector = std::vector<std::uint8_t>;

struct NullSink final : DatagramSink {
    bool send(const Endpoint&, Bytes) noexcept override { return true; }
};

ByteVector request(MessageType type, std::uint16_t id, std::string_view path = "test") {
    std::array<std::uint8_t, 64> out{};
    MessageWriter writer(out);
    std::array<std::uint8_t, 2> token{0xab, static_cast<std::uint8_t>(id)};
    writer.header(type, Code::get, id, token);
    writer.option(OptionNumber::uri_path, path);
    return ByteVector(out.begin(), out.begin() + *writer.finish());
}

class OverloadTest : public ::testing::Test {
  protected:
    OverloadTest() {
        config_.buffer_count = 10;  // a batch of 10 datagrams fills the ring: 100 %
        config_.exchange_count = 1024;
        config_.exchange_cache_bytes = 256 * 1024;
        config_.max_arena_size = 4096;
        config_.load_shed_throttle_pct = 50;  // 5 datagrams in a batch
        config_.load_shed_critical_pct = 90;  // 9
        config_.load_shed_recover_pct = 20;   // fewer than 2
        config_.rate_limit_tokens_per_sec = 1;
        config_.rate_limit_burst = 2;
    }
    void build() { core_ = std::make_unique<ServerCore>(config_, handler_, false, 42); }

    // Sends one datagram from `from` and returns the reply (empty if none).
    ByteVector send(const ByteVector& datagram, const Endpoint& from, Duration when) {
        std::array<std::uint8_t, 1280> reply{};
        std::size_t n = core_->on_datagram(from, datagram, TimePoint{} + when, reply);
        return ByteVector(reply.begin(), reply.begin() + n);
    }
    // `count` datagrams from distinct endpoints in one batch, then the batch end. With
    // `overflowing`, the kernel dropped datagrams in that batch too: a flood.
    void batch(int count, Duration when, bool overflowing = true) {
        for (int i = 0; i < count; ++i, ++next_)
            send(request(MessageType::non, static_cast<std::uint16_t>(5000 + next_)),
                 *Endpoint::from_literal("10.9.0.1", static_cast<std::uint16_t>(20000 + next_)),
                 when);
        if (overflowing) core_->note_kernel_drops(++kernel_drops_);
        NullSink sink;
        core_->on_timers(TimePoint{} + when, sink);
    }
    static Code code_of(const ByteVector& reply) {
        auto message = parse(Bytes(reply.data(), reply.size()));
        return message ? message->code() : Code::empty;
    }

    ServerConfig config_;
    int calls_ = 0;
    Handler handler_ = [this](Request&) -> HandlerResult {
        ++calls_;
        return Response::ok("hello");
    };
    std::unique_ptr<ServerCore> core_;
    Endpoint client_ = *Endpoint::from_literal("192.0.2.7", 40000);
    int next_ = 0;
    std::uint64_t kernel_drops_ = 0;
};

TEST_F(OverloadTest, LevelsFollowTheReceiveRingWithHysteresis) {
    build();
    EXPECT_EQ(core_->load_level(), LoadLevel::normal);
    batch(5, 0ms);
    EXPECT_EQ(core_->load_level(), LoadLevel::throttled);
    batch(9, 1ms);
    EXPECT_EQ(core_->load_level(), LoadLevel::shedding);
    batch(5, 2ms);  // below critical but not below recover: stays
    EXPECT_EQ(core_->load_level(), LoadLevel::shedding);
    batch(1, 3ms);
    EXPECT_EQ(core_->load_level(), LoadLevel::normal);
}

// A worker that keeps up with many clients may see full batches; without kernel drops that is
// a deep queue being drained, not an overload.
TEST_F(OverloadTest, AFullRingWithoutKernelDropsIsNoOverload) {
    build();
    batch(10, 0ms, false);
    batch(10, 1ms, false);
    EXPECT_EQ(core_->load_level(), LoadLevel::normal);
    batch(10, 2ms, true);
    EXPECT_EQ(core_->load_level(), LoadLevel::shedding);
    batch(10, 500ms, false);  // no new drops, but within a second of the last: still a flood
    EXPECT_EQ(core_->load_level(), LoadLevel::shedding);
    batch(10, 1100ms, false);
    EXPECT_EQ(core_->load_level(), LoadLevel::normal) << "a second without drops";
}

TEST_F(OverloadTest, SheddingRefusesNewConWith429AndMaxAgeAndDropsNon) {
    build();
    batch(10, 0ms);
    ASSERT_EQ(core_->load_level(), LoadLevel::shedding);
    int before = calls_;
    ByteVector reply = send(request(MessageType::con, 7), client_, 1ms);
    auto message = parse(Bytes(reply.data(), reply.size()));
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(message->type(), MessageType::ack);
    EXPECT_EQ(message->message_id(), 7);
    EXPECT_EQ(message->code(), Code::too_many_requests);
    EXPECT_TRUE(message->find_uint(OptionNumber::max_age).has_value());
    EXPECT_TRUE(send(request(MessageType::non, 8), client_, 1ms).empty()) << "NON: silence";
    EXPECT_EQ(calls_, before) << "no handler ran while shedding";
    EXPECT_EQ(core_->stats().shed, 2u);
}

TEST_F(OverloadTest, SheddingStillAnswersRetransmissionsFromTheCache) {
    build();
    ByteVector first = send(request(MessageType::con, 11), client_, 0ms);
    ASSERT_EQ(code_of(first), Code::content);
    NullSink sink;
    core_->on_timers(TimePoint{}, sink);
    batch(10, 1ms);
    ASSERT_EQ(core_->load_level(), LoadLevel::shedding);
    int before = calls_;
    EXPECT_EQ(send(request(MessageType::con, 11), client_, 2ms), first);
    EXPECT_EQ(calls_, before);
}

TEST_F(OverloadTest, ARefusalIsNotCachedSoTheRetransmissionIsServedOnceLoadIsGone) {
    build();
    batch(10, 0ms);
    int before = calls_;
    EXPECT_EQ(code_of(send(request(MessageType::con, 21), client_, 1ms)), Code::too_many_requests);
    batch(0, 2ms);
    ASSERT_EQ(core_->load_level(), LoadLevel::normal);
    EXPECT_EQ(code_of(send(request(MessageType::con, 21), client_, 3ms)), Code::content);
    EXPECT_EQ(calls_, before + 1);
}

TEST_F(OverloadTest, ThrottlingRateLimitsPerIp) {
    build();
    batch(5, 0ms);
    ASSERT_EQ(core_->load_level(), LoadLevel::throttled);
    // Burst 2, then refused; another IP is unaffected; a token comes back after 1 s.
    EXPECT_EQ(code_of(send(request(MessageType::con, 31), client_, 1ms)), Code::content);
    EXPECT_EQ(code_of(send(request(MessageType::con, 32), client_, 1ms)), Code::content);
    EXPECT_EQ(code_of(send(request(MessageType::con, 33), client_, 1ms)), Code::too_many_requests);
    Endpoint other = *Endpoint::from_literal("192.0.2.8", 40000);
    EXPECT_EQ(code_of(send(request(MessageType::con, 34), other, 1ms)), Code::content);
    Endpoint same_ip_other_port = *Endpoint::from_literal("192.0.2.7", 40001);
    EXPECT_EQ(code_of(send(request(MessageType::con, 35), same_ip_other_port, 1ms)),
              Code::too_many_requests)
        << "the limit is per IP address, not per port";
    EXPECT_EQ(code_of(send(request(MessageType::con, 36), client_, 1001ms)), Code::content);
    EXPECT_EQ(core_->stats().rate_limited, 2u);
}

TEST_F(OverloadTest, RstRefusalWhenConfigured) {
    config_.overload_reply_con = OverloadReply::reset;
    build();
    batch(10, 0ms);
    ByteVector reply = send(request(MessageType::con, 41), client_, 1ms);
    auto message = parse(Bytes(reply.data(), reply.size()));
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(message->type(), MessageType::rst);
    EXPECT_EQ(message->message_id(), 41);
}

TEST_F(OverloadTest, NormalLoadNeverConsultsTheRateLimiter) {
    build();
    for (int i = 0; i < 100; ++i)
        EXPECT_EQ(code_of(send(request(MessageType::con, static_cast<std::uint16_t>(100 + i)),
                               client_, 1ms)),
                  Code::content);
    EXPECT_EQ(core_->rate_limiter().stats().allowed + core_->rate_limiter().stats().limited, 0u);
}

}  // namespace
}  // namespace coap::detail
