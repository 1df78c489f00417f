// The smallest server: answers every request with its own payload.
//
//     example_echo_server [port]      (port 0 picks a free one; Ctrl-C or SIGTERM stops it)
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include <coap/server.hpp>

namespace {

// Server::stop() is async-signal-safe, so a signal handler may call it.
std::atomic<coap::Server*> running{nullptr};
extern "C" void stop_server(int) {
    if (coap::Server* server = running.load()) server->stop();
}

}  // namespace

int main(int argc, char** argv) {
    coap::ServerConfig config;  // every field has a working default (port 5683, IPv4)
    if (argc > 1) config.port = static_cast<std::uint16_t>(std::atoi(argv[1]));

    coap::Server server(config, [](coap::Request& request) -> coap::HandlerResult {
        return coap::Response::ok(request.payload());  // the payload outlives the handler call
    });
    server.listen();  // binds now, so the port is known before run()
    running = &server;
    std::signal(SIGINT, stop_server);
    std::signal(SIGTERM, stop_server);
    std::printf("listening on port %u\n", server.local_port());
    std::fflush(stdout);
    server.run();  // returns after stop()
}
