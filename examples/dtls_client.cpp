// coaps:// from the client side: a handshake with a pre-shared key, a GET in the session, then
// a reconnect that resumes the session (an abbreviated handshake, RFC 5246 §7.3).
//
//     example_dtls_client host port identity key [path]     (path defaults to /whoami)
#include <cstdio>
#include <cstdlib>
#include <string>

#include <coap/client.hpp>

namespace {

bool get_and_print(coap::Client& client, const std::string& path) {
    auto reply = client.get(path);
    if (!reply) {
        std::printf("GET %s failed: %s\n", path.c_str(), coap::describe(reply.error()).data());
        return false;
    }
    std::printf("%.4s %.*s\n", coap::code_text(reply->code()).text,
                static_cast<int>(reply->text().size()), reply->text().data());
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s host port identity key [path]\n", argv[0]);
        return 2;
    }
    coap::ClientConfig config;
    config.host = argv[1];
    config.port = static_cast<std::uint16_t>(std::atoi(argv[2]));
    config.dtls = coap::ClientDtlsConfig{coap::PskCredentials::from_text(argv[3], argv[4])};
    const std::string path = argc > 5 ? argv[5] : "/whoami";
    coap::Client client(config);

    // Optional: without it the first request performs the handshake.
    if (auto error = client.connect()) {
        auto failure = client.dtls_status().last_failure;
        std::printf("handshake failed: %s\n",
                    failure ? coap::describe(*failure).c_str() : coap::describe(*error).data());
        return 1;
    }
    if (!get_and_print(client, path)) return 1;

    client.disconnect();  // close_notify; the session stays resumable
    if (!get_and_print(client, path)) return 1;
    const coap::DtlsClientStatus status = client.dtls_status();
    std::printf("handshakes: %u full, %u resumed\n", status.full_handshakes,
                status.resumed_handshakes);
    return 0;
}
