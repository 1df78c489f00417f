// Smoke tests of the programs in examples/: each server example is started on a free port
// (argument 0; it prints "listening on port N" once bound), the matching client example or a
// coap::Client in the test talks to it, and the server must then stop cleanly on SIGTERM.
// example_client_get runs against coapd, whose plugtest resources it asks for, and
// example_block_upload brings its own server. Every wait is bounded by a timeout on the
// process' output or exit; nothing sleeps.
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coap/client.hpp"
#include "coap/codes.hpp"
#include "support/coapd_process.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using coap::test::Process;
using coap::test::ProcessResult;
using coap::test::run_process;

// Every example finishes well within this; the ctest entry's own limit is larger.
constexpr auto example_timeout = 5s;

std::string example_path(const std::string& name) {
    return std::string(EXAMPLES_DIR) + "/example_" + name;
}

// A server example on a free port. The destructor's SIGTERM is the way it ends.
class ExampleServer {
  public:
    explicit ExampleServer(const std::string& name) : process_({example_path(name), "0"}) {
        const std::string prefix = "listening on port ";
        std::optional<std::string> line = process_.read_line(example_timeout);
        if (!line || line->rfind(prefix, 0) != 0)
            throw std::runtime_error(
                name + " printed no start-up line; stderr: " + process_.stderr_text());
        port_ = static_cast<std::uint16_t>(std::stoul(line->substr(prefix.size())));
    }

    std::uint16_t port() const { return port_; }
    std::string port_text() const { return std::to_string(port_); }
    // SIGTERM must make Server::run() return and main() exit with 0.
    int stop() { return process_.terminate(example_timeout); }

  private:
    Process process_;
    std::uint16_t port_ = 0;
};

// Runs a client example to completion; fails the test on a timeout or a non-zero exit.
ProcessResult run_example(const std::string& name, std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), example_path(name));
    ProcessResult result = run_process(arguments, example_timeout);
    EXPECT_FALSE(result.timed_out) << name << " did not finish; stdout:\n" << result.out;
    EXPECT_EQ(result.exit_status, 0) << name << " stdout:\n"
                                     << result.out << "stderr:\n"
                                     << result.err;
    return result;
}

coap::Client client_for(std::uint16_t port) {
    coap::ClientConfig config;
    config.host = "::1";
    config.port = port;
    return coap::Client(config);
}

std::string text_of(const coap::ClientResult& result) {
    return result ? std::string(result->text()) : "(" + std::string(describe(result.error())) + ")";
}

TEST(ExamplesSmoke, PipelinedClientAgainstEchoServer) {
    ExampleServer server("echo_server");
    ProcessResult client =
        run_example("client_pipelined", {"127.0.0.1", server.port_text(), "300"});
    EXPECT_NE(client.out.find("300 requests answered, all echoed correctly"), std::string::npos)
        << client.out;
    EXPECT_EQ(server.stop(), 0);
}

TEST(ExamplesSmoke, RouterServerAnswersItsRoutes) {
    ExampleServer server("router_server");
    {
        coap::Client client = client_for(server.port());
        EXPECT_EQ(text_of(client.get("/temperature")), "22.5");
        EXPECT_EQ(text_of(client.get("/sensor/7")), "7");
        auto posted = client.post("/counter", {});
        ASSERT_TRUE(posted) << describe(posted.error());
        EXPECT_EQ(posted->code(), coap::Code::changed);
        EXPECT_EQ(text_of(client.get("/counter")), "1");
        auto missing = client.get("/nowhere");
        ASSERT_TRUE(missing);
        EXPECT_EQ(missing->code(), coap::Code::not_found);
        std::string links = text_of(client.get("/.well-known/core"));
        EXPECT_NE(links.find("</temperature>;rt=\"temperature-c\""), std::string::npos) << links;
    }
    EXPECT_EQ(server.stop(), 0);
}

TEST(ExamplesSmoke, ClientGetAgainstCoapd) {
    coap::test::CoapdProcess coapd(COAPD_PATH);
    ProcessResult client = run_example("client_get", {"::1", std::to_string(coapd.port())});
    EXPECT_EQ(client.out.rfind("2.05 ", 0), 0u) << client.out;  // GET /test
    for (int request = 1; request <= 4; ++request)              // the pipelined GETs
        EXPECT_NE(client.out.find("request " + std::to_string(request + 1) + ": "),
                  std::string::npos)
            << client.out;
    EXPECT_EQ(client.out.find("failed"), std::string::npos) << client.out;
}

TEST(ExamplesSmoke, ObserveClientAgainstObserveServer) {
    ExampleServer server("observe_server");
    ProcessResult client = run_example("observe_client", {"127.0.0.1", server.port_text(), "4"});
    for (int i = 1; i <= 4; ++i)
        EXPECT_NE(client.out.find("notification " + std::to_string(i) + ": "), std::string::npos)
            << client.out;
    EXPECT_NE(client.out.find("cancelled after 4 notifications"), std::string::npos) << client.out;
    EXPECT_EQ(server.stop(), 0);
}

// libcoap's OpenSSL client against the DTLS server: the identity reaches the handler, and
// authorization by identity holds.
TEST(ExamplesSmoke, DtlsServerAuthorizesByPskIdentity) {
    ExampleServer server("dtls_server");
    auto coap_client = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {"/usr/bin/coap-client-openssl", "-B", "3"});
        args.back() = "coaps://127.0.0.1:" + server.port_text() + args.back();
        return run_process(args, example_timeout);
    };
    ProcessResult whoami = coap_client({"-u", "device-2", "-k", "secret-2", "/whoami"});
    EXPECT_EQ(whoami.out, "device-2\n") << whoami.err;
    ProcessResult forbidden =
        coap_client({"-u", "device-1", "-k", "secret-1", "-m", "put", "-e", "x", "/config"});
    EXPECT_NE(forbidden.err.find("4.03"), std::string::npos) << forbidden.out << forbidden.err;
    ProcessResult unknown = coap_client({"-u", "intruder", "-k", "guess", "/whoami"});
    EXPECT_EQ(unknown.out.find("device"), std::string::npos) << unknown.out;
    EXPECT_EQ(server.stop(), 0);
}

TEST(ExamplesSmoke, DtlsClientAgainstDtlsServerResumesItsSession) {
    ExampleServer server("dtls_server");
    ProcessResult client =
        run_example("dtls_client", {"127.0.0.1", server.port_text(), "device-1", "secret-1"});
    EXPECT_EQ(client.out, "2.05 device-1\n2.05 device-1\nhandshakes: 1 full, 1 resumed\n");
    ProcessResult refused = run_process(
        {example_path("dtls_client"), "127.0.0.1", server.port_text(), "intruder", "guess"},
        example_timeout);
    EXPECT_EQ(refused.exit_status, 1);
    EXPECT_NE(refused.out.find("unknown_psk_identity"), std::string::npos) << refused.out;
    EXPECT_EQ(server.stop(), 0);
}

TEST(ExamplesSmoke, BlockUploadRoundTrip) {
    ProcessResult run = run_example("block_upload", {});
    EXPECT_EQ(run.out.rfind("20480 bytes up and back", 0), 0u) << run.out;
}

}  // namespace
