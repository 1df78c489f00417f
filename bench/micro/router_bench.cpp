// Router and /.well-known/core micro-benchmarks on a router of 50 routes:
//
//   40 literal  /sensors/sN/value (N = 0..39), rt="sensor-<kind>" for four kinds, if="sensor"
//    5 param    /actuators/:id/state, /config/:key, /devices/:dev/sensors/:sensor, /users/:user,
//               /groups/:group/members
//    4 literal  /, /test, /echo, /firmware/version
//    1 wildcard /files/*
//
// router/*: one request dispatched through Router::operator() to a handler that answers 2.05
// with no payload (the datagram is parsed once, outside the loop). wkc/*: GET /.well-known/core
// through the same router, unfiltered and with RFC 6690 §4.1 query filters (written into the
// request arena), and the generation of the document that Router::add redoes after every route.
// The counter out_B is the size of the answer's payload (of the document for generate).
#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "coap/arena.hpp"
#include "coap/endpoint.hpp"
#include "coap/message.hpp"
#include "coap/request.hpp"
#include "coap/response.hpp"
#include "coap/router.hpp"
#include "server/link_format.hpp"

namespace {

constexpr std::array<std::string_view, 4> sensor_kinds{"temperature", "humidity", "light",
                                                       "pressure"};

coap::HandlerResult answer(coap::Request&) {
    return coap::Response(coap::Code::content);
}

struct Route {
    std::string pattern;
    coap::LinkAttributes link;
};

std::vector<Route> fifty_routes() {
    std::vector<Route> routes;
    for (int i = 0; i < 40; ++i) {
        routes.push_back({"/sensors/s" + std::to_string(i) + "/value",
                          {.rt = "sensor-" + std::string(sensor_kinds[i % 4]),
                           .if_ = "sensor",
                           .ct = "0",
                           .obs = i % 2 == 0}});
    }
    for (const char* pattern :
         {"/actuators/:id/state", "/config/:key", "/devices/:dev/sensors/:sensor", "/users/:user",
          "/groups/:group/members"})
        routes.push_back({pattern, {}});
    routes.push_back({"/", {.title = "index"}});
    routes.push_back({"/test", {.rt = "test", .sz = "1024"}});
    routes.push_back({"/echo", {}});
    routes.push_back({"/firmware/version", {.rt = "firmware", .ct = "0"}});
    routes.push_back({"/files/*", {}});
    if (routes.size() != 50) std::abort();
    return routes;
}

const coap::Router& router() {
    static const coap::Router built = [] {
        coap::Router r;
        for (Route& route : fifty_routes())
            r.get(route.pattern, answer, std::move(route.link));
        return r;
    }();
    return built;
}

// A parsed GET request for a path ("/a/b") and query arguments; the bytes live in the object.
class ParsedGet {
  public:
    ParsedGet(std::string_view path, std::vector<std::string_view> query = {}) {
        coap::MessageWriter writer(buffer_);
        writer.header(coap::MessageType::con, coap::Code::get, 0x1234, coap::as_bytes("tk"));
        path.remove_prefix(1);
        while (!path.empty()) {
            std::size_t slash = path.find('/');
            writer.option(coap::OptionNumber::uri_path, path.substr(0, slash));
            path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
        }
        for (std::string_view argument : query)
            writer.option(coap::OptionNumber::uri_query, argument);
        auto length = writer.finish();
        if (!length) std::abort();
        auto parsed = coap::parse(coap::Bytes(buffer_.data(), *length));
        if (!parsed) std::abort();
        message_ = *parsed;
    }
    ParsedGet(const ParsedGet&) = delete;  // message_ views buffer_
    ParsedGet& operator=(const ParsedGet&) = delete;
    const coap::MessageView& message() const { return message_; }

  private:
    std::array<std::uint8_t, 256> buffer_{};
    coap::MessageView message_;
};

// Dispatches `get` in a loop; checks the answer's code once, outside the timed loop.
void dispatch(benchmark::State& state, const ParsedGet& get, coap::Code expected) {
    const coap::Router& routes = router();
    coap::Endpoint peer{};
    static std::array<std::byte, 8192> memory{};
    coap::Arena arena(memory);
    std::size_t payload = 0;
    for (auto _ : state) {
        coap::Request request(get.message(), peer, arena);
        coap::HandlerResult result = routes(request);
        benchmark::DoNotOptimize(result);
        payload = result ? result->payload().size() : 0;
        arena.reset();
    }
    coap::Request request(get.message(), peer, arena);
    coap::HandlerResult result = routes(request);
    if (!result || result->code() != expected) state.SkipWithError("unexpected answer");
    state.counters["out_B"] = static_cast<double>(payload);
}

const ParsedGet first_literal("/sensors/s0/value");
const ParsedGet last_literal("/sensors/s39/value");
const ParsedGet two_params("/devices/d7/sensors/temp");
const ParsedGet wildcard("/files/a/b/c.txt");
const ParsedGet unknown("/sensors/s99/value");
const ParsedGet wkc_all("/.well-known/core");
const ParsedGet wkc_rt("/.well-known/core", {"rt=sensor-light"});
const ParsedGet wkc_href_prefix("/.well-known/core", {"href=/sensors/s1*"});
const ParsedGet wkc_two_filters("/.well-known/core", {"if=sensor", "obs"});

BENCHMARK_CAPTURE(dispatch, literal_first, first_literal, coap::Code::content)
    ->Name("router/match_literal_first");
BENCHMARK_CAPTURE(dispatch, literal_last, last_literal, coap::Code::content)
    ->Name("router/match_literal_last");
BENCHMARK_CAPTURE(dispatch, two_params, two_params, coap::Code::content)
    ->Name("router/match_two_params");
BENCHMARK_CAPTURE(dispatch, wildcard, wildcard, coap::Code::content)->Name("router/match_wildcard");
BENCHMARK_CAPTURE(dispatch, not_found, unknown, coap::Code::not_found)->Name("router/not_found");
BENCHMARK_CAPTURE(dispatch, wkc_all, wkc_all, coap::Code::content)->Name("wkc/get_unfiltered");
BENCHMARK_CAPTURE(dispatch, wkc_rt, wkc_rt, coap::Code::content)->Name("wkc/filter_rt");
BENCHMARK_CAPTURE(dispatch, wkc_href, wkc_href_prefix, coap::Code::content)
    ->Name("wkc/filter_href_prefix");
BENCHMARK_CAPTURE(dispatch, wkc_two, wkc_two_filters, coap::Code::content)
    ->Name("wkc/filter_if_and_obs");

// What Router::add redoes after every route: hrefs encoded, the 44 listed links serialised
// (templated routes without attributes are left out), and the document parsed for filtering (set-up
// work; it allocates).
void wkc_generate(benchmark::State& state) {
    const std::vector<Route> routes = fifty_routes();
    std::size_t size = 0;
    for (auto _ : state) {
        std::vector<std::string> hrefs;
        std::vector<coap::links::Entry> entries;
        hrefs.reserve(routes.size());
        entries.reserve(routes.size());
        for (const Route& route : routes) {
            // Listed like Router does: templated routes only when they have attributes.
            bool templated = route.pattern.find_first_of(":*") != std::string::npos;
            if (templated && !route.link.any()) continue;
            hrefs.push_back(coap::links::encode_href(route.pattern));
            entries.push_back({hrefs.back(), &route.link});
        }
        coap::links::Document document(coap::links::serialize(entries));
        size = document.text().size();
        benchmark::DoNotOptimize(document);
    }
    state.counters["out_B"] = static_cast<double>(size);
}
BENCHMARK(wkc_generate)->Name("wkc/generate_50_links");

}  // namespace

BENCHMARK_MAIN();
