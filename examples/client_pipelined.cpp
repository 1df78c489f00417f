// Many requests in flight at once: submit() returns at once, poll() drives the I/O and hands
// back finished requests in any order. Run it against example_echo_server, which echoes the
// payload back:
//
//     example_client_pipelined [host] [port] [requests]
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include <coap/client.hpp>
#include <coap/uri.hpp>

int main(int argc, char** argv) {
    coap::ClientConfig config;
    if (argc > 1) config.host = argv[1];
    if (argc > 2) config.port = static_cast<std::uint16_t>(std::atoi(argv[2]));
    const int total = argc > 3 ? std::atoi(argv[3]) : 200;
    config.max_in_flight = 16;  // after the first answer (before it, NSTART = 1, RFC 7252 §4.7)
    coap::Client client(config);

    coap::UriOptions<> path;  // Uri-Path options built once, without the heap
    if (!path.append_path("echo")) return 1;

    std::map<coap::RequestHandle, std::string> expected;  // what each request should get back
    int sent = 0, answered = 0;
    while (answered < total) {
        // Keep the pipeline full: submit until the client is busy (in flight + queued + finished
        // but not yet polled reach 2 * max_in_flight); submit copies the payload.
        while (sent < total) {
            std::string payload = "request " + std::to_string(sent);
            auto handle =
                client.submit({coap::Code::post, path.options(), coap::as_bytes(payload)});
            if (!handle && handle.error() == coap::ClientError::busy) break;
            if (!handle) {
                std::printf("submit failed: %s\n", coap::describe(handle.error()).data());
                return 1;
            }
            expected[*handle] = std::move(payload);
            ++sent;
        }
        auto done = client.poll(std::chrono::seconds(5));  // one finished request, or nullopt
        if (!done) {
            std::printf("no answer within 5 s\n");
            return 1;
        }
        if (!done->result) {
            std::printf("request failed: %s\n", coap::describe(done->result.error()).data());
            return 1;
        }
        if (done->result->text() != expected[done->handle]) {
            std::printf("wrong echo for \"%s\"\n", expected[done->handle].c_str());
            return 1;
        }
        expected.erase(done->handle);
        ++answered;
    }
    std::printf("%d requests answered, all echoed correctly\n", answered);
    return 0;
}
