// Echo (RFC 9175 §2) through the sans-I/O server core, with injected time: challenges asked for
// by handlers, freshness of unsafe requests (§2.4 item 1), the amplification limit (§2.4 item 3,
// §2.6), and the default configuration where Echo plays no part. Every reply is parsed back.
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/server_core.hpp"
#include "support/bytes.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using test::ByteVector;

TimePoint at(Duration offset) {
    return TimePoint{} + offset;
}

Endpoint endpoint(std::uint16_t port) {
    return *Endpoint::from_literal("198.51.100.3", port);
}

struct Spec {
    Code method = Code::get;
    MessageType type = MessageType::con;
    std::uint16_t mid = 1;
    ByteVector token{0xec};
    std::string path = "guarded";
    std::optional<std::uint32_t> observe;
    std::optional<BlockValue> block1;
    std::optional<ByteVector> echo;
    ByteVector payload;
};

ByteVector build(const Spec& spec) {
    ByteVector out(1280);
    MessageWriter writer(out);
    writer.header(spec.type, spec.method, spec.mid, spec.token);
    if (spec.observe) writer.uint_option(OptionNumber::observe, *spec.observe);
    writer.option(OptionNumber::uri_path, spec.path);
    if (spec.block1) writer.option(OptionNumber::block1, encode_block(*spec.block1).bytes());
    if (spec.echo) writer.option(OptionNumber::echo, *spec.echo);
    writer.payload(spec.payload);
    out.resize(*writer.finish());
    return out;
}

struct Reply {
    ByteVector wire;
    MessageType type{};
    Code code = Code::empty;
    std::uint16_t mid = 0;
    std::optional<ByteVector> echo;
    std::optional<std::uint32_t> observe;
    std::string payload;
};

Reply decode(Bytes datagram) {
    Reply reply;
    reply.wire.assign(datagram.begin(), datagram.end());
    if (datagram.empty()) return reply;
    auto message = parse(datagram);
    EXPECT_TRUE(message) << "the core sent a datagram that does not parse";
    if (!message) return reply;
    EXPECT_LE(message->count(OptionNumber::echo), 1u);
    reply.type = message->type();
    reply.code = message->code();
    reply.mid = message->message_id();
    if (auto echo = message->find(OptionNumber::echo))
        reply.echo = ByteVector(echo->value.begin(), echo->value.end());
    reply.observe = message->find_uint(OptionNumber::observe);
    reply.payload = std::string(as_string(message->payload()));
    return reply;
}

class Sink final : public DatagramSink {
  public:
    bool send(const Endpoint&, Bytes) noexcept override {
        ++sent;
        return true;
    }
    std::size_t sent = 0;
};

const std::string big(500, 'B');    // more than three times any request here
const std::string upload(40, 'u');  // two full 16-byte blocks and 8 more bytes

class ServerEchoTest : public ::testing::Test {
  protected:
    ServerEchoTest() { rebuild(); }

    void rebuild() {
        core_.reset();
        core_ = std::make_unique<ServerCore>(config_, handler_, false, 0x3000ull << 16);
    }
    Reply send(const Spec& spec, Duration when = 0s, std::optional<Endpoint> from = {}) {
        std::array<std::uint8_t, 1280> reply{};
        ByteVector wire = build(spec);
        request_size_ = wire.size();
        std::size_t n = core_->on_datagram(from.value_or(client_), wire, at(when), reply);
        return decode(Bytes(reply.data(), n));
    }
    static Spec get(std::string path, std::uint16_t mid) {
        Spec spec;
        spec.path = std::move(path);
        spec.mid = mid;
        return spec;
    }
    static Spec post(std::uint16_t mid, std::optional<ByteVector> echo = {}) {
        Spec spec;
        spec.method = Code::post;
        spec.path = "act";
        spec.mid = mid;
        spec.echo = std::move(echo);
        return spec;
    }

    ServerConfig config_ = [] {
        ServerConfig c;
        c.exchange_count = 64;
        c.exchange_cache_bytes = 64 * 1024;
        c.max_arena_size = 4096;
        c.max_observers = 4;
        c.max_observe_resources = 2;
        return c;
    }();
    std::vector<std::string> calls_;  // paths, in the order the handler saw them
    std::vector<bool> verified_;      // Request::echo_verified() at every call
    std::string uploaded_;            // the body the last POST /act carried
    std::optional<bool> registered_;
    Handler handler_ = [this](Request& r) -> HandlerResult {
        std::string path(r.path().empty() ? "" : r.path().begin()->as_string());
        calls_.push_back(path);
        verified_.push_back(r.echo_verified());
        if (path == "guarded")
            return verified_.back() ? Response::ok("fresh") : Response::echo_challenge();
        if (path == "act") {
            uploaded_ = std::string(as_string(r.payload()));
            return Response::changed();
        }
        if (path == "bigpost") return Response(Code::changed, as_bytes(big));
        if (path == "obs") registered_ = r.observe(ResourceId{0});
        if (path == "big" || path == "obs") return Response::ok(big);
        return Response::ok("small");
    };
    Endpoint client_ = endpoint(41000);
    std::size_t request_size_ = 0;
    std::unique_ptr<ServerCore> core_;
};

// ---- challenges asked for by a handler (§2.3) ----

TEST_F(ServerEchoTest, AChallengeCarriesAnEchoThatVerifiesTheRepeatedRequest) {
    Reply challenge = send(get("guarded", 1));
    EXPECT_EQ(challenge.type, MessageType::ack);
    EXPECT_EQ(challenge.code, Code::unauthorized);
    ASSERT_TRUE(challenge.echo);
    EXPECT_GE(challenge.echo->size(), 1u);
    EXPECT_LE(challenge.echo->size(), 40u);  // §2.2.1
    EXPECT_EQ(core_->stats().echo_challenges, 1u);

    Spec again = get("guarded", 2);
    again.echo = challenge.echo;
    Reply answer = send(again, 1s);
    EXPECT_EQ(answer.code, Code::content);
    EXPECT_EQ(answer.payload, "fresh");
    EXPECT_FALSE(answer.echo);
    EXPECT_EQ(verified_, (std::vector<bool>{false, true}));
    EXPECT_EQ(core_->stats().echo_challenges, 1u);
}

TEST_F(ServerEchoTest, AnEchoValueIsBoundToTheEndpointItWasGivenTo) {
    Reply challenge = send(get("guarded", 1));
    ASSERT_TRUE(challenge.echo);
    Spec replay = get("guarded", 2);
    replay.echo = challenge.echo;
    EXPECT_EQ(send(replay, 1s, endpoint(41001)).code, Code::unauthorized) << "another port";
    EXPECT_EQ(send(replay, 1s, *Endpoint::from_literal("198.51.100.4", 41000)).code,
              Code::unauthorized)
        << "another address";
    EXPECT_EQ(verified_, (std::vector<bool>{false, false, false}));
}

TEST_F(ServerEchoTest, AnEchoValueExpiresAfterTheFreshnessWindow) {
    Reply challenge = send(get("guarded", 1), 5s);
    ASSERT_TRUE(challenge.echo);
    Spec again = get("guarded", 2);
    again.echo = challenge.echo;
    EXPECT_EQ(send(again, 5s + config_.echo_freshness).code, Code::content) << "just in time";
    again.mid = 3;
    EXPECT_EQ(send(again, 5s + config_.echo_freshness + 1ms).code, Code::unauthorized);
    EXPECT_EQ(verified_, (std::vector<bool>{false, true, false}));
}

TEST_F(ServerEchoTest, WorkersSharingASecretAcceptEachOthersValues) {
    EchoSecret secret{};
    secret[0] = 42;
    ServerCore first(config_, handler_, false, 1, 0, nullptr, {nullptr, &secret});
    ServerCore second(config_, handler_, false, 2, 1, nullptr, {nullptr, &secret});
    ServerCore stranger(config_, handler_, false, 3, 2, nullptr, {});
    std::array<std::uint8_t, 1280> reply{};
    std::size_t n = first.on_datagram(client_, build(get("guarded", 1)), at(0s), reply);
    Reply challenge = decode(Bytes(reply.data(), n));
    ASSERT_TRUE(challenge.echo);
    Spec again = get("guarded", 2);
    again.echo = challenge.echo;
    n = second.on_datagram(client_, build(again), at(1s), reply);
    EXPECT_EQ(decode(Bytes(reply.data(), n)).code, Code::content);
    n = stranger.on_datagram(client_, build(again), at(1s), reply);
    EXPECT_EQ(decode(Bytes(reply.data(), n)).code, Code::unauthorized) << "another key";
}

// ---- freshness of unsafe requests (§2.4 item 1) ----

TEST_F(ServerEchoTest, UnsafeRequestsWithoutAFreshEchoAreChallengedBeforeTheHandler) {
    config_.echo_required_for_unsafe = true;
    rebuild();
    Reply challenge = send(post(1));
    EXPECT_EQ(challenge.code, Code::unauthorized);
    ASSERT_TRUE(challenge.echo);
    EXPECT_TRUE(calls_.empty()) << "§2.3: the request is not processed further";

    Reply done = send(post(2, challenge.echo), 1s);
    EXPECT_EQ(done.code, Code::changed);
    EXPECT_EQ(calls_.size(), 1u);
    EXPECT_EQ(send(post(2, challenge.echo), 2s).code, Code::changed) << "a duplicate: cached";
    EXPECT_EQ(calls_.size(), 1u);

    // The same value stays good for other requests within the window (§2.4 item 1).
    Spec put = post(3, challenge.echo);
    put.method = Code::put;
    EXPECT_EQ(send(put, 3s).code, Code::changed);
    Spec del = post(4);
    del.method = Code::del;
    EXPECT_EQ(send(del, 3s).code, Code::unauthorized);
    // Safe methods are not affected.
    EXPECT_EQ(send(get("small", 5), 3s).code, Code::content);
    EXPECT_EQ(calls_, (std::vector<std::string>{"act", "act", "small"}));
    EXPECT_EQ(core_->stats().echo_challenges, 2u);
}

TEST_F(ServerEchoTest, OnlyTheFirstBlockOfAnUploadNeedsTheEcho) {
    config_.echo_required_for_unsafe = true;
    rebuild();
    auto block = [&](std::uint32_t num, std::uint16_t mid, std::optional<ByteVector> echo) {
        Spec spec = post(mid, std::move(echo));
        bool more = (num + 1) * 16 < upload.size();
        spec.block1 = BlockValue{num, more, 0};
        std::string part = upload.substr(num * 16, 16);
        spec.payload.assign(part.begin(), part.end());
        return send(spec, std::chrono::seconds(mid));
    };
    Reply challenge = block(0, 1, std::nullopt);
    EXPECT_EQ(challenge.code, Code::unauthorized);
    ASSERT_TRUE(challenge.echo);
    EXPECT_EQ(block(0, 2, challenge.echo).code, Code::continue_);
    EXPECT_EQ(block(1, 3, std::nullopt).code, Code::continue_);
    EXPECT_EQ(block(2, 4, std::nullopt).code, Code::changed);
    EXPECT_EQ(uploaded_, upload);
    EXPECT_EQ(calls_.size(), 1u);
    // A later block with no upload behind it gains nothing: 4.08, never the handler.
    EXPECT_EQ(block(2, 5, std::nullopt).code, Code::request_entity_incomplete);
    EXPECT_EQ(calls_.size(), 1u);
}

TEST_F(ServerEchoTest, BlocksAHandlerReassemblesItselfEachNeedTheEcho) {
    // With Block1 listed, every block reaches the handler, which may act on it (RFC 7959
    // §2.5): none of them is exempt.
    config_.echo_required_for_unsafe = true;
    config_.recognized_options = {27};
    rebuild();
    Spec later = post(1);
    later.block1 = BlockValue{1, false, 0};
    later.payload = {'x'};
    EXPECT_EQ(send(later).code, Code::unauthorized);
    EXPECT_TRUE(calls_.empty());
}

// ---- the amplification limit (§2.4 item 3, §2.6) ----

TEST_F(ServerEchoTest, ALargeAnswerToAnUnverifiedGetBecomesASmallChallenge) {
    config_.echo_amplification_limit = true;
    rebuild();
    Reply challenge = send(get("big", 1));
    EXPECT_EQ(challenge.code, Code::unauthorized);
    ASSERT_TRUE(challenge.echo);
    EXPECT_LE(challenge.wire.size(), 3 * request_size_);
    EXPECT_TRUE(challenge.payload.empty());
    EXPECT_EQ(send(get("big", 1), 1s).wire, challenge.wire) << "a duplicate gets the cached 4.01";

    Spec again = get("big", 2);
    again.echo = challenge.echo;
    Reply answer = send(again, 2s);
    EXPECT_EQ(answer.code, Code::content);
    EXPECT_EQ(answer.payload, big);
    EXPECT_EQ(calls_, (std::vector<std::string>{"big", "big"}));

    EXPECT_EQ(send(get("small", 3), 3s).code, Code::content) << "within three times";
    Spec other = get("big", 4);
    EXPECT_EQ(send(other, 3s, endpoint(41002)).code, Code::unauthorized) << "not verified";
    EXPECT_EQ(core_->stats().echo_challenges, 2u);
}

TEST_F(ServerEchoTest, TheAmplificationLimitNeverReplacesAnUnsafeMethodsAnswer) {
    config_.echo_amplification_limit = true;
    rebuild();
    Spec spec = post(1);
    spec.path = "bigpost";  // a 500-byte 2.04: repeating the POST would act twice
    Reply answer = send(spec);
    EXPECT_EQ(answer.code, Code::changed);
    EXPECT_EQ(answer.payload, big);
    EXPECT_EQ(calls_.size(), 1u);
    EXPECT_EQ(core_->stats().echo_challenges, 0u);
}

TEST_F(ServerEchoTest, ARegistrationReplacedByTheChallengeIsNotKept) {
    config_.echo_amplification_limit = true;
    rebuild();
    Spec observe = get("obs", 1);
    observe.observe = 0;
    Reply challenge = send(observe);
    EXPECT_EQ(challenge.code, Code::unauthorized);
    EXPECT_FALSE(challenge.observe);
    EXPECT_EQ(core_->observers().observers(), 0u);
    ASSERT_TRUE(core_->hub().publish(ResourceId{0}, Response::ok("v1")));
    Sink sink;
    core_->on_timers(at(1s), sink);
    EXPECT_EQ(sink.sent, 0u);

    observe.mid = 2;
    observe.echo = challenge.echo;
    Reply registered = send(observe, 2s);
    EXPECT_EQ(registered.code, Code::content);
    EXPECT_TRUE(registered.observe);
    EXPECT_EQ(core_->observers().observers(), 1u);
}

// ---- Echo off (the default) ----

TEST_F(ServerEchoTest, WithEchoOffNothingIsChallengedAndGarbageEchoValuesAreHarmless) {
    ASSERT_FALSE(config_.echo_required_for_unsafe);
    ASSERT_FALSE(config_.echo_amplification_limit);
    std::vector<ByteVector> garbage{{}, {1}, ByteVector(13, 0x01), ByteVector(40, 0xff)};
    std::uint16_t mid = 1;
    for (const ByteVector& value : garbage) {
        Spec big_get = get("big", mid++);
        big_get.echo = value;
        Reply answer = send(big_get);
        EXPECT_EQ(answer.code, Code::content);
        EXPECT_EQ(answer.payload, big);
        EXPECT_FALSE(answer.echo);
        Reply changed = send(post(mid++, value));
        EXPECT_EQ(changed.code, Code::changed);
        EXPECT_FALSE(changed.echo);
    }
    EXPECT_EQ(calls_.size(), 2 * garbage.size());
    for (bool verified : verified_)
        EXPECT_FALSE(verified);
    EXPECT_EQ(core_->stats().echo_challenges, 0u);
}

}  // namespace
}  // namespace coap::detail
