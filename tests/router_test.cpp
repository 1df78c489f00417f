// Router: path patterns, method dispatch, precedence, and /.well-known/core (RFC 6690).
#include "coap/router.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coap/arena.hpp"
#include "coap/endpoint.hpp"
#include "coap/handler.hpp"
#include "coap/message.hpp"
#include "coap/request.hpp"
#include "coap/response.hpp"
#include "support/count_allocations.hpp"

namespace coap {
namespace {

using namespace std::string_view_literals;

// What a request to the router gave back, copied out of the request's buffers.
struct Outcome {
    bool responded = false;
    Code code = Code::empty;
    std::string payload;
    std::optional<std::uint32_t> content_format;
    bool overflowed = false;
};

struct Call {
    Code method = Code::get;
    std::vector<std::string> path{};  // Uri-Path options, as they are on the wire
    std::vector<std::string> query{};
    std::optional<std::uint32_t> accept{};
    std::size_t arena_size = 2048;
};

// Builds the request with MessageWriter, parses it, and dispatches it through `router`.
Outcome dispatch(const Router& router, const Call& call) {
    std::array<std::uint8_t, 1500> buffer{};
    MessageWriter writer(buffer);
    writer.header(MessageType::con, call.method, 0x1234, as_bytes("tk"));
    for (const std::string& segment : call.path)
        writer.option(OptionNumber::uri_path, segment);
    for (const std::string& argument : call.query)
        writer.option(OptionNumber::uri_query, argument);
    if (call.accept) writer.uint_option(OptionNumber::accept, *call.accept);
    auto length = writer.finish();
    EXPECT_TRUE(length.has_value());
    auto message = parse(Bytes(buffer.data(), length ? *length : 0));
    EXPECT_TRUE(message.has_value());
    if (!message) return {};

    Endpoint peer{};
    std::array<std::byte, 4096> memory{};
    Arena arena(std::span<std::byte>(memory.data(), std::min(call.arena_size, memory.size())));
    Request request(*message, peer, arena);
    HandlerResult result = router(request);

    Outcome outcome;
    if (!result) return outcome;
    outcome.responded = true;
    outcome.code = result->code();
    outcome.payload = std::string(as_string(result->payload()));
    if (auto format = result->find(OptionNumber::content_format))
        outcome.content_format = format->as_uint();
    outcome.overflowed = result->overflowed();
    return outcome;
}

// "/a/b" -> Uri-Path "a", "b"; "/" -> none.
std::vector<std::string> split(std::string_view path) {
    std::vector<std::string> segments;
    if (path == "/") return segments;
    path.remove_prefix(1);
    for (;;) {
        std::size_t slash = path.find('/');
        segments.emplace_back(path.substr(0, slash));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return segments;
}

Outcome request(const Router& router, Code method, std::string_view path,
                std::vector<std::string> query = {}) {
    return dispatch(router, Call{.method = method, .path = split(path), .query = std::move(query)});
}

Outcome get(const Router& router, std::string_view path, std::vector<std::string> query = {}) {
    return request(router, Code::get, path, std::move(query));
}

// A handler answering 2.05 with a fixed text, so that tests can see which route ran.
Handler says(std::string_view text) {
    return [text](Request&) -> HandlerResult { return Response::ok(text); };
}

// A handler answering with "name=value;..." for the given parameter names (missing: "-").
Handler echoes(std::vector<std::string> names) {
    return [names = std::move(names)](Request& r) -> HandlerResult {
        std::string out;
        for (const std::string& name : names) {
            if (!out.empty()) out += ';';
            auto value = r.param(name);
            out += name + "=" + (value ? std::string(*value) : std::string("-"));
        }
        std::string_view copy = r.arena().copy(out);
        return Response::ok(copy);
    };
}

constexpr std::uint32_t link_format_cf = 40;

// ---- matching ----

TEST(RouterMatch, LiteralPatternCallsItsHandler) {
    Router router;
    router.get("/test", says("test"));
    Outcome outcome = get(router, "/test");
    EXPECT_EQ(outcome.code, Code::content);
    EXPECT_EQ(outcome.payload, "test");
}

TEST(RouterMatch, MultiSegmentLiteralMatchesOnlyTheExactPath) {
    Router router;
    router.get("/seg1/seg2/seg3", says("deep"));
    EXPECT_EQ(get(router, "/seg1/seg2/seg3").payload, "deep");
    EXPECT_EQ(get(router, "/seg1/seg2").code, Code::not_found);
    EXPECT_EQ(get(router, "/seg1/seg2/seg3/seg4").code, Code::not_found);
    EXPECT_EQ(get(router, "/seg1/seg2/SEG3").code, Code::not_found);
}

TEST(RouterMatch, ParamSegmentMatchesOneSegmentAndIsCaptured) {
    Router router;
    router.get("/sensor/:id", echoes({"id"}));
    EXPECT_EQ(get(router, "/sensor/7").payload, "id=7");
    EXPECT_EQ(get(router, "/sensor/outdoor-temp").payload, "id=outdoor-temp");
    EXPECT_EQ(get(router, "/sensor").code, Code::not_found);
    EXPECT_EQ(get(router, "/sensor/7/x").code, Code::not_found);
}

TEST(RouterMatch, ParamDoesNotMatchAnEmptySegment) {
    Router router;
    router.get("/sensor/:id", echoes({"id"}));
    EXPECT_EQ(dispatch(router, {.method = Code::get, .path = {"sensor", ""}}).code,
              Code::not_found);
}

TEST(RouterMatch, SeveralParamsAreCapturedByName) {
    Router router;
    router.put("/buildings/:building/rooms/:room", echoes({"building", "room", "other"}));
    EXPECT_EQ(request(router, Code::put, "/buildings/b1/rooms/101").payload,
              "building=b1;room=101;other=-");
}

TEST(RouterMatch, ParamValueIsTheDecodedUriPathOption) {
    Router router;
    router.get("/files/:name", echoes({"name"}));
    // A Uri-Path option may hold '/' or spaces: the value is taken as is.
    EXPECT_EQ(dispatch(router, {.method = Code::get, .path = {"files", "a/b c"}}).payload,
              "name=a/b c");
}

TEST(RouterMatch, WildcardMatchesZeroOrMoreRemainingSegments) {
    Router router;
    router.get("/files/*", echoes({"*"}));
    EXPECT_EQ(get(router, "/files").payload, "*=-");  // nothing is captured for '*'
    EXPECT_EQ(get(router, "/files/a").payload, "*=-");
    EXPECT_EQ(get(router, "/files/a/b/c").payload, "*=-");
    EXPECT_EQ(get(router, "/other").code, Code::not_found);
    EXPECT_EQ(get(router, "/").code, Code::not_found);
}

TEST(RouterMatch, WildcardMatchesPathsLongerThanMaxSegments) {
    Router router;
    router.get("/deep/:first/*", echoes({"first"}));
    std::vector<std::string> path{"deep"};
    for (std::size_t i = 0; i < Router::max_segments + 10; ++i)
        path.push_back(std::to_string(i));
    EXPECT_EQ(dispatch(router, {.method = Code::get, .path = path}).payload, "first=0");
}

TEST(RouterMatch, PathLongerThanMaxSegmentsMatchesNoLiteralPattern) {
    Router router;
    router.get("/a", says("a"));
    std::vector<std::string> path(Router::max_segments + 1, "a");
    EXPECT_EQ(dispatch(router, {.method = Code::get, .path = path}).code, Code::not_found);
}

TEST(RouterMatch, RootPatternMatchesNoUriPathAndTheSingleEmptyOne) {
    Router router;
    router.get("/", says("root"));
    EXPECT_EQ(dispatch(router, {.method = Code::get, .path = {}}).payload, "root");
    // RFC 7252 §6.5: both compose to "coap://host/".
    EXPECT_EQ(dispatch(router, {.method = Code::get, .path = {""}}).payload, "root");
    EXPECT_EQ(get(router, "/x").code, Code::not_found);
    EXPECT_EQ(dispatch(router, {.method = Code::get, .path = {"", ""}}).code, Code::not_found);
}

TEST(RouterMatch, CatchAllWildcardMatchesTheRootToo) {
    Router router;
    router.get("/*", says("any"));
    EXPECT_EQ(get(router, "/").payload, "any");
    EXPECT_EQ(get(router, "/x/y").payload, "any");
}

TEST(RouterMatch, TrailingSlashIsAFinalEmptySegment) {
    Router router;
    router.get("/dir/", says("dir/"));
    EXPECT_EQ(dispatch(router, {.method = Code::get, .path = {"dir", ""}}).payload, "dir/");
    EXPECT_EQ(get(router, "/dir").code, Code::not_found);
}

TEST(RouterMatch, StarOrColonInsideASegmentIsLiteral) {
    Router router;
    router.get("/a*b", says("star")).get("/x:y", says("colon"));
    EXPECT_EQ(get(router, "/a*b").payload, "star");
    EXPECT_EQ(get(router, "/aXb").code, Code::not_found);
    EXPECT_EQ(get(router, "/x:y").payload, "colon");
}

// ---- methods ----

TEST(RouterMethod, UnknownPathIsNotFound) {
    Router router;
    router.get("/test", says("test"));
    Outcome outcome = get(router, "/nothing");
    EXPECT_TRUE(outcome.responded);
    EXPECT_EQ(outcome.code, Code::not_found);
}

TEST(RouterMethod, KnownPathWithoutThatMethodIsMethodNotAllowed) {
    Router router;
    router.get("/test", says("test"));
    EXPECT_EQ(request(router, Code::post, "/test").code, Code::method_not_allowed);
    EXPECT_EQ(request(router, Code::del, "/test").code, Code::method_not_allowed);
}

TEST(RouterMethod, EveryShorthandRoutesItsMethod) {
    Router router;
    router.get("/r", says("GET"))
        .post("/r", says("POST"))
        .put("/r", says("PUT"))
        .del("/r", says("DELETE"))
        .fetch("/r", says("FETCH"))
        .patch("/r", says("PATCH"))
        .ipatch("/r", says("iPATCH"));
    EXPECT_EQ(request(router, Code::get, "/r").payload, "GET");
    EXPECT_EQ(request(router, Code::post, "/r").payload, "POST");
    EXPECT_EQ(request(router, Code::put, "/r").payload, "PUT");
    EXPECT_EQ(request(router, Code::del, "/r").payload, "DELETE");
    EXPECT_EQ(request(router, Code::fetch, "/r").payload, "FETCH");
    EXPECT_EQ(request(router, Code::patch, "/r").payload, "PATCH");
    EXPECT_EQ(request(router, Code::ipatch, "/r").payload, "iPATCH");
}

TEST(RouterMethod, AddWithAnyRequestCodeWorks) {
    Router router;
    router.add(make_code(0, 30), "/custom", says("custom"));
    EXPECT_EQ(request(router, make_code(0, 30), "/custom").payload, "custom");
    EXPECT_EQ(request(router, Code::get, "/custom").code, Code::method_not_allowed);
}

TEST(RouterMethod, HandlerReturningNoResponseIsPassedThrough) {
    Router router;
    router.post("/silent", [](Request&) -> HandlerResult { return std::nullopt; });
    EXPECT_FALSE(request(router, Code::post, "/silent").responded);
}

TEST(RouterMethod, LessSpecificPatternWithTheMethodIsUsedWhenTheBestHasNone) {
    Router router;
    router.get("/files/:name", echoes({"name"})).post("/files/*", says("upload"));
    EXPECT_EQ(request(router, Code::get, "/files/a").payload, "name=a");
    EXPECT_EQ(request(router, Code::post, "/files/a").payload, "upload");
    EXPECT_EQ(request(router, Code::del, "/files/a").code, Code::method_not_allowed);
}

// ---- parameters ----

TEST(RouterParams, StaleParamsAreClearedBeforeDispatch) {
    Router router;
    router.get("/plain", echoes({"id", "stale"})).get("/sensor/:id", echoes({"id", "stale"}));

    std::array<std::uint8_t, 64> buffer{};
    auto length = MessageWriter(buffer)
                      .header(MessageType::con, Code::get, 1)
                      .option(OptionNumber::uri_path, "plain")
                      .finish();
    ASSERT_TRUE(length.has_value());
    auto message = parse(Bytes(buffer.data(), *length));
    ASSERT_TRUE(message.has_value());
    Endpoint peer{};
    std::array<std::byte, 256> memory{};
    Arena arena(memory);
    Request req(*message, peer, arena);
    req.add_param("id", "left-over");
    req.add_param("stale", "yes");
    HandlerResult result = router(req);
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(as_string(result->payload()), "id=-;stale=-");
    EXPECT_FALSE(req.param("id").has_value());
}

TEST(RouterParams, ParamsDoNotLeakFromOneRequestToTheNext) {
    Router router;
    router.get("/sensor/:id", echoes({"id", "room"})).get("/room/:room", echoes({"id", "room"}));
    EXPECT_EQ(get(router, "/sensor/1").payload, "id=1;room=-");
    EXPECT_EQ(get(router, "/room/9").payload, "id=-;room=9");
    EXPECT_EQ(get(router, "/sensor/2").payload, "id=2;room=-");
}

TEST(RouterParams, RejectedPathLeavesNoParams) {
    Router router;
    router.get("/sensor/:id", echoes({"id"}));
    std::array<std::uint8_t, 64> buffer{};
    auto length = MessageWriter(buffer)
                      .header(MessageType::con, Code::post, 1)
                      .option(OptionNumber::uri_path, "sensor")
                      .option(OptionNumber::uri_path, "3")
                      .finish();
    ASSERT_TRUE(length.has_value());
    auto message = parse(Bytes(buffer.data(), *length));
    ASSERT_TRUE(message.has_value());
    Endpoint peer{};
    Arena arena;
    Request req(*message, peer, arena);
    req.add_param("id", "old");
    EXPECT_EQ(router(req)->code(), Code::method_not_allowed);
    EXPECT_FALSE(req.param("id").has_value());
}

// ---- precedence ----

TEST(RouterPrecedence, LiteralBeatsParamWhateverTheOrderAdded) {
    Router router;
    router.get("/sensor/:id", echoes({"id"})).get("/sensor/all", says("all"));
    EXPECT_EQ(get(router, "/sensor/all").payload, "all");
    EXPECT_EQ(get(router, "/sensor/3").payload, "id=3");
}

TEST(RouterPrecedence, ParamBeatsWildcard) {
    Router router;
    router.get("/files/*", says("wildcard")).get("/files/:name", echoes({"name"}));
    EXPECT_EQ(get(router, "/files/x").payload, "name=x");
    EXPECT_EQ(get(router, "/files/x/y").payload, "wildcard");
    EXPECT_EQ(get(router, "/files").payload, "wildcard");
}

TEST(RouterPrecedence, ExactEndBeatsWildcardMatchingNothing) {
    Router router;
    router.get("/files/*", says("wildcard")).get("/files", says("exact"));
    EXPECT_EQ(get(router, "/files").payload, "exact");
    EXPECT_EQ(get(router, "/files/a").payload, "wildcard");
}

TEST(RouterPrecedence, LeftmostDifferenceDecides) {
    Router router;
    router.get("/:a/b", says("param-first")).get("/a/:b", says("literal-first"));
    EXPECT_EQ(get(router, "/a/b").payload, "literal-first");
    EXPECT_EQ(get(router, "/z/b").payload, "param-first");
}

TEST(RouterPrecedence, EquallySpecificPatternsAreTriedInTheOrderAdded) {
    Router router;
    router.get("/:a", echoes({"a", "b"})).get("/:b", echoes({"a", "b"}));
    EXPECT_EQ(get(router, "/x").payload, "a=x;b=-");
    Router reversed;
    reversed.get("/:b", echoes({"a", "b"})).get("/:a", echoes({"a", "b"}));
    EXPECT_EQ(get(reversed, "/x").payload, "a=-;b=x");
}

// ---- set-up ----

TEST(RouterSetup, SamePatternAddedTwiceExtendsTheRoute) {
    Router router;
    router.get("/r", says("GET")).put("/r", says("PUT"));
    EXPECT_EQ(router.link_format(), "</r>");
    EXPECT_EQ(request(router, Code::put, "/r").payload, "PUT");
}

TEST(RouterSetup, RejectsInvalidRoutes) {
    Router router;
    EXPECT_THROW(router.get("test", says("x")), std::invalid_argument);
    EXPECT_THROW(router.get("", says("x")), std::invalid_argument);
    EXPECT_THROW(router.get("/files/*/x", says("x")), std::invalid_argument);
    EXPECT_THROW(router.get("/a/:", says("x")), std::invalid_argument);
    EXPECT_THROW(router.get("/:id/:id", says("x")), std::invalid_argument);
    EXPECT_THROW(router.get("/:a/:b/:c/:d/:e/:f/:g/:h/:i", says("x")), std::invalid_argument);
    std::string long_pattern;
    for (std::size_t i = 0; i <= Router::max_segments; ++i)
        long_pattern += "/s";
    EXPECT_THROW(router.get(long_pattern, says("x")), std::invalid_argument);
    EXPECT_THROW(router.add(Code::content, "/x", says("x")), std::invalid_argument);
    EXPECT_THROW(router.add(Code::empty, "/x", says("x")), std::invalid_argument);
    EXPECT_THROW(router.get("/x", Handler{}), std::invalid_argument);
    EXPECT_THROW(router.get("/x", says("x"), {.ct = "json"}), std::invalid_argument);
    EXPECT_THROW(router.get("/x", says("x"), {.sz = "-1"}), std::invalid_argument);
    EXPECT_THROW(router.get("/x", says("x"), {.extra = "\"oops"}), std::invalid_argument);
    // Nothing of the failed calls was kept.
    EXPECT_EQ(router.link_format(), "");
    EXPECT_EQ(get(router, "/x").code, Code::not_found);

    router.get("/x", says("x"));
    EXPECT_THROW(router.get("/x", says("again")), std::invalid_argument);
    EXPECT_EQ(get(router, "/x").payload, "x");
}

TEST(RouterSetup, EightParamsAreAccepted) {
    Router router;
    router.get("/:a/:b/:c/:d/:e/:f/:g/:h", echoes({"a", "h"}));
    EXPECT_EQ(get(router, "/1/2/3/4/5/6/7/8").payload, "a=1;h=8");
}

TEST(RouterSetup, RouterIsAMovableHandler) {
    Router router;
    router.get("/test", says("test"));
    Router moved(std::move(router));
    Handler handler(std::move(moved));

    std::array<std::uint8_t, 64> buffer{};
    auto length = MessageWriter(buffer)
                      .header(MessageType::con, Code::get, 1)
                      .option(OptionNumber::uri_path, "test")
                      .finish();
    ASSERT_TRUE(length.has_value());
    auto message = parse(Bytes(buffer.data(), *length));
    ASSERT_TRUE(message.has_value());
    Endpoint peer{};
    Arena arena;
    Request req(*message, peer, arena);
    HandlerResult result = handler(req);
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(as_string(result->payload()), "test");
}

TEST(RouterSetup, RoutersNestAsHandlers) {
    Router api;
    api.get("/api/v1/:thing", echoes({"thing"}));
    Router outer;
    outer.get("/api/*", Handler(std::move(api)));
    EXPECT_EQ(get(outer, "/api/v1/lamp").payload, "thing=lamp");
}

TEST(RouterSetup, DispatchDoesNotAllocate) {
    Router router;
    router.get("/sensor/:id", says("s"), {.rt = "sensor"})
        .get("/files/*", says("f"))
        .get("/a/b/c", says("abc"));
    struct Case {
        Code method;
        std::vector<std::string_view> path;
        std::vector<std::string_view> query;
        Code expected;
    };
    std::vector<Case> cases{
        {Code::get, {"sensor", "1"}, {}, Code::content},
        {Code::get, {"files", "x", "y"}, {}, Code::content},
        {Code::get, {"a", "b", "c"}, {}, Code::content},
        {Code::put, {"a", "b", "c"}, {}, Code::method_not_allowed},
        {Code::get, {"nope"}, {}, Code::not_found},
        {Code::get, {".well-known", "core"}, {}, Code::content},
        {Code::get, {".well-known", "core"}, {"rt=sens*"}, Code::content},
        {Code::post, {".well-known", "core"}, {}, Code::method_not_allowed},
    };
    for (const Case& c : cases) {
        std::array<std::uint8_t, 256> buffer{};
        MessageWriter writer(buffer);
        writer.header(MessageType::con, c.method, 1);
        for (std::string_view segment : c.path)
            writer.option(OptionNumber::uri_path, segment);
        for (std::string_view argument : c.query)
            writer.option(OptionNumber::uri_query, argument);
        auto length = writer.finish();
        ASSERT_TRUE(length.has_value());
        auto message = parse(Bytes(buffer.data(), *length));
        ASSERT_TRUE(message.has_value());
        Endpoint peer{};
        std::array<std::byte, 512> memory{};
        Arena arena(memory);
        Request req(*message, peer, arena);

        test::AllocationCounter::start();
        HandlerResult result = router(req);
        test::AllocationCounter::stop();
        EXPECT_EQ(test::AllocationCounter::count(), 0u);
        ASSERT_TRUE(result.has_value());
        EXPECT_EQ(result->code(), c.expected);
    }
}

// ---- /.well-known/core ----

Router small_table() {
    Router router;
    router.get("/sensors/temp", says("21"), {.rt = "temperature-c", .if_ = "sensor", .obs = true})
        .get("/sensors/light", says("300"), {.rt = "light-lux core.sen-light", .if_ = "sensor"})
        .put("/sensors/temp", says("ok"))
        .get("/config", says("c"), {.ct = "0 50", .title = "Config \"main\""})
        .get("/firmware", says("fw"), {.ct = "42", .sz = "65536"})
        .get("/", says("root"))
        .get("/sensor/:id", echoes({"id"}))
        .get("/files/*", says("file"))
        .get("/things/:id", echoes({"id"}), {.rt = "thing"})
        .get("/debug", says("debug"), {.hidden = true})
        .get("/link", says("l"), {.extra = R"(anchor="/sensors/temp";rel="alternate")"});
    return router;
}

constexpr std::string_view small_table_document =
    R"(</sensors/temp>;rt="temperature-c";if="sensor";obs,)"
    R"(</sensors/light>;rt="light-lux core.sen-light";if="sensor",)"
    R"(</config>;ct="0 50";title="Config \"main\"",)"
    R"(</firmware>;ct=42;sz=65536,)"
    R"(</>,)"
    R"(</things/:id>;rt="thing",)"
    R"(</link>;anchor="/sensors/temp";rel="alternate")";

TEST(RouterDiscovery, DocumentListsOneLinkPerPatternInOrderAdded) {
    // Left out: /sensor/:id and /files/* (templated, no attributes) and /debug (hidden).
    EXPECT_EQ(small_table().link_format(), small_table_document);
}

TEST(RouterDiscovery, GetWellKnownCoreAnswersTheDocumentAsLinkFormat) {
    Router router = small_table();
    Outcome outcome = get(router, "/.well-known/core");
    EXPECT_EQ(outcome.code, Code::content);
    EXPECT_EQ(outcome.content_format, link_format_cf);
    EXPECT_EQ(outcome.payload, small_table_document);
    EXPECT_FALSE(outcome.overflowed);
}

TEST(RouterDiscovery, UnfilteredDocumentNeedsNoArena) {
    Router router = small_table();
    Outcome outcome = dispatch(router, {.path = {".well-known", "core"}, .arena_size = 0});
    EXPECT_EQ(outcome.code, Code::content);
    EXPECT_EQ(outcome.payload, small_table_document);
}

TEST(RouterDiscovery, EmptyRouterAnswersAZeroLengthDocument) {
    Router router;
    Outcome outcome = get(router, "/.well-known/core");
    EXPECT_EQ(outcome.code, Code::content);
    EXPECT_EQ(outcome.content_format, link_format_cf);
    EXPECT_EQ(outcome.payload, "");
}

TEST(RouterDiscovery, OtherMethodsOnWellKnownCoreAreMethodNotAllowed) {
    Router router = small_table();
    router.post("/*", says("catch-all"));
    for (Code method : {Code::post, Code::put, Code::del, Code::fetch, Code::patch, Code::ipatch})
        EXPECT_EQ(request(router, method, "/.well-known/core").code, Code::method_not_allowed);
}

TEST(RouterDiscovery, CatchAllRoutesDoNotHideDiscovery) {
    Router router;
    router.get("/*", says("catch-all"), {.rt = "any"}).get("/:x/:y", says("pair"));
    Outcome outcome = get(router, "/.well-known/core");
    EXPECT_EQ(outcome.content_format, link_format_cf);
    EXPECT_EQ(outcome.payload, R"(</*>;rt="any")");
    EXPECT_EQ(get(router, "/.well-known/other").payload, "pair");
    EXPECT_EQ(get(router, "/.well-known").payload, "catch-all");
}

TEST(RouterDiscovery, UserRouteForWellKnownCoreTakesOver) {
    Router router;
    router.get("/test", says("t"))
        .get("/.well-known/core", says("mine"))
        .post("/.well-known/core", says("posted"));
    EXPECT_EQ(get(router, "/.well-known/core").payload, "mine");
    EXPECT_EQ(request(router, Code::post, "/.well-known/core").payload, "posted");
    EXPECT_EQ(request(router, Code::del, "/.well-known/core").code, Code::method_not_allowed);
    // The generated document does not list /.well-known/core itself.
    EXPECT_EQ(router.link_format(), "</test>");
}

TEST(RouterDiscovery, StaticDocumentReplacesTheGeneratedOneAndIsFiltered) {
    Router router;
    router.get("/test", says("t"));
    router.well_known_core("</a>;rt=\"x\",\n</b>;rt=\"y\"");
    EXPECT_EQ(router.link_format(), "</a>;rt=\"x\",\n</b>;rt=\"y\"");
    EXPECT_EQ(get(router, "/.well-known/core").payload, "</a>;rt=\"x\",\n</b>;rt=\"y\"");
    EXPECT_EQ(get(router, "/.well-known/core", {"rt=y"}).payload, R"(</b>;rt="y")");
    EXPECT_THROW(router.well_known_core("not link format"), std::invalid_argument);
    EXPECT_EQ(get(router, "/.well-known/core", {"rt=x"}).payload, R"(</a>;rt="x")");
}

TEST(RouterDiscovery, HrefsArePercentEncoded) {
    Router router;
    router.get("/a b/ü", says("x"));
    EXPECT_EQ(router.link_format(), "</a%20b/%C3%BC>");
    EXPECT_EQ(get(router, "/.well-known/core", {"href=/a b/ü"}).payload, "</a%20b/%C3%BC>");
}

TEST(RouterDiscovery, LinkAttributesOfOneRouteMergeAcrossMethods) {
    Router router;
    router.get("/r", says("g"), {.rt = "old", .title = "T"})
        .put("/r", says("p"), {.rt = "new", .obs = true})
        .post("/r", says("p"));
    EXPECT_EQ(router.link_format(), R"(</r>;rt="new";title="T";obs)");
    router.del("/r", says("d"), {.hidden = true});
    EXPECT_EQ(router.link_format(), "");
}

TEST(RouterDiscovery, AcceptOtherThanLinkFormatIsNotAcceptable) {
    Router router = small_table();
    Call call{.path = {".well-known", "core"}, .accept = 40u};
    EXPECT_EQ(dispatch(router, call).code, Code::content);
    call.accept = 50u;  // application/json
    EXPECT_EQ(dispatch(router, call).code, Code::not_acceptable);
}

// ---- query filtering (RFC 6690 §4.1) ----

std::string filter(const Router& router, std::vector<std::string> query) {
    Outcome outcome = get(router, "/.well-known/core", std::move(query));
    EXPECT_EQ(outcome.code, Code::content);
    EXPECT_EQ(outcome.content_format, link_format_cf);
    return outcome.payload;
}

TEST(RouterFilter, ResourceTypeCompleteValue) {
    EXPECT_EQ(filter(small_table(), {"rt=temperature-c"}),
              R"(</sensors/temp>;rt="temperature-c";if="sensor";obs)");
}

TEST(RouterFilter, ResourceTypeMatchesAnyOfSeveralValues) {
    EXPECT_EQ(filter(small_table(), {"rt=core.sen-light"}),
              R"(</sensors/light>;rt="light-lux core.sen-light";if="sensor")");
}

TEST(RouterFilter, ResourceTypePrefix) {
    EXPECT_EQ(filter(small_table(), {"rt=t*"}),
              R"(</sensors/temp>;rt="temperature-c";if="sensor";obs,</things/:id>;rt="thing")");
}

TEST(RouterFilter, InterfaceDescription) {
    EXPECT_EQ(filter(small_table(), {"if=sensor"}),
              R"(</sensors/temp>;rt="temperature-c";if="sensor";obs,)"
              R"(</sensors/light>;rt="light-lux core.sen-light";if="sensor")");
}

TEST(RouterFilter, ContentFormatMatchesAnyOfAList) {
    EXPECT_EQ(filter(small_table(), {"ct=50"}), R"(</config>;ct="0 50";title="Config \"main\"")");
    EXPECT_EQ(filter(small_table(), {"ct=42"}), R"(</firmware>;ct=42;sz=65536)");
}

TEST(RouterFilter, TitleIsComparedUnquoted) {
    EXPECT_EQ(filter(small_table(), {"title=Config \"main\""}),
              R"(</config>;ct="0 50";title="Config \"main\"")");
}

TEST(RouterFilter, ObsFlag) {
    std::string expected = R"(</sensors/temp>;rt="temperature-c";if="sensor";obs)";
    EXPECT_EQ(filter(small_table(), {"obs"}), expected);
    EXPECT_EQ(filter(small_table(), {"obs=*"}), expected);
}

TEST(RouterFilter, SizeEstimateExistence) {
    EXPECT_EQ(filter(small_table(), {"sz=*"}), R"(</firmware>;ct=42;sz=65536)");
}

TEST(RouterFilter, HrefCompleteAndPrefix) {
    EXPECT_EQ(filter(small_table(), {"href=/config"}),
              R"(</config>;ct="0 50";title="Config \"main\"")");
    EXPECT_EQ(filter(small_table(), {"href=/sensors/*"}),
              R"(</sensors/temp>;rt="temperature-c";if="sensor";obs,)"
              R"(</sensors/light>;rt="light-lux core.sen-light";if="sensor")");
    EXPECT_EQ(filter(small_table(), {"href=/"}), "</>");
}

TEST(RouterFilter, AnyOtherAttributeName) {
    EXPECT_EQ(filter(small_table(), {"anchor=/sensors/temp"}),
              R"(</link>;anchor="/sensors/temp";rel="alternate")");
    EXPECT_EQ(filter(small_table(), {"rel=alt*"}),
              R"(</link>;anchor="/sensors/temp";rel="alternate")");
}

TEST(RouterFilter, NoMatchIsContentWithAnEmptyPayload) {
    // RFC 6690 §4: "In the absence of any links, a zero-length payload is returned."
    Outcome outcome = get(small_table(), "/.well-known/core", {"rt=nothing"});
    EXPECT_TRUE(outcome.responded);
    EXPECT_EQ(outcome.code, Code::content);
    EXPECT_EQ(outcome.content_format, link_format_cf);
    EXPECT_EQ(outcome.payload, "");
    EXPECT_EQ(filter(small_table(), {"unknown=*"}), "");
}

TEST(RouterFilter, SeveralArgumentsMustAllMatch) {
    EXPECT_EQ(filter(small_table(), {"if=sensor", "obs"}),
              R"(</sensors/temp>;rt="temperature-c";if="sensor";obs)");
}

TEST(RouterFilter, EmptyQueryArgumentIsIgnored) {
    EXPECT_EQ(filter(small_table(), {""}), small_table_document);
}

TEST(RouterFilter, TooManyArgumentsIsBadRequest) {
    std::vector<std::string> query(Router::max_filters + 1, "rt=*");
    EXPECT_EQ(get(small_table(), "/.well-known/core", query).code, Code::bad_request);
    query.pop_back();
    EXPECT_EQ(get(small_table(), "/.well-known/core", query).code, Code::content);
}

TEST(RouterFilter, ArenaTooSmallForTheFilteredDocumentIsInternalServerError) {
    Router router = small_table();
    constexpr std::string_view expected =
        R"(</sensors/temp>;rt="temperature-c";if="sensor";obs,)"
        R"(</sensors/light>;rt="light-lux core.sen-light";if="sensor")";
    Call call{
        .path = {".well-known", "core"}, .query = {"if=sensor"}, .arena_size = expected.size()};
    Outcome fits = dispatch(router, call);
    EXPECT_EQ(fits.code, Code::content);
    EXPECT_EQ(fits.payload, expected);

    call.arena_size = expected.size() - 1;
    Outcome too_small = dispatch(router, call);
    EXPECT_EQ(too_small.code, Code::internal_server_error);
    EXPECT_EQ(too_small.payload, "");
}

// ---- ETSI CoAP#4 plugtest, TD_COAP_LINK_01-09 (td-coap4 link.yml) ----
//
// The plugtest server's resource set: the base resources of base.yml and block.yml, and for
// the link tests /link1-3 with types Type1-3 and interfaces If1, If2 and foo, a resource with
// an empty rt, one with sz, and the hierarchy /path -> /path/sub1, /path/sub2.
constexpr std::string_view path_document = "</path/sub1>,</path/sub2>";

Router plugtest_server() {
    Router router;
    router.get("/test", says("test"))
        .post("/test", says("created"))
        .put("/test", says("changed"))
        .del("/test", says("deleted"))
        .get("/seg1/seg2/seg3", says("seg"))
        .get("/query", says("query"))
        .get("/separate", says("separate"))
        .get("/large", says("large"), {.rt = "block", .sz = "2048"})
        .get("/obs", says("obs"), {.rt = "observe", .obs = true})
        .get("/multi-format", says("multi"), {.ct = "0 41"})
        .get("/link1", says("1"), {.rt = "Type1 Type2", .if_ = "If1"})
        .get("/link2", says("2"), {.rt = "Type2 Type3", .if_ = "If2"})
        .get("/link3", says("3"), {.rt = "Type1 Type3", .if_ = "foo"})
        .get("/untyped", says("u"), {.extra = R"(rt="")"})
        .get("/path",
             [](Request&) -> HandlerResult {
                 return Response::content(ContentFormat::link_format, path_document);
             },
             {.ct = "40"})
        .get("/path/sub1", says("/path/sub1"), {.hidden = true})
        .get("/path/sub2", says("/path/sub2"), {.hidden = true});
    return router;
}

// The hrefs of a link-format payload, in order.
std::vector<std::string> hrefs(std::string_view payload) {
    std::vector<std::string> out;
    for (std::size_t open = payload.find('<'); open != std::string_view::npos;
         open = payload.find('<', open + 1)) {
        std::size_t close = payload.find('>', open);
        out.emplace_back(payload.substr(open + 1, close - open - 1));
    }
    return out;
}

using Hrefs = std::vector<std::string>;

TEST(RouterEtsiLink, Link01GetWellKnownCoreListsAllResources) {
    Outcome outcome = get(plugtest_server(), "/.well-known/core");
    EXPECT_EQ(outcome.code, Code::content);
    EXPECT_EQ(outcome.content_format, link_format_cf);
    EXPECT_EQ(hrefs(outcome.payload),
              (Hrefs{"/test", "/seg1/seg2/seg3", "/query", "/separate", "/large", "/obs",
                     "/multi-format", "/link1", "/link2", "/link3", "/untyped", "/path"}));
}

TEST(RouterEtsiLink, Link02FilterByResourceType) {
    std::string payload = filter(plugtest_server(), {"rt=Type1"});
    EXPECT_EQ(payload, R"(</link1>;rt="Type1 Type2";if="If1",</link3>;rt="Type1 Type3";if="foo")");
}

TEST(RouterEtsiLink, Link03EmptyPrefixReturnsOnlyLinksWithAnRtAttribute) {
    EXPECT_EQ(hrefs(filter(plugtest_server(), {"rt=*"})),
              (Hrefs{"/large", "/obs", "/link1", "/link2", "/link3", "/untyped"}));
}

TEST(RouterEtsiLink, Link04MultipleResourceTypes) {
    // Groups rt="Type1 Type2" and rt="Type2 Type3" match, rt="Type1 Type3" and rt="" do not.
    EXPECT_EQ(hrefs(filter(plugtest_server(), {"rt=Type2"})), (Hrefs{"/link1", "/link2"}));
}

TEST(RouterEtsiLink, Link05InterfacePrefix) {
    // Groups if="If1" and if="If2" match, if="foo" and no if do not.
    EXPECT_EQ(hrefs(filter(plugtest_server(), {"if=If*"})), (Hrefs{"/link1", "/link2"}));
}

TEST(RouterEtsiLink, Link06SizeEstimatePresent) {
    EXPECT_EQ(filter(plugtest_server(), {"sz=*"}), R"(</large>;rt="block";sz=2048)");
}

TEST(RouterEtsiLink, Link07HrefCompleteValue) {
    EXPECT_EQ(filter(plugtest_server(), {"href=/link1"}), R"(</link1>;rt="Type1 Type2";if="If1")");
}

TEST(RouterEtsiLink, Link08HrefPrefixValue) {
    EXPECT_EQ(hrefs(filter(plugtest_server(), {"href=/link*"})),
              (Hrefs{"/link1", "/link2", "/link3"}));
}

TEST(RouterEtsiLink, Link09HierarchicalLinkDescriptions) {
    Router router = plugtest_server();
    // /.well-known/core describes /path (ct=40), not its sub-resources.
    std::string core = get(router, "/.well-known/core").payload;
    EXPECT_NE(core.find("</path>;ct=40"), std::string::npos);
    EXPECT_EQ(core.find("/path/sub"), std::string::npos);
    // /path lists the sub-resources in link-format.
    Outcome path = get(router, "/path");
    EXPECT_EQ(path.code, Code::content);
    EXPECT_EQ(path.content_format, link_format_cf);
    EXPECT_EQ(hrefs(path.payload), (Hrefs{"/path/sub1", "/path/sub2"}));
    // Each sub-resource answers.
    Outcome sub1 = get(router, "/path/sub1");
    EXPECT_EQ(sub1.code, Code::content);
    EXPECT_EQ(sub1.payload, "/path/sub1");
}

}  // namespace
}  // namespace coap
