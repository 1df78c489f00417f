// The smallest server: answers every request with its own payload.
#include <coap/server.hpp>

int main() {
    coap::Server server(coap::ServerConfig{}, [](coap::Request& request) -> coap::HandlerResult {
        return coap::Response::ok(request.payload());
    });
    server.run();
}
