// Routes with parameters, discovery attributes and state shared between handlers.
//
//     example_router_server [port]    (port 0 picks a free one; Ctrl-C or SIGTERM stops it)
#include <atomic>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include <coap/router.hpp>
#include <coap/server.hpp>

namespace {

struct Counter {
    std::atomic<unsigned> value{0};

    coap::HandlerResult read(coap::Request& request) {
        auto out = request.arena().bytes(16);  // per-request scratch memory, no heap
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

std::atomic<coap::Server*> running{nullptr};
extern "C" void stop_server(int) {
    if (coap::Server* server = running.load()) server->stop();  // async-signal-safe
}

}  // namespace

int main(int argc, char** argv) {
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
    if (argc > 1) config.port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    coap::Server server(config, std::move(router));
    server.listen();
    running = &server;
    std::signal(SIGINT, stop_server);
    std::signal(SIGTERM, stop_server);
    std::printf("listening on port %u\n", server.local_port());
    std::fflush(stdout);
    server.run();
}
