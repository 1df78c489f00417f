// The server message layer with injected time: RFC 7252 §4 and §5 behaviour, no sockets.
#include <gtest/gtest.h>

#include <array>
#include <stdexcept>
#include <string>
#include <vector>

#include "server/server_core.hpp"
#include "support/bytes.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using test::bytes;
using test::ByteVector;
using test::concat;

TimePoint at(Duration offset) {
    return TimePoint{} + offset;
}

class ServerCoreTest : public ::testing::Test {
  protected:
    ServerCoreTest() { rebuild(); }

    void rebuild() {
        core_.reset();
        core_ = std::make_unique<ServerCore>(config_, handler_, false, 0x1000ull << 16);
    }

    // Sends a request built with a writer and returns the parsed reply bytes (empty if none).
    ByteVector send(const ByteVector& datagram, Duration when = 0s,
                    const Endpoint* from = nullptr) {
        std::array<std::uint8_t, 2048> reply{};
        std::size_t n = core_->on_datagram(from ? *from : client_, datagram, at(when), reply);
        return ByteVector(reply.begin(), reply.begin() + n);
    }

    static ByteVector request(MessageType type, std::uint16_t id, std::string_view path,
                              ByteVector token = bytes({0xca, 0xfe})) {
        std::array<std::uint8_t, 256> out{};
        MessageWriter writer(out);
        writer.header(type, Code::get, id, token);
        if (!path.empty()) writer.option(OptionNumber::uri_path, path);
        return ByteVector(out.begin(), out.begin() + *writer.finish());
    }

    ServerConfig config_ = [] {
        ServerConfig c;
        c.exchange_count = 64;
        c.exchange_cache_bytes = 64 * 1024;
        c.max_arena_size = 4096;
        return c;
    }();
    int calls_ = 0;
    std::function<HandlerResult(Request&)> behaviour_ = [](Request& r) -> HandlerResult {
        std::string_view path = r.path().empty() ? "" : r.path().begin()->as_string();
        if (path == "silent") return std::nullopt;
        return Response::ok("hello");
    };
    Handler handler_ = [this](Request& r) {
        ++calls_;
        return behaviour_(r);
    };
    Endpoint client_ = *Endpoint::from_literal("127.0.0.1", 40000);
    std::unique_ptr<ServerCore> core_;
};

// The view points into `wire`: keep the bytes alive as long as the view.
MessageView parsed(const ByteVector& wire) {
    auto view = parse(wire);
    EXPECT_TRUE(view) << "reply does not parse";
    return *view;
}

TEST_F(ServerCoreTest, ConRequestGetsAPiggybackedAckWithTheSameIdAndToken) {
    ByteVector reply = send(request(MessageType::con, 0x7d34, "temperature"));
    auto view = parsed(reply);
    EXPECT_EQ(view.type(), MessageType::ack);
    EXPECT_EQ(view.code(), Code::content);
    EXPECT_EQ(view.message_id(), 0x7d34);
    EXPECT_EQ(ByteVector(view.token().begin(), view.token().end()), bytes({0xca, 0xfe}));
    EXPECT_EQ(as_string(view.payload()), "hello");
    EXPECT_EQ(calls_, 1);
}

TEST_F(ServerCoreTest, NonRequestGetsANonResponseWithAFreshMessageId) {
    ByteVector first_wire = send(request(MessageType::non, 0x10, "x"));
    auto first = parsed(first_wire);
    EXPECT_EQ(first.type(), MessageType::non);
    EXPECT_EQ(first.message_id(), 0x1000);
    EXPECT_EQ(ByteVector(first.token().begin(), first.token().end()), bytes({0xca, 0xfe}));
    ByteVector second_wire = send(request(MessageType::non, 0x11, "x"));
    auto second = parsed(second_wire);
    EXPECT_EQ(second.message_id(), 0x1001);
}

TEST_F(ServerCoreTest, NoResponseMeansEmptyAckForConAndNothingForNon) {
    ByteVector ack_wire = send(request(MessageType::con, 5, "silent"));
    auto ack = parsed(ack_wire);
    EXPECT_EQ(ack.type(), MessageType::ack);
    EXPECT_EQ(ack.code(), Code::empty);
    EXPECT_EQ(ack.message_id(), 5);
    EXPECT_EQ(ack.datagram().size(), 4u);
    EXPECT_TRUE(send(request(MessageType::non, 6, "silent")).empty());
}

TEST_F(ServerCoreTest, DuplicateConIsAnsweredFromTheCacheWithoutCallingTheHandler) {
    ByteVector first = send(request(MessageType::con, 77, "a"), 0s);
    ByteVector again = send(request(MessageType::con, 77, "a"), 2s);
    EXPECT_EQ(first, again);
    EXPECT_EQ(calls_, 1);
    EXPECT_EQ(core_->stats().duplicates, 1u);
}

TEST_F(ServerCoreTest, DuplicateConOfAnEmptyAckGetsTheEmptyAckAgain) {
    ByteVector first = send(request(MessageType::con, 78, "silent"));
    EXPECT_EQ(send(request(MessageType::con, 78, "silent")), first);
    EXPECT_EQ(calls_, 1);
}

TEST_F(ServerCoreTest, DuplicateNonIsSilentlyIgnored) {
    EXPECT_FALSE(send(request(MessageType::non, 90, "a")).empty());
    EXPECT_TRUE(send(request(MessageType::non, 90, "a")).empty());
    EXPECT_EQ(calls_, 1);
}

TEST_F(ServerCoreTest, ConReusingANonsMessageIdIsAnsweredAsACon) {
    // Found by fuzz_server_datagram: the NON's cached reply must not answer a CON.
    send(request(MessageType::non, 0x33, "a"));
    ByteVector reply = send(request(MessageType::con, 0x33, "a"));
    auto view = parsed(reply);
    EXPECT_EQ(view.type(), MessageType::ack);
    EXPECT_EQ(view.message_id(), 0x33);
}

TEST_F(ServerCoreTest, SameMessageIdFromAnotherEndpointIsANewRequest) {
    Endpoint other = *Endpoint::from_literal("127.0.0.1", 40001);
    send(request(MessageType::con, 1, "a"));
    send(request(MessageType::con, 1, "a"), 0s, &other);
    EXPECT_EQ(calls_, 2);
}

TEST_F(ServerCoreTest, MessageIdIsReusableAfterExchangeLifetime) {
    send(request(MessageType::con, 3, "a"), 0s);
    send(request(MessageType::con, 3, "a"), 246s);
    EXPECT_EQ(calls_, 1);
    send(request(MessageType::con, 3, "a"), 248s);
    EXPECT_EQ(calls_, 2);
}

TEST_F(ServerCoreTest, EmptyConIsAPingAnsweredWithReset) {
    ByteVector rst_wire = send(bytes({0x40, 0x00, 0x12, 0x34}));
    auto rst = parsed(rst_wire);
    EXPECT_EQ(rst.type(), MessageType::rst);
    EXPECT_EQ(rst.code(), Code::empty);
    EXPECT_EQ(rst.message_id(), 0x1234);
    EXPECT_EQ(calls_, 0);
}

TEST_F(ServerCoreTest, EmptyNonAckAndRstAreIgnored) {
    EXPECT_TRUE(send(bytes({0x50, 0x00, 0, 1})).empty());
    EXPECT_TRUE(send(bytes({0x60, 0x00, 0, 2})).empty());
    EXPECT_TRUE(send(bytes({0x70, 0x00, 0, 3})).empty());
    EXPECT_TRUE(send(bytes({0x61, 0x45, 0, 4, 0x01})).empty());  // piggybacked response
    EXPECT_EQ(calls_, 0);
}

TEST_F(ServerCoreTest, MalformedConGetsAResetAndMalformedNonIsDropped) {
    ByteVector rst_wire = send(bytes({0x49, 0x01, 0xab, 0xcd}));
    auto rst = parsed(rst_wire);  // TKL 9
    EXPECT_EQ(rst.type(), MessageType::rst);
    EXPECT_EQ(rst.message_id(), 0xabcd);
    EXPECT_TRUE(send(bytes({0x59, 0x01, 0xab, 0xce})).empty());
    EXPECT_FALSE(send(bytes({0x40, 0x01, 0, 1, 0xff})).empty());  // empty payload after marker
    EXPECT_EQ(core_->stats().format_errors, 3u);
    EXPECT_EQ(calls_, 0);
}

TEST_F(ServerCoreTest, UnknownVersionAndRuntDatagramsAreSilentlyIgnored) {
    EXPECT_TRUE(send(bytes({0x80, 0x01, 0, 1})).empty());
    EXPECT_TRUE(send(bytes({0x40, 0x01})).empty());
    EXPECT_TRUE(send({}).empty());
    EXPECT_EQ(core_->stats().ignored_version, 1u);
}

TEST_F(ServerCoreTest, ConCarryingAResponseCodeIsRejectedWithReset) {
    ByteVector rst_wire = send(bytes({0x40, 0x45, 0, 9}));
    auto rst = parsed(rst_wire);
    EXPECT_EQ(rst.type(), MessageType::rst);
    ByteVector reserved_wire = send(bytes({0x40, 0x21, 0, 10}));
    auto reserved = parsed(reserved_wire);  // class 1 is reserved
    EXPECT_EQ(reserved.type(), MessageType::rst);
    EXPECT_EQ(calls_, 0);
}

TEST_F(ServerCoreTest, UnrecognizedCriticalOptionGetsBadOptionForCon) {
    // Option 2049 (critical, unknown) with an empty value.
    ByteVector wire = bytes({0x42, 0x01, 0, 20, 1, 2, 0xe0, 0x06, 0xf4});
    ByteVector reply_wire = send(wire);
    auto reply = parsed(reply_wire);
    EXPECT_EQ(reply.type(), MessageType::ack);
    EXPECT_EQ(reply.code(), Code::bad_option);
    EXPECT_EQ(calls_, 0);
    ByteVector non = bytes({0x52, 0x01, 0, 21, 1, 2, 0xe0, 0x06, 0xf4});
    EXPECT_EQ(parsed(send(non)).type(), MessageType::rst);
}

TEST_F(ServerCoreTest, ConfiguredCriticalOptionsAndUnknownElectiveOnesReachTheHandler) {
    config_.recognized_options = {2049};
    rebuild();
    EXPECT_EQ(parsed(send(bytes({0x40, 0x01, 0, 20, 0xe0, 0x06, 0xf4}))).code(), Code::content);
    EXPECT_EQ(parsed(send(bytes({0x40, 0x01, 0, 21, 0xe0, 0x06, 0xf3}))).code(), Code::content);
    EXPECT_EQ(calls_, 2);
}

TEST_F(ServerCoreTest, MultiBlockUploadsAreReassembledBeforeTheHandlerRuns) {
    std::string body;
    behaviour_ = [&body](Request& r) -> HandlerResult {
        body = std::string(as_string(r.payload()));
        return Response::changed();
    };
    // PUT with Block1 0/M/16 and 16 bytes: 2.31 Continue, the handler waits for the rest.
    ByteVector first =
        concat({bytes({0x40, 0x03, 0, 60, 0xd1, 27 - 13, 0x08, 0xff}), bytes("0123456789abcdef")});
    ByteVector first_reply = send(first);
    EXPECT_EQ(parsed(first_reply).code(), Code::continue_);
    EXPECT_EQ(parsed(first_reply).find_uint(OptionNumber::block1), 0x08u);
    EXPECT_EQ(calls_, 0);
    // Block1 1/0/16: the last block; the handler runs once with both.
    ByteVector last = bytes({0x40, 0x03, 0, 61, 0xd1, 27 - 13, 0x10, 0xff, 'x'});
    ByteVector last_reply = send(last);
    EXPECT_EQ(parsed(last_reply).code(), Code::changed);
    EXPECT_EQ(parsed(last_reply).find_uint(OptionNumber::block1), 0x10u);
    EXPECT_EQ(body, "0123456789abcdefx");
    EXPECT_EQ(calls_, 1);
}

TEST_F(ServerCoreTest, ListingBlock1HandsEveryBlockToTheHandler) {
    // An application that handles Block1 itself says so through recognized_options.
    config_.recognized_options = {27};
    rebuild();
    std::vector<std::string> seen;
    behaviour_ = [&seen](Request& r) -> HandlerResult {
        seen.emplace_back(as_string(r.payload()));
        EXPECT_TRUE(r.option(OptionNumber::block1).has_value());
        return Response::with_code(Code::continue_)
            .option(OptionNumber::block1, r.option(OptionNumber::block1)->value);
    };
    ByteVector first =
        concat({bytes({0x40, 0x03, 0, 62, 0xd1, 27 - 13, 0x08, 0xff}), bytes("0123456789abcdef")});
    EXPECT_EQ(parsed(send(first)).code(), Code::continue_);
    EXPECT_EQ(parsed(send(bytes({0x40, 0x03, 0, 63, 0xd1, 27 - 13, 0x18, 0xff, 'y'}))).code(),
              Code::continue_)
        << "the core would have answered 4.08: no transfer";
    EXPECT_EQ(seen, (std::vector<std::string>{"0123456789abcdef", "y"}));
}

TEST_F(ServerCoreTest, ListingBlock2LeavesLargeResponsesToTheHandler) {
    config_.recognized_options = {23};
    rebuild();
    static const std::string big(1100, 'b');
    std::optional<std::uint32_t> asked;
    behaviour_ = [&asked](Request& r) -> HandlerResult {
        asked = r.message().find_uint(OptionNumber::block2);
        return Response::ok(big);
    };
    // Not sliced: 1100 bytes fit the 1280-byte buffer and go out whole.
    ByteVector whole = send(request(MessageType::con, 64, "big"));
    EXPECT_EQ(parsed(whole).payload().size(), 1100u);
    EXPECT_FALSE(parsed(whole).has(OptionNumber::block2));
    // Block2 requests reach the handler (the core would have answered 4.02: beyond the end).
    ByteVector wire = bytes({0x40, 0x01, 0, 65, 0xb3, 'b', 'i', 'g', 0xc1, 0x56});
    EXPECT_EQ(parsed(send(wire)).code(), Code::content);
    EXPECT_EQ(asked, 0x56u);
    EXPECT_EQ(calls_, 2);
}

TEST_F(ServerCoreTest, GarbageBlockOptionsAreRejectedNeverHandled) {
    // RFC 7959 §2.2: SZX 7 is reserved and "MUST lead to a 4.00 Bad Request".
    EXPECT_EQ(parsed(send(bytes({0x40, 0x01, 0, 70, 0xd1, 23 - 13, 0x07}))).code(),
              Code::bad_request);
    EXPECT_EQ(parsed(send(bytes({0x40, 0x03, 0, 71, 0xd1, 27 - 13, 0x0f, 0xff, 'x'}))).code(),
              Code::bad_request);
    // A 4-byte Block value is longer than the option allows: malformed (RFC 7252 §5.4.3).
    EXPECT_EQ(parsed(send(bytes({0x40, 0x03, 0, 72, 0xd4, 27 - 13, 1, 2, 3, 4}))).code(),
              Code::bad_option);
    // With M set the payload must be exactly the block size (RFC 7959 §2.3).
    EXPECT_EQ(parsed(send(bytes({0x40, 0x03, 0, 73, 0xd1, 27 - 13, 0x08, 0xff, 'x'}))).code(),
              Code::bad_request);
    // Two Block1 options: a repeated non-repeatable critical option (§5.4.5).
    EXPECT_EQ(parsed(send(bytes({0x40, 0x03, 0, 74, 0xd1, 27 - 13, 0x00, 0x01, 0x00}))).code(),
              Code::bad_option);
    // An empty Block2 value is NUM 0, M 0, SZX 0: a valid request for 16-byte blocks.
    EXPECT_EQ(parsed(send(bytes({0x40, 0x01, 0, 75, 0xd0, 23 - 13}))).code(), Code::content);
    EXPECT_EQ(calls_, 1);
}

TEST_F(ServerCoreTest, ProxyRequestsGetProxyingNotSupported) {
    ByteVector wire = bytes({0x40, 0x01, 0, 30, 0xd4, 35 - 13, 'c', 'o', 'a', 'p'});
    EXPECT_EQ(parsed(send(wire)).code(), Code::proxying_not_supported);
    EXPECT_EQ(calls_, 0);
}

TEST_F(ServerCoreTest, ThrowingHandlerBecomesInternalServerError) {
    behaviour_ = [](Request&) -> HandlerResult { throw std::runtime_error("boom"); };
    EXPECT_EQ(parsed(send(request(MessageType::con, 40, "a"))).code(), Code::internal_server_error);
    EXPECT_EQ(core_->stats().handler_failures, 1u);
}

TEST_F(ServerCoreTest, ResponseTooLargeForTheBufferBecomesInternalServerError) {
    config_.buffer_size = 64;
    rebuild();
    static const std::string big(200, 'x');
    behaviour_ = [](Request&) -> HandlerResult { return Response::ok(big); };
    ByteVector reply_wire = send(request(MessageType::con, 41, "a"));
    auto reply = parsed(reply_wire);
    EXPECT_EQ(reply.code(), Code::internal_server_error);
    EXPECT_EQ(reply.message_id(), 41);
}

TEST_F(ServerCoreTest, OverflowedResponseBecomesInternalServerError) {
    behaviour_ = [](Request&) -> HandlerResult {
        Response response = Response::ok();
        for (int i = 0; i < 20; ++i)
            response.location_path("x");
        return response;
    };
    EXPECT_EQ(parsed(send(request(MessageType::con, 42, "a"))).code(), Code::internal_server_error);
}

TEST_F(ServerCoreTest, HandlerCanBuildPayloadsInTheArena) {
    behaviour_ = [](Request& r) -> HandlerResult {
        std::string_view copy = r.arena().copy("from the arena");
        return Response::content(ContentFormat::text_plain, copy).max_age(30);
    };
    ByteVector reply_wire = send(request(MessageType::con, 50, "a"));
    auto reply = parsed(reply_wire);
    EXPECT_EQ(as_string(reply.payload()), "from the arena");
    EXPECT_EQ(reply.find_uint(OptionNumber::max_age), 30u);
    EXPECT_EQ(reply.find_uint(OptionNumber::content_format), 0u);
}

TEST_F(ServerCoreTest, RequestAccessorsSeeTheDatagram) {
    std::string seen;
    behaviour_ = [&seen](Request& r) -> HandlerResult {
        // append() rather than operator+: gcc 12 -O3 warns falsely (-Wrestrict) on the latter.
        for (const Option& segment : r.path())
            seen.append("/").append(segment.as_string());
        seen.append(" q=").append(r.query_value("q").value_or("?"));
        seen.append(" accept=")
            .append(std::to_string(to_int(r.accept().value_or(ContentFormat::xml))));
        return Response::ok();
    };
    std::array<std::uint8_t, 128> out{};
    auto n = MessageWriter(out)
                 .header(MessageType::con, Code::get, 60, bytes({1}))
                 .option(OptionNumber::uri_path, "a")
                 .option(OptionNumber::uri_path, "b")
                 .option(OptionNumber::uri_query, "q=1")
                 .uint_option(OptionNumber::accept, 50)
                 .finish();
    send(ByteVector(out.begin(), out.begin() + *n));
    EXPECT_EQ(seen, "/a/b q=1 accept=50");
}

}  // namespace
}  // namespace coap::detail

namespace coap::detail {
namespace {

TimePoint fake_now{};
TimePoint fake_clock() noexcept {
    return fake_now;
}

TEST(ServerCoreClock, SlowHandlersAreCountedOnlyWhenAThresholdIsSet) {
    ServerConfig config;
    config.exchange_count = 8;
    config.exchange_cache_bytes = 4096;
    config.max_arena_size = 4096;
    Handler slow = [](Request&) -> HandlerResult {
        fake_now += std::chrono::milliseconds(50);  // the handler "takes" 50 ms
        return Response::ok();
    };
    std::array<std::uint8_t, 4> ping_like{0x50, 0x01, 0, 1};  // NON GET, no options
    std::array<std::uint8_t, 256> reply{};

    ServerCore untimed(config, slow, false, 1, 0, &fake_clock);
    untimed.on_datagram(Endpoint{}, ping_like, TimePoint{}, reply);
    EXPECT_EQ(untimed.stats().slow_handlers, 0u) << "no threshold: the clock is never read";

    config.handler_warn = std::chrono::milliseconds(10);
    ServerCore timed(config, slow, false, 1, 0, &fake_clock);
    timed.on_datagram(Endpoint{}, ping_like, TimePoint{}, reply);
    EXPECT_EQ(timed.stats().slow_handlers, 1u);
}

}  // namespace
}  // namespace coap::detail

namespace coap::detail {
namespace {

TEST(ServerCoreAccept, UnservableAcceptTurnsA205IntoNotAcceptable) {
    ServerConfig config;
    config.exchange_count = 8;
    config.exchange_cache_bytes = 4096;
    config.max_arena_size = 4096;
    Handler text = [](Request&) -> HandlerResult {
        return Response::content(ContentFormat::text_plain, "plain");
    };
    ServerCore core(config, text, false, 1);
    std::array<std::uint8_t, 64> request{};
    std::array<std::uint8_t, 256> reply{};
    auto ask = [&](std::uint16_t id, std::optional<std::uint32_t> accept) {
        MessageWriter writer(request);
        writer.header(MessageType::con, Code::get, id);
        if (accept) writer.uint_option(OptionNumber::accept, *accept);
        std::size_t n = core.on_datagram(Endpoint{}, Bytes(request.data(), *writer.finish()),
                                         TimePoint{}, reply);
        return parse(Bytes(reply.data(), n))->code();
    };
    EXPECT_EQ(ask(1, std::nullopt), Code::content);
    EXPECT_EQ(ask(2, 0), Code::content);
    EXPECT_EQ(ask(3, 50), Code::not_acceptable);  // RFC 7252 §5.10.4
}

}  // namespace
}  // namespace coap::detail
