// The type-erased Handler and safe_wrap: every way a handler can be written, and failures.
#include <gtest/gtest.h>

#include <array>
#include <stdexcept>
#include <string>

#include "coap/handler.hpp"
#include "support/bytes.hpp"

namespace coap {
namespace {

struct Fixture {
    Fixture() {
        auto n = MessageWriter(buffer).header(MessageType::con, Code::get, 1).finish();
        view = *parse(Bytes(buffer.data(), *n));
    }
    std::array<std::uint8_t, 32> buffer{};
    MessageView view;
    Endpoint peer;
    std::array<std::byte, 256> arena_memory{};
    Arena arena{arena_memory};
    Request request{view, peer, arena};
};

HandlerResult plain_function(Request&) {
    return Response::ok("plain");
}

struct Sensors {
    int reads = 0;
    HandlerResult read(Request&) {
        ++reads;
        return Response::ok("member");
    }
};

std::string payload_of(const HandlerResult& result) {
    return result ? std::string(as_string(result->payload())) : "<none>";
}

TEST(Handler, PlainFunctionLambdaAndMemberFunctionAllWork) {
    Fixture f;
    Handler from_function = &plain_function;
    EXPECT_EQ(payload_of(from_function(f.request)), "plain");

    int calls = 0;
    Handler with_capture = [&calls](Request&) -> HandlerResult {
        ++calls;
        return std::nullopt;
    };
    EXPECT_FALSE(with_capture(f.request).has_value());
    EXPECT_EQ(calls, 1);

    Sensors sensors;
    Handler member = Handler::member<&Sensors::read>(sensors);
    EXPECT_EQ(payload_of(member(f.request)), "member");
    EXPECT_EQ(sensors.reads, 1);
}

TEST(Handler, LargeCapturesMoveToTheHeapAndStillWork) {
    Fixture f;
    std::array<char, 200> big{};
    big[0] = 'x';
    Handler handler = [big](Request&) -> HandlerResult {
        return Response::ok(std::string_view(big.data(), 1));
    };
    Handler moved = std::move(handler);
    EXPECT_FALSE(static_cast<bool>(handler));
    EXPECT_EQ(payload_of(moved(f.request)), "x");
}

TEST(Handler, MoveKeepsInlineStateAndEmptiesTheSource) {
    Fixture f;
    auto counter = std::make_shared<int>(0);
    Handler first = [counter](Request&) -> HandlerResult {
        ++*counter;
        return Response::ok();
    };
    Handler second;
    second = std::move(first);
    second(f.request);
    EXPECT_EQ(*counter, 1);
    EXPECT_EQ(counter.use_count(), 2) << "exactly one copy of the capture lives on";
    second = Handler();
    EXPECT_EQ(counter.use_count(), 1) << "assigning destroys the old callable";
}

TEST(SafeWrap, ExceptionsBecomeInternalServerError) {
    Fixture f;
    Handler handler =
        safe_wrap([](Request&) -> HandlerResult { throw std::runtime_error("db down"); });
    auto result = handler(f.request);
    ASSERT_TRUE(result);
    EXPECT_EQ(result->code(), Code::internal_server_error);
}

TEST(SafeWrap, ErrorResultsBecomeInternalServerError) {
    Fixture f;
    Handler failing =
        safe_wrap([](Request&) -> Expected<HandlerResult, int> { return unexpected(7); });
    EXPECT_EQ(failing(f.request)->code(), Code::internal_server_error);
    Handler fine = safe_wrap([](Request&) -> Expected<HandlerResult, int> {
        return HandlerResult(Response::changed());
    });
    EXPECT_EQ(fine(f.request)->code(), Code::changed);
}

}  // namespace
}  // namespace coap
