// coaps:// with pre-shared keys: one key per device, looked up when a device connects, and
// handlers that authorize by the identity the DTLS session was established with.
//
//     example_dtls_server [port]      (the coaps:// port; 0 picks a free one)
//
// Try it with libcoap's client:
//     coap-client-openssl -u device-1 -k secret-1 coaps://127.0.0.1:5684/whoami
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <coap/router.hpp>
#include <coap/server.hpp>

namespace {

std::atomic<coap::Server*> running{nullptr};
extern "C" void stop_server(int) {
    if (coap::Server* server = running.load()) server->stop();
}

// Stands in for a device registry: identity -> key.
const std::map<std::string, std::string, std::less<>> device_keys{
    {"device-1", "secret-1"}, {"device-2", "secret-2"}, {"admin", "correct horse"}};

}  // namespace

int main(int argc, char** argv) {
    coap::ServerConfig config;
    config.port = 0;  // coap:// is served too; here on any free port
    config.dtls.enabled = true;
    config.dtls.port = argc > 1 ? static_cast<std::uint16_t>(std::atoi(argv[1])) : 5684;
    // Called during handshakes for identities not in config.dtls.keys: nullopt refuses the
    // device with an unknown_psk_identity alert.
    config.dtls.resolver =
        [](std::string_view identity) -> std::optional<std::vector<std::uint8_t>> {
        auto it = device_keys.find(identity);
        if (it == device_keys.end()) return std::nullopt;
        return std::vector<std::uint8_t>(it->second.begin(), it->second.end());
    };

    coap::Router router;
    router.get("/whoami", [](coap::Request& request) -> coap::HandlerResult {
        if (!request.is_secure()) return coap::Response::unauthorized();
        return coap::Response::ok(request.psk_identity());  // views the session: valid here
    });
    router.put("/config", [](coap::Request& request) -> coap::HandlerResult {
        if (request.psk_identity() != "admin") return coap::Response::forbidden();
        return coap::Response::changed();
    });

    coap::Server server(config, coap::Handler(std::move(router)));
    server.listen();
    running = &server;
    std::signal(SIGINT, stop_server);
    std::signal(SIGTERM, stop_server);
    std::printf("listening on port %u\n", server.secure_port());
    std::fflush(stdout);
    server.run();
}
