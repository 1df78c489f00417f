// Observe (RFC 7641) through the sans-I/O server core, with injected time: registrations and
// deregistrations settled after the handler, notifications sent from on_timers, ACK and RST
// routed to the observer table, CON retransmission, send pacing, and Observe with Block2
// (RFC 7959 §2.6). Every datagram the core sends is parsed back with coap::parse.
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <set>
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
    return *Endpoint::from_literal("192.0.2.7", port);
}

struct Spec {
    Code method = Code::get;
    MessageType type = MessageType::con;
    std::uint16_t mid = 1;
    ByteVector token{0x0b, 0x5e};
    std::optional<std::uint32_t> observe;
    std::string path = "obs";
    std::optional<BlockValue> block2;
};

ByteVector build(const Spec& spec) {
    ByteVector out(256);
    MessageWriter writer(out);
    writer.header(spec.type, spec.method, spec.mid, spec.token);
    if (spec.observe) writer.uint_option(OptionNumber::observe, *spec.observe);
    writer.option(OptionNumber::uri_path, spec.path);
    if (spec.block2) writer.option(OptionNumber::block2, encode_block(*spec.block2).bytes());
    out.resize(*writer.finish());
    return out;
}

// A datagram parsed back; `sent` is false when the core sent nothing.
struct Seen {
    bool sent = false;
    Endpoint peer;
    MessageType type{};
    Code code{};
    std::uint16_t mid = 0;
    ByteVector token;
    std::optional<std::uint32_t> observe, max_age, content_format, size2;
    std::optional<BlockValue> block2;
    std::optional<ByteVector> etag;
    bool echo = false;
    std::string payload;
};

Seen decode(const Endpoint& peer, Bytes datagram) {
    Seen seen;
    if (datagram.empty()) return seen;
    auto message = parse(datagram);
    EXPECT_TRUE(message) << "the core sent a datagram that does not parse";
    if (!message) return seen;
    EXPECT_LE(message->count(OptionNumber::observe), 1u);
    EXPECT_LE(message->count(OptionNumber::etag), 1u);
    seen.sent = true;
    seen.peer = peer;
    seen.type = message->type();
    seen.code = message->code();
    seen.mid = message->message_id();
    seen.token.assign(message->token().begin(), message->token().end());
    seen.observe = message->find_uint(OptionNumber::observe);
    seen.max_age = message->find_uint(OptionNumber::max_age);
    seen.content_format = message->find_uint(OptionNumber::content_format);
    seen.size2 = message->find_uint(OptionNumber::size2);
    if (auto block = message->find(OptionNumber::block2)) seen.block2 = decode_block(block->value);
    if (auto tag = message->find(OptionNumber::etag))
        seen.etag = ByteVector(tag->value.begin(), tag->value.end());
    seen.echo = message->has(OptionNumber::echo);
    seen.payload = std::string(as_string(message->payload()));
    return seen;
}

// Collects what on_timers sends; available() paces the notification rounds.
class Sink final : public DatagramSink {
  public:
    bool send(const Endpoint& peer, Bytes datagram) noexcept override {
        if (refuse) return false;
        seen.push_back(decode(peer, datagram));
        return true;
    }
    std::size_t available() const noexcept override { return budget; }

    std::vector<Seen> seen;
    std::size_t budget = SIZE_MAX;
    bool refuse = false;
};

std::string body_of_size(std::size_t size) {
    std::string body;
    for (int i = 0; body.size() < size; ++i)
        body += std::to_string(i) + ",";
    body.resize(size);
    return body;
}

class ServerObserveTest : public ::testing::Test {
  protected:
    ServerObserveTest() { rebuild(); }

    void rebuild() {
        core_.reset();
        core_ = std::make_unique<ServerCore>(config_, handler_, false, 0x2000ull << 16);
    }

    Seen send(const Spec& spec, Duration when = 0s, std::optional<Endpoint> from = {}) {
        std::array<std::uint8_t, 1280> reply{};
        const Endpoint peer = from.value_or(client_);
        std::size_t n = core_->on_datagram(peer, build(spec), at(when), reply);
        return decode(peer, Bytes(reply.data(), n));
    }
    // GET with Observe=0 for /obs.
    Seen subscribe(ByteVector token, std::uint16_t mid, Duration when = 0s,
                   std::optional<Endpoint> from = {}) {
        Spec spec;
        spec.token = std::move(token);
        spec.mid = mid;
        spec.observe = 0;
        return send(spec, when, from);
    }
    void empty_message(MessageType type, const Seen& notification, Duration when) {
        std::array<std::uint8_t, 4> wire{
            static_cast<std::uint8_t>(0x40 | static_cast<unsigned>(type) << 4), 0,
            static_cast<std::uint8_t>(notification.mid >> 8),
            static_cast<std::uint8_t>(notification.mid)};
        std::array<std::uint8_t, 64> reply{};
        EXPECT_EQ(core_->on_datagram(notification.peer, wire, at(when), reply), 0u);
    }
    void ack(const Seen& notification, Duration when) {
        empty_message(MessageType::ack, notification, when);
    }
    void reset(const Seen& notification, Duration when) {
        empty_message(MessageType::rst, notification, when);
    }
    // Sends what is due at `when`; returns how many datagrams went out.
    std::size_t tick(Duration when) {
        std::size_t before = sink_.seen.size();
        core_->on_timers(at(when), sink_);
        return sink_.seen.size() - before;
    }
    bool publish(const std::string& body, NotificationType type = NotificationType::automatic,
                 Code code = Code::content) {
        kept_ = body;  // publish copies; this only keeps the view valid meanwhile
        Response response(code, as_bytes(kept_));
        response.content_format(ContentFormat::text_plain).max_age(60);
        return core_->hub().publish(ResourceId{0}, response, type);
    }
    const Seen& last() const { return sink_.seen.back(); }
    const ObserverTable& table() const { return core_->observers(); }

    ServerConfig config_ = [] {
        ServerConfig c;
        c.exchange_count = 64;
        c.exchange_cache_bytes = 64 * 1024;
        c.max_arena_size = 4096;
        c.max_observers = 8;
        c.max_observe_resources = 4;
        return c;
    }();
    int calls_ = 0;
    std::optional<bool> registered_;  // what Request::observe() returned last
    std::string current_ = "v0";      // what GET /obs answers
    // /obs is observable, /plain is not, anything else is 4.04 (the handler never observes).
    std::function<HandlerResult(Request&)> behaviour_ = [this](Request& r) -> HandlerResult {
        std::string_view path = r.path().empty() ? "" : r.path().begin()->as_string();
        if (path == "plain") return Response::ok("plain");
        if (path != "obs") return Response::not_found();
        registered_ = r.observe(ResourceId{0});
        return Response::content(ContentFormat::text_plain, current_).max_age(60);
    };
    Handler handler_ = [this](Request& r) {
        ++calls_;
        return behaviour_(r);
    };
    Endpoint client_ = endpoint(40000);
    Sink sink_;
    std::string kept_;
    std::unique_ptr<ServerCore> core_;
};

// ---- registration (RFC 7641 §4.1) ----

TEST_F(ServerObserveTest, RegistrationIsAnsweredWithObserveInThePiggybackedAck) {
    Seen reply = subscribe({0x0b, 0x5e}, 10);
    EXPECT_EQ(reply.type, MessageType::ack);
    EXPECT_EQ(reply.code, Code::content);
    EXPECT_EQ(reply.mid, 10);
    EXPECT_EQ(reply.token, test::bytes({0x0b, 0x5e}));
    EXPECT_TRUE(reply.observe);
    EXPECT_EQ(reply.payload, "v0");
    EXPECT_EQ(registered_, true);
    EXPECT_EQ(table().observers(), 1u);
    EXPECT_EQ(table().observers(ResourceId{0}), 1u);
    // A retransmitted registration gets the cached ACK; it is still one observer.
    Seen again = subscribe({0x0b, 0x5e}, 10, 1s);
    EXPECT_EQ(again.observe, reply.observe);
    EXPECT_EQ(calls_, 1);
    EXPECT_EQ(table().observers(), 1u);
}

TEST_F(ServerObserveTest, AResourceWhoseHandlerDoesNotCallObserveIsNotObservable) {
    Spec spec;
    spec.observe = 0;
    spec.path = "plain";
    Seen reply = send(spec);
    EXPECT_EQ(reply.code, Code::content);
    EXPECT_FALSE(reply.observe) << "§4.1: no Observe tells the client it is not registered";
    EXPECT_EQ(table().observers(), 0u);
}

TEST_F(ServerObserveTest, PostWithObserveRegistersNothing) {
    Spec spec;
    spec.method = Code::post;
    spec.observe = 0;
    Seen reply = send(spec);
    EXPECT_EQ(registered_, false) << "Observe is defined for GET (and FETCH) only";
    EXPECT_FALSE(reply.observe);
    EXPECT_EQ(table().observers(), 0u);
}

TEST_F(ServerObserveTest, AnErrorAnswerRegistersNothingAndEndsTheEarlierRegistration) {
    ASSERT_TRUE(subscribe({1}, 1).observe);
    ASSERT_EQ(table().observers(), 1u);
    behaviour_ = [this](Request& r) -> HandlerResult {
        registered_ = r.observe(ResourceId{0});
        return Response::with_code(Code::service_unavailable);
    };
    Seen reply = subscribe({1}, 2);
    EXPECT_EQ(reply.code, Code::service_unavailable);
    EXPECT_FALSE(reply.observe) << "§4.2: a non-2.xx response carries no Observe";
    EXPECT_EQ(table().observers(), 0u);
    ASSERT_TRUE(publish("v1"));
    EXPECT_EQ(tick(1s), 0u);
}

TEST_F(ServerObserveTest, AnErrorFromAHandlerThatNeverObservesAlsoEndsTheRegistration) {
    // The client takes any answer without Observe as the end of the observation (§3.2), so
    // an entry left under its token would notify a token the client has given up.
    ASSERT_TRUE(subscribe({2}, 1).observe);
    Spec gone;
    gone.observe = 0;
    gone.token = {2};
    gone.mid = 2;
    gone.path = "gone";  // 4.04 from a handler that does not call observe()
    EXPECT_EQ(send(gone).code, Code::not_found);
    EXPECT_EQ(table().observers(), 0u);
}

TEST_F(ServerObserveTest, ObserveOneDeregistersAndTheGetIsAnsweredAsUsual) {
    ASSERT_TRUE(subscribe({3}, 1).observe);
    Spec cancel;
    cancel.observe = 1;
    cancel.token = {3};
    cancel.mid = 2;
    Seen reply = send(cancel, 1s);
    EXPECT_EQ(reply.code, Code::content);
    EXPECT_EQ(reply.payload, "v0");
    EXPECT_FALSE(reply.observe) << "§4.1: the response to Observe=1 has no Observe";
    EXPECT_EQ(registered_, false);
    EXPECT_EQ(table().observers(), 0u);
    ASSERT_TRUE(publish("v1"));
    EXPECT_EQ(tick(2s), 0u) << "the publish reaches nobody";
}

TEST_F(ServerObserveTest, APlainGetWithAnotherTokenDoesNotCancel) {  // ETSI TD_COAP_OBS_10
    ASSERT_TRUE(subscribe({4}, 1).observe);
    Spec plain;
    plain.token = {5};
    plain.mid = 2;
    Seen reply = send(plain, 1s);
    EXPECT_EQ(reply.payload, "v0");
    EXPECT_FALSE(reply.observe);
    EXPECT_EQ(table().observers(), 1u);
    ASSERT_TRUE(publish("v1"));
    ASSERT_EQ(tick(2s), 1u);
    EXPECT_EQ(last().token, test::bytes({4}));
}

TEST_F(ServerObserveTest, RegisteringTheSameTokenAgainRefreshesTheEntry) {
    Seen first = subscribe({6}, 1);
    Seen second = subscribe({6}, 2, 1s);
    ASSERT_TRUE(first.observe && second.observe);
    EXPECT_GT(*second.observe, *first.observe);
    EXPECT_EQ(table().observers(), 1u);
    EXPECT_EQ(table().stats().refreshed, 1u);
    ASSERT_TRUE(publish("v1"));
    EXPECT_EQ(tick(2s), 1u) << "one entry, one notification";
}

TEST_F(ServerObserveTest, AFullTableAnswersWithoutObserve) {
    config_.max_observers = 2;
    rebuild();
    EXPECT_TRUE(subscribe({1}, 1).observe);
    EXPECT_TRUE(subscribe({2}, 2).observe);
    Seen refused = subscribe({3}, 3);
    EXPECT_EQ(refused.code, Code::content);
    EXPECT_EQ(refused.payload, "v0") << "§4.1: processed as a plain GET";
    EXPECT_FALSE(refused.observe);
    EXPECT_EQ(core_->stats().observe_refused, 1u);
    EXPECT_EQ(table().observers(), 2u);
    EXPECT_TRUE(subscribe({1}, 4).observe) << "refreshing an entry needs no free slot";
}

TEST_F(ServerObserveTest, ARegistrationTheBlockLayerAnswersWithAnErrorRegistersNothing) {
    // Block2 NUM 3 of a 2-byte body: 4.02 from the block layer although the handler said 2.05.
    Spec spec;
    spec.observe = 0;
    spec.token = {19};
    spec.block2 = BlockValue{3, false, 6};
    Seen reply = send(spec);
    EXPECT_EQ(reply.code, Code::bad_option);
    EXPECT_FALSE(reply.observe) << "§4.2: a non-2.xx response carries no Observe";
    EXPECT_EQ(table().observers(), 0u);
}

TEST_F(ServerObserveTest, ARegistrationWhoseResponseCannotBeEncodedRegistersNothing) {
    behaviour_ = [](Request& r) -> HandlerResult {
        r.observe(ResourceId{0});
        Response response = Response::ok("x");
        for (int i = 0; i < 20; ++i)  // more options than a Response holds: 5.00 instead
            response.location_query("q");
        return response;
    };
    Seen reply = subscribe({20}, 1);
    EXPECT_EQ(reply.code, Code::internal_server_error);
    EXPECT_FALSE(reply.observe);
    EXPECT_EQ(table().observers(), 0u);
}

// ---- notifications (§4.2, §4.4, §4.5) ----

TEST_F(ServerObserveTest, NotificationsAreNonExceptEveryNthWhichIsCon) {
    config_.observe_con_interval = 3;
    rebuild();
    Seen registration = subscribe({7, 7}, 1);
    ASSERT_TRUE(registration.observe);
    std::uint32_t previous = *registration.observe;
    std::vector<MessageType> types;
    for (int v = 1; v <= 6; ++v) {
        Duration when = std::chrono::seconds(v);
        ASSERT_TRUE(publish("v" + std::to_string(v)));
        ASSERT_EQ(tick(when), 1u) << "version " << v;
        const Seen& n = last();
        types.push_back(n.type);
        EXPECT_EQ(n.code, Code::content);
        EXPECT_EQ(n.token, test::bytes({7, 7}));
        EXPECT_EQ(n.peer, client_);
        EXPECT_EQ(n.payload, "v" + std::to_string(v));
        EXPECT_EQ(n.max_age, 60u) << "§4.3.1: Max-Age passes through";
        EXPECT_EQ(n.content_format, 0u);
        ASSERT_TRUE(n.observe);
        EXPECT_GT(*n.observe, previous) << "§4.4: strictly increasing";
        previous = *n.observe;
        if (n.type == MessageType::con) ack(n, when + 10ms);
    }
    using enum MessageType;
    EXPECT_EQ(types, (std::vector<MessageType>{non, non, con, non, non, con}));
    std::set<std::uint16_t> mids;
    for (const Seen& n : sink_.seen)
        mids.insert(n.mid);
    EXPECT_EQ(mids.size(), sink_.seen.size()) << "a fresh Message ID for every notification";
}

TEST_F(ServerObserveTest, ConfirmablePublishesGoOutAsConToEveryObserver) {
    subscribe({1}, 1, 0s, endpoint(5001));
    subscribe({2}, 2, 0s, endpoint(5002));
    ASSERT_TRUE(publish("alarm", NotificationType::confirmable));
    ASSERT_EQ(tick(1s), 2u);
    for (const Seen& n : sink_.seen) {
        EXPECT_EQ(n.type, MessageType::con);
        EXPECT_EQ(n.payload, "alarm");
    }
    EXPECT_EQ(table().in_flight(), 2u);
    ack(sink_.seen[0], 1100ms);
    ack(sink_.seen[1], 1100ms);
    EXPECT_EQ(table().in_flight(), 0u);
    EXPECT_EQ(core_->stats().ignored, 0u) << "the ACKs were matched";
}

TEST_F(ServerObserveTest, AnErrorPublishIsSentWithoutObserveAndEndsTheObservation) {
    ASSERT_TRUE(subscribe({8}, 1).observe);
    ASSERT_TRUE(publish("deleted", NotificationType::automatic, Code::not_found));
    ASSERT_EQ(tick(1s), 1u);
    EXPECT_EQ(last().code, Code::not_found);
    EXPECT_FALSE(last().observe) << "§4.2: a non-2.xx notification has no Observe";
    EXPECT_EQ(last().token, test::bytes({8}));
    EXPECT_EQ(table().observers(), 0u);
    ASSERT_TRUE(publish("back"));
    EXPECT_EQ(tick(2s), 0u);
}

TEST_F(ServerObserveTest, AConfirmableErrorIsRetransmittedUntilAcknowledged) {
    ASSERT_TRUE(subscribe({9}, 1).observe);
    ASSERT_TRUE(publish("deleted", NotificationType::confirmable, Code::not_found));
    ASSERT_EQ(tick(1s), 1u);
    Seen error = last();
    EXPECT_EQ(error.type, MessageType::con);
    EXPECT_EQ(table().observers(), 0u);
    std::size_t sent = 0;
    for (Duration t = 1010ms; t <= 4s && sent == 0; t += 10ms)
        sent = tick(t);
    ASSERT_EQ(sent, 1u);
    EXPECT_EQ(last().mid, error.mid);
    ack(last(), 4s);
    EXPECT_EQ(table().in_flight(), 0u);
    for (Duration t = 4s; t <= 100s; t += 100ms)
        ASSERT_EQ(tick(t), 0u);
}

TEST_F(ServerObserveTest, AResetToANonOrConNotificationRemovesTheObserver) {
    Duration base = 0s;
    std::uint16_t mid = 20;
    for (NotificationType type : {NotificationType::automatic, NotificationType::confirmable}) {
        ASSERT_TRUE(subscribe({10}, mid++, base).observe);
        ASSERT_TRUE(publish("v", type));
        ASSERT_EQ(tick(base + 1s), 1u);
        reset(last(), base + 1100ms);  // §3.6: the client forgot the observation
        EXPECT_EQ(table().observers(), 0u);
        EXPECT_EQ(table().in_flight(), 0u);
        ASSERT_TRUE(publish("w"));
        EXPECT_EQ(tick(base + 2s), 0u);
        base += 10s;
    }
    EXPECT_EQ(table().stats().removed_by_reset, 2u);
}

TEST_F(ServerObserveTest, AnAckStopsTheRetransmissions) {
    ASSERT_TRUE(subscribe({11}, 1).observe);
    ASSERT_TRUE(publish("v1", NotificationType::confirmable));
    ASSERT_EQ(tick(1s), 1u);
    ack(last(), 1500ms);
    for (Duration t = 1500ms; t <= 100s; t += 50ms)
        ASSERT_EQ(tick(t), 0u) << "at " << t.count();
    EXPECT_EQ(table().observers(), 1u);
    EXPECT_EQ(table().stats().retransmissions, 0u);
}

TEST_F(ServerObserveTest, AnUnacknowledgedConIsRetransmittedThenTheObserverIsRemoved) {
    // ETSI TD_COAP_OBS_05 ("client OFF"); RFC 7252 §4.2: ACK_TIMEOUT x [1, 1.5], doubled after
    // every retransmission, MAX_RETRANSMIT 4; RFC 7641 §4.5: then the observer is removed.
    ASSERT_TRUE(subscribe({12}, 1).observe);
    ASSERT_TRUE(publish("v1", NotificationType::confirmable));
    ASSERT_EQ(tick(1s), 1u);
    std::vector<Duration> times{1s};
    std::optional<Duration> removed;
    for (Duration t = 1010ms; t <= 100s; t += 10ms) {
        if (tick(t) != 0) times.push_back(t);
        if (!removed && table().observers() == 0) removed = t;
    }
    ASSERT_EQ(times.size(), 5u) << "one transmission and four retransmissions";
    for (const Seen& n : sink_.seen) {
        EXPECT_EQ(n.type, MessageType::con);
        EXPECT_EQ(n.mid, sink_.seen[0].mid) << "an unchanged version keeps its Message ID";
        EXPECT_EQ(n.payload, "v1");
        ASSERT_TRUE(n.observe);
        EXPECT_GE(*n.observe, *sink_.seen[0].observe);
    }
    Duration first = times[1] - times[0];
    EXPECT_GE(first, 2s);
    EXPECT_LE(first, 3s + 10ms);
    for (std::size_t i = 2; i < times.size(); ++i) {
        Duration interval = times[i] - times[i - 1];
        EXPECT_GE(interval, (times[i - 1] - times[i - 2]) * 2 - 20ms) << i;
        EXPECT_LE(interval, (times[i - 1] - times[i - 2]) * 2 + 20ms) << i;
    }
    ASSERT_TRUE(removed);
    Duration last_timeout = *removed - times.back();
    EXPECT_GE(last_timeout, (times[4] - times[3]) * 2 - 20ms);
    EXPECT_LE(last_timeout, (times[4] - times[3]) * 2 + 20ms);
    EXPECT_GE(*removed - times[0], 62s);
    EXPECT_LE(*removed - times[0], 93s + 50ms);
    EXPECT_EQ(table().stats().removed_by_timeout, 1u);
    EXPECT_EQ(table().in_flight(), 0u);
}

TEST_F(ServerObserveTest, RoundsArePacedByTheSinksRoom) {
    for (std::uint16_t i = 0; i < 5; ++i)
        ASSERT_TRUE(subscribe({static_cast<std::uint8_t>(i)}, i, 0s,
                              endpoint(static_cast<std::uint16_t>(6000 + i)))
                        .observe);
    sink_.budget = 2;
    ASSERT_TRUE(publish("v1"));
    EXPECT_EQ(tick(1s), 2u);
    EXPECT_EQ(tick(1010ms), 2u);
    EXPECT_EQ(tick(1020ms), 1u);
    EXPECT_EQ(tick(1030ms), 0u);
    std::set<std::uint16_t> ports;
    for (const Seen& n : sink_.seen)
        ports.insert(n.peer.port());
    EXPECT_EQ(ports.size(), 5u) << "everybody once, nobody twice";

    sink_.budget = SIZE_MAX;
    sink_.refuse = true;  // a full send queue: nobody is skipped
    ASSERT_TRUE(publish("v2"));
    EXPECT_EQ(tick(2s), 0u);
    sink_.refuse = false;
    EXPECT_EQ(tick(2010ms), 5u);
}

TEST_F(ServerObserveTest, StrayAcksAndResetsAreIgnored) {
    ASSERT_TRUE(subscribe({13}, 1).observe);
    Seen stray;
    stray.peer = client_;
    stray.mid = 0x4242;
    ack(stray, 1s);
    reset(stray, 1s);
    EXPECT_EQ(core_->stats().ignored, 2u);
    EXPECT_EQ(table().observers(), 1u);
}

// ---- Observe with Block2 (RFC 7959 §2.6) ----

TEST_F(ServerObserveTest, ALargeRegistrationGetsItsFirstBlockAndTheRestFromTheRerunHandler) {
    current_ = body_of_size(2500);
    Seen first = subscribe({14}, 1);
    EXPECT_TRUE(first.observe);
    ASSERT_TRUE(first.block2);
    EXPECT_EQ(*first.block2, (BlockValue{0, true, 6}));
    EXPECT_EQ(first.size2, 2500u);
    ASSERT_TRUE(first.etag);
    EXPECT_EQ(first.payload, current_.substr(0, 1024));
    EXPECT_EQ(table().observers(), 1u);

    // The rest as plain GETs with fresh tokens (§2.6), served without running the handler.
    std::string whole = first.payload;
    for (std::uint32_t num = 1; num <= 2; ++num) {
        Spec follow_up;
        follow_up.token = {0xf0, static_cast<std::uint8_t>(num)};
        follow_up.mid = static_cast<std::uint16_t>(1 + num);
        follow_up.block2 = BlockValue{num, false, 6};
        Seen block = send(follow_up, std::chrono::seconds(num));
        EXPECT_EQ(block.code, Code::content);
        EXPECT_FALSE(block.observe);
        EXPECT_EQ(block.etag, first.etag);
        ASSERT_TRUE(block.block2);
        EXPECT_EQ(*block.block2, (BlockValue{num, num < 2, 6}));
        whole += block.payload;
    }
    EXPECT_EQ(whole, current_);
    // An observable resource's body is not kept (it changes): each follow-up reruns the
    // handler, and the body's ETag shows it is the same version.
    EXPECT_EQ(calls_, 3);
    EXPECT_EQ(table().observers(), 1u) << "the follow-ups do not touch the registration";
}

TEST_F(ServerObserveTest, ALargeNotificationIsItsFirstBlockTaggedLikeTheGetResponse) {
    ASSERT_TRUE(subscribe({15}, 1).observe);  // a small body: nothing stored
    current_ = body_of_size(2500);
    ASSERT_TRUE(publish(current_));
    ASSERT_EQ(tick(1s), 1u);
    Seen n = last();
    ASSERT_TRUE(n.block2);
    EXPECT_EQ(*n.block2, (BlockValue{0, true, 6}));
    EXPECT_EQ(n.size2, 2500u);
    EXPECT_EQ(n.payload, current_.substr(0, 1024));
    EXPECT_TRUE(n.observe);
    EXPECT_EQ(n.max_age, 60u);
    ASSERT_TRUE(n.etag);
    // The client fetches block 1 "as if it had caused this first response by a GET request"
    // and checks that the ETag did not change (§2.4): the same body must carry the same ETag.
    Spec follow_up;
    follow_up.token = {0xf1};
    follow_up.mid = 2;
    follow_up.block2 = BlockValue{1, false, 6};
    Seen block = send(follow_up, 2s);
    EXPECT_EQ(block.payload, current_.substr(1024, 1024));
    EXPECT_EQ(block.etag, n.etag) << "a notification's block and its follow-ups must match";
}

TEST_F(ServerObserveTest, AnObserverThatAskedForSmallBlocksGetsSmallFirstBlocks) {
    current_ = body_of_size(300);
    Spec spec;
    spec.observe = 0;
    spec.token = {16};
    spec.block2 = BlockValue{0, false, 2};  // 64 bytes
    Seen first = send(spec);
    EXPECT_TRUE(first.observe);
    ASSERT_TRUE(first.block2);
    EXPECT_EQ(*first.block2, (BlockValue{0, true, 2}));
    EXPECT_EQ(first.payload, current_.substr(0, 64));
    subscribe({17}, 2, 0s, endpoint(5017));  // no Block2: the server's 1024

    std::string large = body_of_size(2500);
    ASSERT_TRUE(publish(large));
    ASSERT_EQ(tick(1s), 2u);
    for (const Seen& n : sink_.seen) {
        ASSERT_TRUE(n.block2);
        std::uint8_t szx = n.token == test::bytes({16}) ? 2 : 6;
        EXPECT_EQ(*n.block2, (BlockValue{0, true, szx}));
        EXPECT_EQ(n.payload, large.substr(0, 16u << szx));
        EXPECT_EQ(n.size2, 2500u);
    }
}

// ---- deferred registrations ----

TEST_F(ServerObserveTest, ADeferredRegistrationIsNotKept) {
    // Documented limitation (Request::observe): the separate response has no Observe.
    std::optional<DeferredResponse> handle;
    behaviour_ = [&](Request& r) -> HandlerResult {
        registered_ = r.observe(ResourceId{0});
        handle = r.defer();
        return std::nullopt;
    };
    Seen ack_only = subscribe({18}, 1);
    EXPECT_EQ(ack_only.type, MessageType::ack);
    EXPECT_EQ(ack_only.code, Code::empty);
    ASSERT_TRUE(handle);
    EXPECT_EQ(table().observers(), 0u);
    ASSERT_TRUE(core_->complete(*handle, Response::ok("later")));
    ASSERT_EQ(tick(1s), 1u);
    EXPECT_EQ(last().payload, "later");
    EXPECT_FALSE(last().observe);
    EXPECT_EQ(table().observers(), 0u);
    ASSERT_TRUE(publish("v1"));
    ack(last(), 1100ms);
    EXPECT_EQ(tick(2s), 0u);
}

}  // namespace
}  // namespace coap::detail
