// A blocking GET, then a few pipelined ones: `example_client_get [host] [port]`.
#include <cstdio>
#include <cstdlib>

#include <coap/client.hpp>
#include <coap/uri.hpp>

int main(int argc, char** argv) {
    coap::ClientConfig config;
    if (argc > 1) config.host = argv[1];
    if (argc > 2) config.port = static_cast<std::uint16_t>(std::atoi(argv[2]));
    coap::Client client(config);

    auto reply = client.get("/test");
    if (!reply) {
        std::printf("GET /test failed: %s\n", coap::describe(reply.error()).data());
        return 1;
    }
    std::printf("%.4s %.*s\n", coap::code_text(reply->code()).text,
                static_cast<int>(reply->text().size()), reply->text().data());

    coap::UriOptions<> path;
    if (!path.append_path("seg1/seg2/seg3")) return 1;
    for (int i = 0; i < 4; ++i)
        if (!client.submit({coap::Code::get, path.options()})) return 1;
    while (auto done = client.poll(std::chrono::milliseconds(500))) {
        if (done->result)
            std::printf("request %llu: %.*s\n", static_cast<unsigned long long>(done->handle),
                        static_cast<int>(done->result->text().size()), done->result->text().data());
        else
            std::printf("request %llu failed: %s\n", static_cast<unsigned long long>(done->handle),
                        coap::describe(done->result.error()).data());
        if (client.pending() == 0) break;
    }
    return 0;
}
