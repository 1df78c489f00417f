// Block-wise transfers (RFC 7959), both sides in one program: a client PUTs a 20 KiB body,
// which goes out in Block1 blocks that the server reassembles, so the handler sees it whole;
// then it GETs the body back, which the server slices into Block2 blocks and the client
// reassembles. Neither the handlers nor the calls deal with blocks.
//
//     example_block_upload
#include <algorithm>
#include <cstdio>
#include <thread>
#include <vector>

#include <coap/client.hpp>
#include <coap/router.hpp>
#include <coap/server.hpp>
#include <coap/uri.hpp>

int main() {
    std::vector<std::uint8_t> stored;  // the resource; one worker thread, so no lock needed
    coap::Router router;
    router
        .put("/file",
             [&stored](coap::Request& request) -> coap::HandlerResult {
                 coap::Bytes body = request.payload();  // all 20 KiB, reassembled
                 stored.assign(body.begin(), body.end());
                 return coap::Response::changed();
             })
        .get("/file", [&stored](coap::Request&) -> coap::HandlerResult {
            return coap::Response::ok(coap::Bytes(stored));  // larger than a block: Block2
        });

    coap::ServerConfig server_config;
    server_config.bind_address = "127.0.0.1";
    server_config.port = 0;                       // any free port
    server_config.max_block_payload = 64 * 1024;  // largest body reassembled (the default)
    coap::Server server(server_config, std::move(router));
    server.listen();
    std::thread server_thread([&server] { server.run(); });

    coap::ClientConfig client_config;
    client_config.host = "127.0.0.1";
    client_config.port = server.local_port();
    client_config.block_szx = 5;  // 2^(5+4) = 512-byte blocks
    coap::Client client(client_config);

    std::vector<std::uint8_t> body(20 * 1024);
    for (std::size_t i = 0; i < body.size(); ++i)
        body[i] = static_cast<std::uint8_t>(i * 7 + i / 251);
    coap::UriOptions<> path;
    bool path_ok = path.append_path("file").has_value();

    auto put = client.upload(coap::Code::put, path.options(), body);  // Block1: 40 blocks
    auto get = client.get("/file");                                   // Block2, reassembled
    server.stop();
    server_thread.join();  // stats() is exact once run() has returned

    if (!path_ok || !put || put->code() != coap::Code::changed || !get) {
        std::printf("transfer failed\n");
        return 1;
    }
    coap::Bytes back = get->payload();
    if (!std::equal(back.begin(), back.end(), body.begin(), body.end())) {
        std::printf("the body came back different (%zu bytes)\n", back.size());
        return 1;
    }
    coap::ServerStats stats = server.stats();
    std::printf("%zu bytes up and back: %llu Continue answers, %llu Block2 blocks served\n",
                back.size(), static_cast<unsigned long long>(stats.block1_continues),
                static_cast<unsigned long long>(stats.block2_served));
    return 0;
}
