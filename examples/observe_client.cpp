// Observing a resource (RFC 7641): register, print N notifications, then deregister. Run it
// against example_observe_server, which publishes a new reading every 100 ms:
//
//     example_observe_client [host] [port] [notifications]
#include <cstdio>
#include <cstdlib>

#include <coap/client.hpp>

int main(int argc, char** argv) {
    coap::ClientConfig config;
    if (argc > 1) config.host = argv[1];
    if (argc > 2) config.port = static_cast<std::uint16_t>(std::atoi(argv[2]));
    const int wanted = argc > 3 ? std::atoi(argv[3]) : 5;
    coap::Client client(config);

    // Sends GET /temperature with Observe=0 and returns at once.
    auto observation = client.observe("/temperature");
    if (!observation) {
        std::printf("observe: %s\n", coap::describe(observation.error()).data());
        return 1;
    }
    for (int i = 0; i < wanted; ++i) {
        // The first notification is the registration's own response; CON notifications are
        // acknowledged by the client, and reordered (stale) ones are dropped (RFC 7641 §3.4).
        auto notification = observation->next(std::chrono::seconds(2));
        if (!notification) {
            std::printf("no notification within 2 s\n");
            return 1;
        }
        if (!notification->result) {
            std::printf("observation ended: %s\n",
                        coap::describe(notification->result.error()).data());
            return 1;
        }
        const coap::ClientResponse& response = *notification->result;
        auto sequence = response.option(coap::OptionNumber::observe);
        std::printf("notification %d: %.*s (Observe %u)\n", i + 1,
                    static_cast<int>(response.text().size()), response.text().data(),
                    sequence ? static_cast<unsigned>(sequence->as_uint().value_or(0)) : 0u);
        if (notification->last) {
            std::printf("the server ended the observation\n");
            return 1;
        }
    }
    // Deregisters with a GET carrying Observe=1 (RFC 7641 §3.6) and waits for its answer.
    if (auto error = observation->cancel()) {
        std::printf("cancel: %s\n", coap::describe(*error).data());
        return 1;
    }
    std::printf("cancelled after %d notifications\n", wanted);
    return 0;
}
