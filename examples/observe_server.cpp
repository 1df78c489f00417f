// An observable resource (RFC 7641): a sensor thread publishes a new reading every 100 ms and
// the server notifies every client that registered with GET /temperature and Observe=0.
//
//     example_observe_server [port]   (port 0 picks a free one; Ctrl-C or SIGTERM stops it)
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <thread>

#include <coap/router.hpp>
#include <coap/server.hpp>

namespace {

constexpr coap::ResourceId temperature{0};  // below ServerConfig::max_observe_resources
std::atomic<int> tenths{225};               // the reading, in tenths of a degree

std::atomic<coap::Server*> running{nullptr};
extern "C" void stop_server(int) {
    if (coap::Server* server = running.load()) server->stop();  // async-signal-safe
}

// "22.5": the reading as text, written into `out` (empty when it does not fit).
std::string_view format(int value, std::span<char> out) {
    int length = std::snprintf(out.data(), out.size(), "%d.%d", value / 10, value % 10);
    if (length < 0 || static_cast<std::size_t>(length) >= out.size()) return {};
    return {out.data(), static_cast<std::size_t>(length)};
}

}  // namespace

int main(int argc, char** argv) {
    coap::Router router;
    router.get("/temperature",
               [](coap::Request& request) -> coap::HandlerResult {
                   request.observe(temperature);  // a GET with Observe=0 registers its client
                   auto out = request.arena().bytes(16);  // per-request scratch memory, no heap
                   std::span<char> buffer(reinterpret_cast<char*>(out.data()), out.size());
                   std::string_view text = format(tenths.load(), buffer);
                   return coap::Response::content(coap::ContentFormat::text_plain, text);
               },
               {.rt = "temperature-c", .obs = true});  // listed as observable in /.well-known/core

    coap::ServerConfig config;
    if (argc > 1) config.port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    coap::Server server(config, std::move(router));
    server.listen();
    running = &server;
    std::signal(SIGINT, stop_server);
    std::signal(SIGTERM, stop_server);

    // The sensor loop: any thread may call notify(); the response is copied before it returns.
    std::jthread sensor([&server](std::stop_token stop) {
        while (!stop.stop_requested()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            int value = tenths += 1;
            char text[16];
            server.notify(temperature, coap::Response::content(coap::ContentFormat::text_plain,
                                                               format(value, text)));
        }
    });
    std::printf("listening on port %u\n", server.local_port());
    std::fflush(stdout);
    server.run();  // returns after stop(); then the sensor thread is stopped and joined
}
