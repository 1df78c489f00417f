// Routes with parameters, discovery attributes and state shared between handlers.
#include <atomic>
#include <charconv>

#include <coap/router.hpp>
#include <coap/server.hpp>

namespace {

struct Counter {
    std::atomic<unsigned> value{0};

    coap::HandlerResult read(coap::Request& request) {
        auto out = request.arena().bytes(16);
        auto [end, error] =
            std::to_chars(reinterpret_cast<char*>(out.data()),
                          reinterpret_cast<char*>(out.data() + out.size()), value.load());
        if (error != std::errc()) return coap::Response::internal_server_error();
        auto length = static_cast<std::size_t>(end - reinterpret_cast<char*>(out.data()));
        return coap::Response::content(coap::ContentFormat::text_plain,
                                       coap::Bytes(out.data(), length));
    }
    coap::HandlerResult increment(coap::Request&) {
        ++value;
        return coap::Response::changed();
    }
};

}  // namespace

int main() {
    Counter counter;  // shared by the handlers below; atomic because workers run in parallel
    coap::Router router;
    router
        .get("/temperature",
             [](coap::Request&) -> coap::HandlerResult {
                 return coap::Response::content(coap::ContentFormat::text_plain, "22.5");
             },
             {.rt = "temperature-c", .if_ = "sensor"})
        .get("/sensor/:id",
             [](coap::Request& request) -> coap::HandlerResult {
                 auto id = request.param("id");  // captured by the router
                 return coap::Response::ok(request.arena().copy(*id));
             })
        .get("/counter", coap::Handler::member<&Counter::read>(counter))
        .post("/counter", coap::Handler::member<&Counter::increment>(counter));

    coap::ServerConfig config;
    config.bind_address = "::";  // IPv6 and IPv4
    config.thread_count = 2;     // one socket, ring and state per thread
    coap::Server server(config, std::move(router));
    server.run();
}
