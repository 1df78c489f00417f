// End-to-end tests of the client side: the coap::Client library and the `coap` command-line
// client, over real loopback sockets, against servers nobody here wrote:
//   - libcoap's coap-server-notls (Debian libcoap3-bin): its default resource "/", the
//     observable "/time" (a notification a second) and "/example_data" (PUT and GET, block-wise);
//   - a server built with the npm package `coap` (tests/e2e/npm_server.js): /hello, /store,
//     /separate, /large (Block2) and the observable /counter (a notification every 100 ms);
//   - our own coapd, with its ETSI plugtest resources, over IPv4 and IPv6;
//   - for the failure paths, a fake peer in the test: silent, resetting, or never answering a
//     deregistration; and a closed port.
// Each ctest entry is its own process with its own servers on free ports, so the cases run in
// parallel. A case is skipped, with the reason, only when a peer program is missing.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "coap/client.hpp"
#include "coap/codes.hpp"
#include "coap/content_format.hpp"
#include "coap/message.hpp"
#include "coap/option.hpp"
#include "support/coapd_process.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using coap::ClientError;
using coap::Code;
using coap::ContentFormat;
using coap::MessageType;
using coap::OptionNumber;
using coap::test::Process;
using coap::test::ProcessResult;
using coap::test::run_process;

constexpr const char* libcoap_server_path = "/usr/bin/coap-server-notls";
constexpr auto cli_timeout = 20s;

enum class Family { ipv4, ipv6 };

// How GoogleTest prints the parameter.
void PrintTo(Family family, std::ostream* out) {
    *out << (family == Family::ipv4 ? "IPv4" : "IPv6");
}

std::string host_of(Family family) {
    return family == Family::ipv4 ? "127.0.0.1" : "::1";
}
std::string uri_host_of(Family family) {
    return family == Family::ipv4 ? "127.0.0.1" : "[::1]";
}

// A free UDP port: bind to port 0, read the port, close. Another process could take it before
// the server binds it; the servers that need this retry once.
std::uint16_t free_udp_port(Family family = Family::ipv4) {
    int fd = ::socket(family == Family::ipv4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket() failed");
    sockaddr_storage address{};
    socklen_t length = 0;
    if (family == Family::ipv4) {
        auto* in = reinterpret_cast<sockaddr_in*>(&address);
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        length = sizeof(sockaddr_in);
    } else {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        length = sizeof(sockaddr_in6);
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot bind a UDP socket to port 0");
    }
    ::close(fd);
    return ntohs(family == Family::ipv4 ? reinterpret_cast<sockaddr_in*>(&address)->sin_port
                                        : reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
}

// A UDP socket bound to a loopback port standing in for a broken server, answering from a
// thread of its own: silent (never answers), reset (answers every CON with an RST), or
// observe_once (answers the first CON with a 2.05 carrying Observe, then stays silent).
class FakePeer {
  public:
    enum class Behaviour { silent, reset, observe_once };

    explicit FakePeer(Behaviour behaviour) {
        fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0)
            throw std::runtime_error("cannot bind the fake peer's UDP socket");
        port_ = ntohs(address.sin_port);
        if (behaviour != Behaviour::silent)
            thread_ = std::thread([this, behaviour] { answer(behaviour); });
    }
    ~FakePeer() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        ::close(fd_);
    }
    FakePeer(const FakePeer&) = delete;
    FakePeer& operator=(const FakePeer&) = delete;
    std::uint16_t port() const { return port_; }

  private:
    void answer(Behaviour behaviour) {
        std::uint8_t buffer[1500];
        bool answered = false;
        while (!stop_) {
            pollfd descriptor{fd_, POLLIN, 0};
            if (::poll(&descriptor, 1, 50) <= 0) continue;
            sockaddr_storage from{};
            socklen_t length = sizeof from;
            ssize_t n = ::recvfrom(fd_, buffer, sizeof buffer, 0,
                                   reinterpret_cast<sockaddr*>(&from), &length);
            if (n < 4 || (buffer[0] & 0x30) != 0x00) continue;  // not a CON
            if (behaviour == Behaviour::reset) {
                // An empty RST with the CON's Message ID (RFC 7252 §4.2).
                std::uint8_t reset[4] = {0x70, 0x00, buffer[2], buffer[3]};
                ::sendto(fd_, reset, sizeof reset, 0, reinterpret_cast<sockaddr*>(&from), length);
            } else if (!answered) {
                // ACK 2.05 with the request's Message ID and token, Observe: 5, payload "hi".
                std::size_t token_length = buffer[0] & 0x0f;
                if (token_length > 8 || static_cast<std::size_t>(n) < 4 + token_length) continue;
                std::vector<std::uint8_t> ack{static_cast<std::uint8_t>(0x60 | token_length), 0x45,
                                              buffer[2], buffer[3]};
                ack.insert(ack.end(), buffer + 4, buffer + 4 + token_length);
                for (std::uint8_t byte : {0x61, 0x05, 0xff, 0x68, 0x69})  // ... "hi"
                    ack.push_back(byte);
                ::sendto(fd_, ack.data(), ack.size(), 0, reinterpret_cast<sockaddr*>(&from),
                         length);
                answered = true;
            }
        }
    }

    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// Numbered lines, "00000\n00001\n...", `size` bytes: reordered or lost blocks show.
std::string numbered_lines(std::size_t size) {
    std::string out;
    char line[16];
    for (unsigned i = 0; out.size() < size; ++i) {
        std::snprintf(line, sizeof line, "%05u\n", i);
        out += line;
    }
    out.resize(size);
    return out;
}

std::string temp_file(const std::string& name, std::string_view contents) {
    std::filesystem::path path = std::filesystem::path(::testing::TempDir()) /
                                 ("client_e2e_" + std::to_string(::getpid()) + "_" + name);
    std::ofstream(path, std::ios::binary)
        .write(contents.data(), static_cast<std::streamsize>(contents.size()));
    return path.string();
}

std::string error_text(ClientError error) {
    return std::string(coap::describe(error));
}

std::string code_string(Code code) {
    return std::string(coap::code_text(code).view());
}

std::string hex(coap::Bytes bytes) {
    std::string out;
    char two[3];
    for (std::uint8_t byte : bytes) {
        std::snprintf(two, sizeof two, "%02x", byte);
        out += two;
    }
    return out;
}

// A one-line rendering of a message, for failure output.
std::string render(const coap::MessageView& message) {
    std::string out = std::string(coap::type_name(message.type())) + " " +
                      code_string(message.code()) + " mid=" + std::to_string(message.message_id()) +
                      " token=" + hex(message.token());
    for (const coap::Option& option : message.options())
        out += " opt" + std::to_string(coap::to_int(option.number)) + "=" + hex(option.value);
    // The payload's first bytes, on one line.
    std::string_view payload = coap::as_string(message.payload());
    out += " payload(" + std::to_string(payload.size()) + ")='";
    for (char c : payload.substr(0, 40))
        out += c == '\n' ? std::string("\\n") : std::string(1, c);
    return out + (payload.size() > 40 ? "...'" : "'");
}

// After an observation was cancelled: reads the client's socket raw for `window` and fails on
// any CON or NON carrying Observe, i.e. a notification the server sent after it answered the
// deregistration.
void expect_no_notification(coap::Client& client, std::chrono::milliseconds window) {
    auto end = Clock::now() + window;
    for (;;) {
        auto left = end - Clock::now();
        if (left <= Clock::duration::zero()) return;
        auto datagram = client.recv_raw(left);
        if (!datagram) {
            EXPECT_EQ(datagram.error(), ClientError::timeout) << error_text(datagram.error());
            return;
        }
        auto message = coap::parse(*datagram);
        if (!message) continue;
        if ((message->type() == MessageType::con || message->type() == MessageType::non) &&
            message->has(OptionNumber::observe))
            ADD_FAILURE() << "the server still notifies after answering the deregistration: "
                          << render(*message);
    }
}

// ---------------------------------------------------------------------------------------------
// The command-line client.

ProcessResult run_cli(std::vector<std::string> args) {
    args.insert(args.begin(), COAP_CLI_PATH);
    return run_process(args, cli_timeout);
}

std::string show(const ProcessResult& result) {
    return "exit status " + std::to_string(result.exit_status) +
           (result.timed_out ? " (timed out)" : "") + "\n--- stdout ---\n" + result.out +
           "\n--- stderr ---\n" + result.err;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream stream(text);
    std::string line;
    while (std::getline(stream, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(line);
    }
    return lines;
}

// ---------------------------------------------------------------------------------------------
// The servers.

// libcoap's example server on 127.0.0.1 and a free port; ready once it answers GET /.
class LibcoapServer {
  public:
    LibcoapServer() {
        std::string failure;
        for (int attempt = 0; attempt < 2; ++attempt) {  // the port may be taken meanwhile
            port_ = free_udp_port();
            process_ = std::make_unique<Process>(std::vector<std::string>{
                libcoap_server_path, "-A", "127.0.0.1", "-p", std::to_string(port_)});
            if (ready(failure)) return;
            process_.reset();
        }
        throw std::runtime_error("coap-server-notls did not start: " + failure);
    }
    std::uint16_t port() const { return port_; }
    Process& process() { return *process_; }

  private:
    bool ready(std::string& failure) {
        coap::ClientConfig config;
        config.host = "127.0.0.1";
        config.port = port_;
        config.ack_timeout = 100ms;
        config.max_retransmit = 2;
        auto deadline = Clock::now() + 5s;
        while (Clock::now() < deadline) {
            if (process_->wait(0ms)) {
                failure = "it exited with status " + std::to_string(process_->wait(0ms).value()) +
                          ": " + process_->stderr_text();
                return false;
            }
            coap::Client client(config);
            auto response = client.get("/");
            if (response && response->code() == Code::content) return true;
            failure = response ? "GET / answered " + code_string(response->code())
                               : "GET /: " + error_text(response.error());
            process_->wait(50ms);  // returns at once if it exits
        }
        return false;
    }

    std::uint16_t port_ = 0;
    std::unique_ptr<Process> process_;
};

// tests/e2e/npm_server.js, on "::" (IPv6 and IPv4) and a free port it prints.
class NpmServer {
  public:
    NpmServer() : process_({"node", std::string(E2E_DIR) + "/npm_server.js", "::"}) {
        std::optional<std::string> line = process_.read_line(15s);
        if (!line || line->rfind("listening ", 0) != 0)
            throw std::runtime_error("npm_server.js printed no port; stderr: " +
                                     process_.stderr_text());
        port_ = static_cast<std::uint16_t>(std::stoul(line->substr(10)));
    }
    std::uint16_t port() const { return port_; }
    Process& process() { return process_; }

    // Waits until the server's stderr contains `text` (observation events).
    bool wait_for_log(std::string_view text, std::chrono::milliseconds timeout) {
        auto deadline = Clock::now() + timeout;
        while (process_.stderr_text().find(text) == std::string::npos) {
            if (Clock::now() >= deadline || !process_.running()) return false;
            process_.wait(50ms);
        }
        return true;
    }

  private:
    Process process_;
    std::uint16_t port_ = 0;
};

// Our coapd on "::" and a free port, /separate answering after 200 ms.
class Coapd : public coap::test::CoapdProcess {
  public:
    Coapd() : CoapdProcess(COAPD_PATH, {"--separate-delay-ms", "200", "--log-level", "warn"}) {}
};

std::string node_skip_reason() {
    const std::filesystem::path module =
        std::filesystem::path(E2E_DIR) / "node_modules" / "coap" / "package.json";
    if (!std::filesystem::exists(module))
        return module.parent_path().string() +
               " is missing: run `npm ci --prefix tests/e2e` (or `make deps`)";
    try {
        ProcessResult version = run_process({"node", "--version"}, 20s);
        if (version.exit_status != 0) return "`node --version` failed: " + version.err;
    } catch (const std::exception& error) {
        return std::string("node is not available: ") + error.what();
    }
    return {};
}

std::string libcoap_skip_reason() {
    if (::access(libcoap_server_path, X_OK) != 0)
        return std::string(libcoap_server_path) + " is missing: install libcoap3-bin";
    return {};
}

// ---------------------------------------------------------------------------------------------
// Fixtures: one server per test suite (and so per ctest entry, each its own process).

template <typename Server, typename Base>
class WithServer : public Base {
  protected:
    static void start(std::string skip_reason) {
        skip_reason_ = std::move(skip_reason);
        start_error_.clear();
        if (!skip_reason_.empty()) return;
        try {
            server_ = std::make_unique<Server>();
        } catch (const std::exception& error) {
            start_error_ = error.what();
        }
    }
    static void TearDownTestSuite() { server_.reset(); }

    void SetUp() override {
        if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
        ASSERT_NE(server_, nullptr) << "the server did not start: " << start_error_;
        server_->process().drain();
        ASSERT_TRUE(server_->process().running()) << "the server has exited; stderr:\n"
                                                  << server_->process().stderr_text();
    }
    void TearDown() override {
        if (!server_) return;
        server_->process().drain();
        if (this->HasFailure() && !server_->process().stderr_text().empty())
            std::printf("server stderr:\n%s\n", server_->process().stderr_text().c_str());
    }

    static Server& server() { return *server_; }
    static std::uint16_t port() { return server_->port(); }

    static std::unique_ptr<Server> server_;
    static std::string skip_reason_;
    static std::string start_error_;
};

template <typename Server, typename Base>
std::unique_ptr<Server> WithServer<Server, Base>::server_;
template <typename Server, typename Base>
std::string WithServer<Server, Base>::skip_reason_;
template <typename Server, typename Base>
std::string WithServer<Server, Base>::start_error_;

// libcoap's server is IPv4 only here (-A 127.0.0.1).
class LibcoapTest : public WithServer<LibcoapServer, ::testing::Test> {
  protected:
    static void SetUpTestSuite() { start(libcoap_skip_reason()); }

    static coap::ClientConfig config() {
        coap::ClientConfig config;
        config.host = "127.0.0.1";
        config.port = port();
        return config;
    }
    static std::string uri(std::string_view path) {
        return "coap://127.0.0.1:" + std::to_string(port()) + std::string(path);
    }
};

class ClientLibcoap : public LibcoapTest {};
class CliLibcoap : public LibcoapTest {};

template <typename Server>
class FamilyTest : public WithServer<Server, ::testing::TestWithParam<Family>> {
  protected:
    using Base = WithServer<Server, ::testing::TestWithParam<Family>>;
    coap::ClientConfig config() const {
        coap::ClientConfig config;
        config.host = host_of(this->GetParam());
        config.port = Base::port();
        return config;
    }
    std::string uri(std::string_view path) const {
        return "coap://" + uri_host_of(this->GetParam()) + ":" + std::to_string(Base::port()) +
               std::string(path);
    }
};

class NpmTest : public FamilyTest<NpmServer> {
  protected:
    static void SetUpTestSuite() { start(node_skip_reason()); }
};
class ClientNpm : public NpmTest {};
class CliNpm : public NpmTest {};

class CoapdTest : public FamilyTest<Coapd> {
  protected:
    static void SetUpTestSuite() { start({}); }
};
class ClientCoapd : public CoapdTest {};
class CliCoapd : public CoapdTest {};

// =============================================================================================
// The library against libcoap's coap-server.

TEST_F(ClientLibcoap, GetDefaultResource) {
    coap::Client client(config());
    auto response = client.get("/");
    ASSERT_TRUE(response) << error_text(response.error());
    EXPECT_EQ(response->code(), Code::content);
    EXPECT_EQ(response->type(), MessageType::ack);
    EXPECT_NE(response->text().find("libcoap"), std::string_view::npos) << response->text();
}

TEST_F(ClientLibcoap, GetDefaultResourceNon) {
    coap::Client client(config());
    auto options = std::vector<coap::Option>{};
    auto response = client.call({Code::get, options, {}, true});
    ASSERT_TRUE(response) << error_text(response.error());
    EXPECT_EQ(response->code(), Code::content);
    EXPECT_EQ(response->type(), MessageType::non);
    EXPECT_NE(response->text().find("libcoap"), std::string_view::npos) << response->text();
}

TEST_F(ClientLibcoap, WellKnownCoreListsItsResources) {
    coap::Client client(config());
    auto response = client.get("/.well-known/core");
    ASSERT_TRUE(response) << error_text(response.error());
    EXPECT_EQ(response->code(), Code::content);
    EXPECT_EQ(response->content_format(), ContentFormat::link_format);
    EXPECT_NE(response->text().find("</time>"), std::string_view::npos) << response->text();
    EXPECT_NE(response->text().find("</example_data>"), std::string_view::npos);
}

TEST_F(ClientLibcoap, ObserveTimeThenCancel) {
    coap::Client client(config());
    auto observation = client.observe("/time");
    ASSERT_TRUE(observation) << error_text(observation.error());
    std::vector<std::uint32_t> sequence;
    auto deadline = Clock::now() + 8s;
    while (sequence.size() < 2 && Clock::now() < deadline) {
        auto notification = observation->next(500ms);
        if (!notification) continue;
        ASSERT_TRUE(notification->result) << error_text(notification->result.error());
        const coap::ClientResponse& response = *notification->result;
        ASSERT_FALSE(notification->last) << "the observation ended: " << render(response.message());
        EXPECT_EQ(response.code(), Code::content);
        EXPECT_FALSE(response.text().empty());
        auto observe = response.message().find_uint(OptionNumber::observe);
        ASSERT_TRUE(observe.has_value()) << render(response.message());
        if (!sequence.empty()) {
            EXPECT_GT(*observe, sequence.back());
        }
        sequence.push_back(*observe);
    }
    ASSERT_GE(sequence.size(), 2u) << "fewer than 2 notifications from /time in 8 s";
    EXPECT_TRUE(observation->active());

    auto error = observation->cancel();
    ASSERT_FALSE(error.has_value()) << "deregistration failed: " << error_text(*error);
    EXPECT_FALSE(observation->active());
    // /time notifies every second: 2 s of silence shows that the server stopped.
    expect_no_notification(client, 2s);
}

TEST_F(ClientLibcoap, BlockwisePutThenGetExampleData) {
    coap::ClientConfig settings = config();
    settings.block_szx = 2;  // 64-byte blocks
    coap::Client client(settings);
    const std::string data = numbered_lines(3000);

    auto put = client.put("/example_data", coap::as_bytes(data), ContentFormat::text_plain);
    ASSERT_TRUE(put) << error_text(put.error());
    EXPECT_TRUE(put->code() == Code::changed || put->code() == Code::created)
        << render(put->message());

    auto get = client.get("/example_data");
    ASSERT_TRUE(get) << error_text(get.error());
    EXPECT_EQ(get->code(), Code::content);
    EXPECT_EQ(get->text().size(), data.size());
    EXPECT_TRUE(get->text() == data) << "the body read back differs from the one written";
    // The body came in 64-byte blocks: the last one is block 46 (bytes 2944-2999).
    auto block2 = get->option(OptionNumber::block2);
    ASSERT_TRUE(block2.has_value()) << "not a Block2 transfer: " << render(get->message());
    auto block = coap::decode_block(block2->value);
    ASSERT_TRUE(block.has_value());
    EXPECT_FALSE(block->more);
    EXPECT_EQ(block->size(), 64u);
    EXPECT_EQ(block->num, (data.size() - 1) / 64);
}

// RFC 7641 with RFC 7959 §2.6 (Block2 in notifications): a notification that carries only the
// first block of a larger representation must be completed with GETs for the further blocks.
TEST_F(ClientLibcoap, ObserveLargeResourceDeliversWholeRepresentations) {
    coap::Client client(config());
    const std::string data = numbered_lines(3000);
    auto put = client.put("/example_data", coap::as_bytes(data), ContentFormat::text_plain);
    ASSERT_TRUE(put) << error_text(put.error());
    ASSERT_TRUE(coap::is_success(put->code())) << render(put->message());

    auto observation = client.observe("/example_data");
    ASSERT_TRUE(observation) << error_text(observation.error());
    auto notification = observation->next(5s);
    ASSERT_TRUE(notification.has_value()) << "no response to the registration in 5 s";
    ASSERT_TRUE(notification->result) << error_text(notification->result.error());
    const coap::ClientResponse& response = *notification->result;
    EXPECT_FALSE(notification->last) << render(response.message());
    EXPECT_EQ(response.code(), Code::content);
    EXPECT_TRUE(response.message().has(OptionNumber::observe)) << render(response.message());
    EXPECT_FALSE(response.message().has(OptionNumber::block2)) << "delivered whole";
    EXPECT_EQ(response.text().size(), data.size());
    EXPECT_TRUE(response.text() == data) << response.text().size() << " bytes";

    // A change is notified with its first block again and completed the same way.
    const std::string changed = numbered_lines(2500);
    auto second_put =
        client.put("/example_data", coap::as_bytes(changed), ContentFormat::text_plain);
    ASSERT_TRUE(second_put) << error_text(second_put.error());
    ASSERT_TRUE(coap::is_success(second_put->code())) << render(second_put->message());
    std::vector<std::uint8_t> buffer(8192);  // the zero-allocation form, for a whole body
    auto next = observation->next_into(buffer, 5s);
    ASSERT_TRUE(next.has_value()) << "no notification of the change in 5 s";
    ASSERT_TRUE(*next) << error_text(next->error());
    EXPECT_EQ(coap::as_string((*next)->payload()), changed);
    EXPECT_GT((*next)->find_uint(OptionNumber::observe),
              response.message().find_uint(OptionNumber::observe));
    EXPECT_FALSE(observation->cancel().has_value());
}

// =============================================================================================
// The CLI against libcoap's coap-server.

TEST_F(CliLibcoap, GetDefaultResource) {
    ProcessResult result = run_cli({"get", uri("/")});
    EXPECT_EQ(result.exit_status, 0) << show(result);
    EXPECT_NE(result.out.find("This is a test server made with libcoap"), std::string::npos)
        << show(result);
    EXPECT_EQ(result.err, "") << show(result);
}

TEST_F(CliLibcoap, NotFoundExitsWithFour) {
    ProcessResult result = run_cli({"get", uri("/no/such/resource")});
    EXPECT_EQ(result.exit_status, 4) << show(result);
    EXPECT_NE(result.err.find("4.04 Not Found"), std::string::npos) << show(result);
}

TEST_F(CliLibcoap, ObserveTimeForOneAndAHalfSeconds) {
    // The registration's response, then a notification at least every second.
    auto start = Clock::now();
    ProcessResult result = run_cli({"observe", "-s", "1.5", uri("/time")});
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    EXPECT_EQ(result.exit_status, 0) << show(result);
    std::vector<std::string> lines = lines_of(result.out);
    EXPECT_GE(lines.size(), 2u) << show(result);
    for (const std::string& line : lines)
        EXPECT_FALSE(line.empty()) << show(result);
    EXPECT_GE(seconds, 1.4);
    EXPECT_LT(seconds, 5.0) << "the deregistration took too long";
}

TEST_F(CliLibcoap, BlockwisePutFromFileThenGet) {
    const std::string data = numbered_lines(2500);
    std::string file = temp_file("example_data", data);
    ProcessResult put =
        run_cli({"put", "-b", "64", "-C", "text", "-f", file, uri("/example_data")});
    EXPECT_EQ(put.exit_status, 0) << show(put);
    ProcessResult get = run_cli({"get", "-b", "64", uri("/example_data")});
    EXPECT_EQ(get.exit_status, 0) << show(get);
    EXPECT_EQ(get.out.size(), data.size());
    EXPECT_TRUE(get.out == data) << "the body read back differs from the one written";
    std::filesystem::remove(file);
}

// =============================================================================================
// The library against the npm package `coap`.

TEST_P(ClientNpm, GetHelloAndNotFound) {
    coap::Client client(config());
    auto response = client.get("/hello");
    ASSERT_TRUE(response) << error_text(response.error());
    EXPECT_EQ(response->code(), Code::content);
    EXPECT_EQ(response->text(), "world");
    EXPECT_EQ(response->content_format(), ContentFormat::text_plain);
    auto missing = client.get("/missing");
    ASSERT_TRUE(missing) << error_text(missing.error());
    EXPECT_EQ(missing->code(), Code::not_found);
}

TEST_P(ClientNpm, PutStoreEchoesSmallAndBlockwise) {
    coap::ClientConfig settings = config();
    settings.block_szx = 2;  // 64-byte blocks
    coap::Client client(settings);
    auto small = client.put("/store", coap::as_bytes("stored text"), ContentFormat::text_plain);
    ASSERT_TRUE(small) << error_text(small.error());
    EXPECT_EQ(small->code(), Code::changed);
    EXPECT_EQ(small->text(), "stored text");

    const std::string data = numbered_lines(2000);  // Block1 up in 64s, Block2 back
    auto response = client.put("/store", coap::as_bytes(data));
    ASSERT_TRUE(response) << error_text(response.error());
    // node-coap serves the later blocks of a large response from its Block2 cache with its
    // default 2.05, so the last block (which the response reports) says 2.05, the first 2.04.
    EXPECT_TRUE(response->code() == Code::changed || response->code() == Code::content)
        << render(response->message());
    EXPECT_TRUE(response->option(OptionNumber::block2).has_value()) << render(response->message());
    EXPECT_EQ(response->text().size(), data.size());
    EXPECT_TRUE(response->text() == data) << "the echo differs from the upload";
}

TEST_P(ClientNpm, SeparateResponse) {
    coap::Client client(config());
    auto response = client.get("/separate");
    ASSERT_TRUE(response) << error_text(response.error());
    EXPECT_EQ(response->code(), Code::content);
    EXPECT_EQ(response->type(), MessageType::con) << "expected a separate CON response";
    EXPECT_EQ(response->text(), "separate");
}

TEST_P(ClientNpm, LargeBodyReassembledFromBlock2) {
    coap::Client client(config());
    auto response = client.get("/large");
    ASSERT_TRUE(response) << error_text(response.error());
    EXPECT_EQ(response->code(), Code::content);
    EXPECT_TRUE(response->option(OptionNumber::block2).has_value()) << render(response->message());
    const std::string expected = numbered_lines(3000);
    EXPECT_EQ(response->text().size(), expected.size());
    EXPECT_TRUE(response->text() == expected) << "the reassembled body differs";
}

TEST_P(ClientNpm, ObserveCounterThenCancel) {
    coap::Client client(config());
    auto observation = client.observe("/counter");
    ASSERT_TRUE(observation) << error_text(observation.error());
    std::vector<int> values;
    auto deadline = Clock::now() + 5s;
    while (values.size() < 4 && Clock::now() < deadline) {
        auto notification = observation->next(200ms);
        if (!notification) continue;
        ASSERT_TRUE(notification->result) << error_text(notification->result.error());
        const coap::ClientResponse& response = *notification->result;
        ASSERT_FALSE(notification->last) << "the observation ended: " << render(response.message());
        EXPECT_EQ(response.code(), Code::content);
        EXPECT_TRUE(response.option(OptionNumber::observe).has_value());
        values.push_back(std::stoi(std::string(response.text())));
    }
    ASSERT_GE(values.size(), 4u) << "fewer than 4 notifications from /counter in 5 s";
    EXPECT_EQ(values.front(), 1);
    for (std::size_t i = 1; i < values.size(); ++i)
        EXPECT_GT(values[i], values[i - 1]);

    auto error = observation->cancel();
    ASSERT_FALSE(error.has_value()) << "deregistration failed: " << error_text(*error);
    EXPECT_FALSE(observation->active());
    EXPECT_TRUE(server().wait_for_log("counter: deregistered", 2s))
        << server().process().stderr_text();
    // /counter notifies every 100 ms: 1 s of silence shows that it stopped.
    expect_no_notification(client, 1s);
}

// =============================================================================================
// The CLI against the npm package `coap`.

TEST_P(CliNpm, GetPrintsExactlyThePayload) {
    ProcessResult result = run_cli({"get", uri("/hello")});
    EXPECT_EQ(result.exit_status, 0) << show(result);
    EXPECT_EQ(result.out, "world") << "no newline when stdout is not a terminal";
    EXPECT_EQ(result.err, "");
    ProcessResult large = run_cli({"get", uri("/large")});
    EXPECT_EQ(large.exit_status, 0) << show(large);
    EXPECT_TRUE(large.out == numbered_lines(3000)) << show(large);
}

TEST_P(CliNpm, PutPayloadFromStdin) {
    ProcessResult result =
        run_process({"/bin/sh", "-c", "printf 'from stdin' | \"$0\" put -f - \"$1\"", COAP_CLI_PATH,
                     uri("/store")},
                    cli_timeout);
    EXPECT_EQ(result.exit_status, 0) << show(result);
    EXPECT_EQ(result.out, "from stdin") << show(result);
}

TEST_P(CliNpm, SeparateResponseVerbose) {
    ProcessResult result = run_cli({"get", "-v", uri("/separate")});
    EXPECT_EQ(result.exit_status, 0) << show(result);
    EXPECT_EQ(result.out, "separate");
    EXPECT_NE(result.err.find("<- CON 2.05 Content"), std::string::npos) << show(result);
    EXPECT_NE(result.err.find("Content-Format: 0 (text/plain"), std::string::npos) << show(result);
}

TEST_P(CliNpm, ObserveCounterForOneSecond) {
    ProcessResult result = run_cli({"observe", "-s", "1", uri("/counter")});
    EXPECT_EQ(result.exit_status, 0) << show(result);
    std::vector<std::string> lines = lines_of(result.out);
    ASSERT_GE(lines.size(), 5u) << show(result);
    EXPECT_EQ(lines.front(), "1");
    for (std::size_t i = 1; i < lines.size(); ++i)
        EXPECT_GT(std::stoi(lines[i]), std::stoi(lines[i - 1])) << show(result);
    EXPECT_TRUE(server().wait_for_log("counter: deregistered", 2s))
        << server().process().stderr_text();

    // `get -s SECONDS` observes too, as coap-client's -s does.
    ProcessResult get = run_cli({"get", "-s", "0.5", uri("/counter")});
    EXPECT_EQ(get.exit_status, 0) << show(get);
    EXPECT_GE(lines_of(get.out).size(), 2u) << show(get);
}

TEST_P(CliNpm, ObserveUntilInterrupted) {
    Process cli({COAP_CLI_PATH, "observe", uri("/counter")});
    ASSERT_EQ(cli.read_line(5s), std::optional<std::string>("1")) << cli.stderr_text();
    ASSERT_EQ(cli.read_line(5s), std::optional<std::string>("2")) << cli.stderr_text();
    ASSERT_EQ(::kill(cli.pid(), SIGINT), 0);
    std::optional<int> status = cli.wait(5s);
    ASSERT_TRUE(status.has_value()) << "still running 5 s after SIGINT";
    EXPECT_EQ(*status, 0) << cli.stderr_text();
    EXPECT_TRUE(server().wait_for_log("counter: deregistered", 2s))
        << "SIGINT did not deregister: " << server().process().stderr_text();
}

// =============================================================================================
// The library against coapd.

TEST_P(ClientCoapd, GetTest) {
    coap::Client client(config());
    auto response = client.get("/test");
    ASSERT_TRUE(response) << error_text(response.error());
    EXPECT_EQ(response->code(), Code::content);
    EXPECT_EQ(response->type(), MessageType::ack);
    EXPECT_EQ(response->content_format(), ContentFormat::text_plain);
    EXPECT_EQ(response->text(), "This is the /test resource of coapd.");
}

TEST_P(ClientCoapd, PostTestGivesLocationPath) {
    coap::Client client(config());
    auto response = client.post("/test", coap::as_bytes("new"), ContentFormat::text_plain);
    ASSERT_TRUE(response) << error_text(response.error());
    EXPECT_EQ(response->code(), Code::created);
    std::vector<std::string> location;
    for (const coap::Option& option : response->options(OptionNumber::location_path))
        location.emplace_back(option.as_string());
    EXPECT_EQ(location, (std::vector<std::string>{"location1", "location2", "location3"}));
}

TEST_P(ClientCoapd, SeparateResponse) {
    coap::Client client(config());
    auto response = client.get("/separate");
    ASSERT_TRUE(response) << error_text(response.error());
    EXPECT_EQ(response->code(), Code::content);
    EXPECT_EQ(response->type(), MessageType::con) << "expected a separate CON response";
    EXPECT_FALSE(response->text().empty());
}

TEST_P(ClientCoapd, MultiFormatFollowsAccept) {
    coap::Client client(config());
    auto request = [&](std::optional<ContentFormat> accept) {
        std::vector<coap::Option> options{{OptionNumber::uri_path, coap::as_bytes("multi-format")}};
        coap::UintValue value(accept ? coap::to_int(*accept) : 0);
        if (accept) options.push_back({OptionNumber::accept, value.bytes()});
        return client.call({Code::get, options, {}, false});
    };
    auto plain = request(std::nullopt);
    ASSERT_TRUE(plain) << error_text(plain.error());
    EXPECT_EQ(plain->content_format(), ContentFormat::text_plain);
    auto xml = request(ContentFormat::xml);
    ASSERT_TRUE(xml) << error_text(xml.error());
    EXPECT_EQ(xml->code(), Code::content);
    EXPECT_EQ(xml->content_format(), ContentFormat::xml);
    EXPECT_EQ(xml->text(), "<multi-format>xml</multi-format>");
    auto json = request(ContentFormat::json);
    ASSERT_TRUE(json) << error_text(json.error());
    EXPECT_EQ(json->code(), Code::not_acceptable);
}

TEST_P(ClientCoapd, ValidateWithEtag) {
    coap::Client client(config());
    auto first = client.get("/validate");
    ASSERT_TRUE(first) << error_text(first.error());
    EXPECT_EQ(first->code(), Code::content);
    auto etag = first->option(OptionNumber::etag);
    ASSERT_TRUE(etag.has_value()) << render(first->message());
    std::vector<std::uint8_t> tag(etag->value.begin(), etag->value.end());
    std::vector<coap::Option> options{{OptionNumber::etag, tag},
                                      {OptionNumber::uri_path, coap::as_bytes("validate")}};
    auto second = client.call({Code::get, options, {}, false});
    ASSERT_TRUE(second) << error_text(second.error());
    EXPECT_EQ(second->code(), Code::valid) << render(second->message());
    EXPECT_TRUE(second->payload().empty());
    auto again = second->option(OptionNumber::etag);
    ASSERT_TRUE(again.has_value());
    EXPECT_TRUE(std::ranges::equal(again->value, tag));
}

TEST_P(ClientCoapd, WellKnownCore) {
    coap::Client client(config());
    auto response = client.get("/.well-known/core");
    ASSERT_TRUE(response) << error_text(response.error());
    EXPECT_EQ(response->code(), Code::content);
    EXPECT_EQ(response->content_format(), ContentFormat::link_format);
    EXPECT_NE(response->text().find("</test>"), std::string_view::npos) << response->text();
}

TEST_P(ClientCoapd, NonRequestGetsNonResponse) {
    coap::Client client(config());
    std::vector<coap::Option> options{{OptionNumber::uri_path, coap::as_bytes("test")}};
    auto response = client.call({Code::get, options, {}, true});
    ASSERT_TRUE(response) << error_text(response.error());
    EXPECT_EQ(response->type(), MessageType::non);
    EXPECT_EQ(response->code(), Code::content);
    EXPECT_EQ(response->text(), "This is the /test resource of coapd.");
}

TEST_P(ClientCoapd, NotFound) {
    coap::Client client(config());
    auto response = client.get("/missing");
    ASSERT_TRUE(response) << error_text(response.error());
    EXPECT_EQ(response->code(), Code::not_found);
}

// A Block1 upload that the server answers with a final 2.04 without Block1 after the first
// block (coapd ignores Block1) must not be reported as the success of the whole upload: the
// client fails it (or, once coapd supports Block1, the whole body comes back).
TEST_P(ClientCoapd, BlockwiseUploadAnsweredEarlyIsNotASilentSuccess) {
    coap::ClientConfig settings = config();
    settings.block_szx = 2;  // 64-byte blocks
    coap::Client client(settings);
    const std::string data = numbered_lines(200);
    auto response = client.put("/echo", coap::as_bytes(data), ContentFormat::text_plain);
    if (!response) {
        EXPECT_EQ(response.error(), ClientError::malformed_response)
            << error_text(response.error());
        return;
    }
    if (!coap::is_success(response->code())) return;  // the server refused it: fine too
    EXPECT_TRUE(response->text() == data)
        << "a truncated upload reported as a success: " << render(response->message());
}

// =============================================================================================
// The CLI against coapd.

TEST_P(CliCoapd, GetTest) {
    ProcessResult result = run_cli({"get", uri("/test")});
    EXPECT_EQ(result.exit_status, 0) << show(result);
    EXPECT_EQ(result.out, "This is the /test resource of coapd.");
    EXPECT_EQ(result.err, "");
}

TEST_P(CliCoapd, VerboseShowsRequestResponseAndOptions) {
    ProcessResult result = run_cli({"post", "-v", "-e", "x", "-C", "text", uri("/test")});
    EXPECT_EQ(result.exit_status, 0) << show(result);
    EXPECT_EQ(result.out, "");
    EXPECT_NE(result.err.find("-> CON POST"), std::string::npos) << show(result);
    EXPECT_NE(result.err.find("Content-Format: 0 (text/plain"), std::string::npos) << show(result);
    EXPECT_NE(result.err.find("<- ACK 2.01 Created"), std::string::npos) << show(result);
    EXPECT_NE(result.err.find("Location-Path: \"location1\""), std::string::npos) << show(result);
    EXPECT_NE(result.err.find("Location-Path: \"location3\""), std::string::npos) << show(result);
}

TEST_P(CliCoapd, TokenOptionSetsTheToken) {
    ProcessResult result = run_cli({"get", "-v", "-T", "cafe", uri("/test")});
    EXPECT_EQ(result.exit_status, 0) << show(result);
    EXPECT_EQ(result.out, "This is the /test resource of coapd.");
    EXPECT_NE(result.err.find("token 0xcafe"), std::string::npos) << show(result);
}

TEST_P(CliCoapd, NotFoundExitsWithFour) {
    ProcessResult result = run_cli({"get", uri("/missing")});
    EXPECT_EQ(result.exit_status, 4) << show(result);
    EXPECT_EQ(result.out, "");
    EXPECT_NE(result.err.find("4.04 Not Found"), std::string::npos) << show(result);
}

TEST_P(CliCoapd, AcceptChoosesTheFormat) {
    ProcessResult xml = run_cli({"get", "-A", "xml", uri("/multi-format")});
    EXPECT_EQ(xml.exit_status, 0) << show(xml);
    EXPECT_EQ(xml.out, "<multi-format>xml</multi-format>");
    ProcessResult numeric = run_cli({"get", "-A", "41", uri("/multi-format")});
    EXPECT_EQ(numeric.out, "<multi-format>xml</multi-format>") << show(numeric);
    ProcessResult json = run_cli({"get", "-A", "json", uri("/multi-format")});
    EXPECT_EQ(json.exit_status, 4) << show(json);
    EXPECT_NE(json.err.find("4.06 Not Acceptable"), std::string::npos) << show(json);
}

TEST_P(CliCoapd, EtagOptionGivesValid) {
    ProcessResult first = run_cli({"get", "-v", uri("/validate")});
    EXPECT_EQ(first.exit_status, 0) << show(first);
    std::size_t at = first.err.find("ETag: 0x");
    ASSERT_NE(at, std::string::npos) << show(first);
    std::string tag = first.err.substr(at + 6, first.err.find('\n', at) - at - 6);
    ProcessResult second = run_cli({"get", "-v", "-O", "4," + tag, uri("/validate")});
    EXPECT_EQ(second.exit_status, 0) << show(second);
    EXPECT_EQ(second.out, "") << show(second);
    EXPECT_NE(second.err.find("2.03 Valid"), std::string::npos) << show(second);
    ProcessResult named = run_cli({"get", "-v", "-O", "etag," + tag, uri("/validate")});
    EXPECT_NE(named.err.find("2.03 Valid"), std::string::npos) << show(named);
}

TEST_P(CliCoapd, QueryFromUriAndOptions) {
    ProcessResult result =
        run_cli({"get", "-O", "15,second=2", "-O", "Uri-Query,third", uri("/query?first=1")});
    EXPECT_EQ(result.exit_status, 0) << show(result);
    EXPECT_EQ(result.out, "first=1\nsecond=2\nthird\n");
}

TEST_P(CliCoapd, FetchPatchDeleteAndPayloadFromFile) {
    ProcessResult fetch = run_cli({"fetch", "-e", "fetched", "-C", "text", uri("/echo")});
    EXPECT_EQ(fetch.exit_status, 0) << show(fetch);
    EXPECT_EQ(fetch.out, "fetched");
    std::string file = temp_file("patch", std::string("\x00\x01\xff binary", 10));
    ProcessResult patch = run_cli({"patch", "-f", file, "-C", "octet", uri("/echo")});
    EXPECT_EQ(patch.exit_status, 0) << show(patch);
    EXPECT_EQ(patch.out, std::string("\x00\x01\xff binary", 10));
    std::filesystem::remove(file);
    ProcessResult del = run_cli({"delete", "-v", uri("/test")});
    EXPECT_EQ(del.exit_status, 0) << show(del);
    EXPECT_NE(del.err.find("2.02 Deleted"), std::string::npos) << show(del);
}

TEST_P(CliCoapd, PutThenGet) {
    ProcessResult put = run_cli({"put", "-e", "replaced content", uri("/test")});
    EXPECT_EQ(put.exit_status, 0) << show(put);
    ProcessResult get = run_cli({"get", uri("/test")});
    EXPECT_EQ(get.out, "replaced content") << show(get);
}

TEST_P(CliCoapd, SeparateResponse) {
    ProcessResult result = run_cli({"get", "-v", uri("/separate")});
    EXPECT_EQ(result.exit_status, 0) << show(result);
    EXPECT_FALSE(result.out.empty());
    EXPECT_NE(result.err.find("<- CON 2.05 Content"), std::string::npos) << show(result);
}

TEST_P(CliCoapd, NonRequest) {
    ProcessResult result = run_cli({"get", "-N", "-v", uri("/test")});
    EXPECT_EQ(result.exit_status, 0) << show(result);
    EXPECT_EQ(result.out, "This is the /test resource of coapd.");
    EXPECT_NE(result.err.find("-> NON GET"), std::string::npos) << show(result);
    EXPECT_NE(result.err.find("<- NON 2.05 Content"), std::string::npos) << show(result);
}

TEST_P(CliCoapd, WellKnownCoreIsRawWhenPiped) {
    coap::Client client(config());
    auto reference = client.get("/.well-known/core");
    ASSERT_TRUE(reference) << error_text(reference.error());
    ProcessResult result = run_cli({"get", uri("/.well-known/core")});
    EXPECT_EQ(result.exit_status, 0) << show(result);
    EXPECT_EQ(result.out, reference->text());
}

TEST_P(CliCoapd, TerminalGetsNewlineAndOneLinkPerLine) {
    if (::access("/usr/bin/script", X_OK) != 0)
        GTEST_SKIP() << "/usr/bin/script (util-linux) is missing: no terminal to test with";
    // script(1) runs the command with stdout on a pseudo-terminal.
    ProcessResult result =
        run_process({"/usr/bin/script", "-qec",
                     std::string(COAP_CLI_PATH) + " get " + uri("/.well-known/core"), "/dev/null"},
                    cli_timeout);
    EXPECT_EQ(result.exit_status, 0) << show(result);
    std::vector<std::string> lines = lines_of(result.out);
    ASSERT_GE(lines.size(), 5u) << show(result);
    for (const std::string& line : lines)
        EXPECT_EQ(line.rfind("</", 0), 0u) << "not one link per line: " << show(result);
    EXPECT_NE(std::find_if(lines.begin(), lines.end(),
                           [](const std::string& line) { return line.rfind("</test>", 0) == 0; }),
              lines.end())
        << show(result);

    // Other payloads are printed as they are, with a newline added for the terminal.
    ProcessResult text =
        run_process({"/usr/bin/script", "-qec", std::string(COAP_CLI_PATH) + " get " + uri("/test"),
                     "/dev/null"},
                    cli_timeout);
    EXPECT_EQ(text.exit_status, 0) << show(text);
    EXPECT_EQ(text.out, "This is the /test resource of coapd.\r\n") << show(text);
}

// =============================================================================================
// The CLI on its own: usage, unsupported features, unreachable servers.

TEST(CliUsage, HelpDocumentsEveryOption) {
    ProcessResult result = run_cli({"--help"});
    EXPECT_EQ(result.exit_status, 0) << show(result);
    for (const char* word :
         {"get",  "post",      "put",         "delete", "fetch", "patch", "observe",      " -e ",
          " -f ", " -C ",      " -A ",        " -O ",   " -b ",  " -N ",  " -T ",         " -s ",
          " -v ", "--timeout", "Exit status", "coaps",  " -u ",  " -k ",  "--psk-key-hex"})
        EXPECT_NE(result.out.find(word), std::string::npos) << "no " << word << ":\n" << result.out;
}

TEST(CliUsage, UsageErrorsExitWithTwo) {
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    const std::vector<Case> cases{
        {{}, "required"},
        {{"get"}, "required"},
        {{"frobnicate", "coap://127.0.0.1/"}, "method"},
        {{"get", "http://127.0.0.1/"}, "invalid URI"},
        {{"get", "coap://127.0.0.1/a#fragment"}, "invalid URI"},
        {{"get", "-C", "nonsense", "coap://127.0.0.1/"}, "unknown format"},
        {{"get", "-b", "100", "coap://127.0.0.1/"}, "block size"},
        {{"get", "-b", "2048", "coap://127.0.0.1/"}, "block size"},
        {{"get", "-O", "23,1", "coap://127.0.0.1/"}, "managed by the client"},
        {{"get", "-O", "nosuchoption,1", "coap://127.0.0.1/"}, "option"},
        {{"get", "-O", "4,0xabc", "coap://127.0.0.1/"}, "hex"},
        {{"post", "-e", "a", "-f", "b", "coap://127.0.0.1/"}, "-e and -f"},
        {{"post", "-s", "1", "coap://127.0.0.1/"}, "-s"},
        {{"get", "--timeout", "0", "coap://127.0.0.1/"}, "--timeout"},
    };
    for (const Case& c : cases) {
        ProcessResult result = run_cli(c.args);
        std::string joined;
        for (const std::string& arg : c.args)
            joined += " " + arg;
        EXPECT_EQ(result.exit_status, 2) << "coap" << joined << "\n" << show(result);
        EXPECT_NE(result.err.find(c.message), std::string::npos) << "coap" << joined << "\n"
                                                                 << show(result);
        EXPECT_EQ(result.out, "") << "coap" << joined;
    }
}

TEST(CliUsage, UnreadablePayloadFileExitsWithOne) {
    ProcessResult result =
        run_cli({"post", "-f", "/nonexistent/payload", "coap://127.0.0.1:9/test"});
    EXPECT_EQ(result.exit_status, 1) << show(result);
    EXPECT_NE(result.err.find("cannot read /nonexistent/payload"), std::string::npos)
        << show(result);
}

// coaps:// itself is tested against libcoap's DTLS servers in client_dtls_libcoap_test.cpp.
TEST(CliUsage, CoapsNeedsCredentials) {
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    const std::vector<Case> cases{
        {{"get", "coaps://127.0.0.1/test"}, "-u IDENTITY -k KEY"},
        {{"get", "-k", "secret", "coaps://127.0.0.1/test"}, "-u IDENTITY -k KEY"},
        {{"get", "-u", "a", "-k", "b", "--psk-key-hex", "00", "coaps://127.0.0.1/test"},
         "use one of them"},
        {{"get", "-u", "a", "--psk-key-hex", "0g", "coaps://127.0.0.1/test"}, "not valid hex"},
        {{"get", "-u", "a", "-k", "b", "coap://127.0.0.1/test"}, "coaps:// URIs only"},
    };
    for (const Case& c : cases) {
        ProcessResult result = run_cli(c.args);
        EXPECT_EQ(result.exit_status, 2) << show(result);
        EXPECT_NE(result.err.find(c.message), std::string::npos) << show(result);
    }
}

TEST(CliUsage, InvalidTokenIsRejected) {
    for (std::string token : {"zz", "cafe1", "00112233445566778899"}) {
        ProcessResult result = run_cli({"get", "-T", token, "coap://127.0.0.1/test"});
        EXPECT_EQ(result.exit_status, 2) << show(result);
        EXPECT_NE(result.err.find("up to 8 bytes of hex"), std::string::npos) << show(result);
    }
}

TEST(CliUsage, ClosedPortFailsWithThree) {
    std::uint16_t port = free_udp_port();
    auto start = Clock::now();
    ProcessResult result =
        run_cli({"get", "--timeout", "1", "coap://127.0.0.1:" + std::to_string(port) + "/test"});
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    EXPECT_EQ(result.exit_status, 3) << show(result);
    EXPECT_EQ(result.out, "");
    // Either the ICMP port unreachable or the deadline, named in plain words with the peer.
    EXPECT_NE(result.err.find("127.0.0.1:" + std::to_string(port)), std::string::npos)
        << show(result);
    EXPECT_TRUE(result.err.find("cannot reach") != std::string::npos ||
                result.err.find("no response from") != std::string::npos)
        << show(result);
    EXPECT_LT(seconds, 3.0) << show(result);
}

TEST(CliUsage, SilentServerTimesOut) {
    FakePeer silent(FakePeer::Behaviour::silent);
    std::string peer = "127.0.0.1:" + std::to_string(silent.port());
    auto start = Clock::now();
    ProcessResult result = run_cli({"get", "--timeout", "1", "coap://" + peer + "/test"});
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    EXPECT_EQ(result.exit_status, 3) << show(result);
    EXPECT_EQ(result.out, "");
    EXPECT_NE(result.err.find("no response from " + peer + " within 1.0 s"), std::string::npos)
        << show(result);
    EXPECT_GE(seconds, 0.9);
    EXPECT_LT(seconds, 3.0);
}

TEST(CliUsage, SilentServerObserveTimesOut) {
    FakePeer silent(FakePeer::Behaviour::silent);
    std::string peer = "127.0.0.1:" + std::to_string(silent.port());
    ProcessResult result =
        run_cli({"observe", "--timeout", "0.5", "-s", "10", "coap://" + peer + "/time"});
    EXPECT_EQ(result.exit_status, 3) << show(result);
    EXPECT_NE(result.err.find("no response from " + peer), std::string::npos) << show(result);
}

TEST(CliUsage, ResetIsReported) {
    FakePeer resetting(FakePeer::Behaviour::reset);
    std::string peer = "127.0.0.1:" + std::to_string(resetting.port());
    ProcessResult result = run_cli({"get", "coap://" + peer + "/test"});
    EXPECT_EQ(result.exit_status, 3) << show(result);
    EXPECT_EQ(result.out, "");
    EXPECT_NE(result.err.find("reset by " + peer), std::string::npos) << show(result);
}

TEST(CliUsage, UnansweredDeregistrationIsBounded) {
    FakePeer peer(FakePeer::Behaviour::observe_once);
    auto start = Clock::now();
    ProcessResult result = run_cli({"observe", "-s", "0.3", "--timeout", "0.7",
                                    "coap://127.0.0.1:" + std::to_string(peer.port()) + "/time"});
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    EXPECT_EQ(result.out, "hi\n") << show(result);
    EXPECT_EQ(result.exit_status, 3) << show(result);
    EXPECT_NE(result.err.find("no answer to the deregistration"), std::string::npos)
        << show(result);
    EXPECT_GE(seconds, 0.9);
    EXPECT_LT(seconds, 3.0);
}

TEST(ClientFakePeer, ResetEndsTheRequest) {
    FakePeer resetting(FakePeer::Behaviour::reset);
    coap::ClientConfig config;
    config.port = resetting.port();
    coap::Client client(config);
    auto response = client.get("/test");
    ASSERT_FALSE(response) << render(response->message());
    EXPECT_EQ(response.error(), ClientError::reset) << error_text(response.error());
}

std::string family_name(const ::testing::TestParamInfo<Family>& info) {
    return info.param == Family::ipv4 ? "IPv4" : "IPv6";
}
const auto families = ::testing::Values(Family::ipv4, Family::ipv6);

INSTANTIATE_TEST_SUITE_P(Family, ClientNpm, families, family_name);
INSTANTIATE_TEST_SUITE_P(Family, CliNpm, families, family_name);
INSTANTIATE_TEST_SUITE_P(Family, ClientCoapd, families, family_name);
INSTANTIATE_TEST_SUITE_P(Family, CliCoapd, families, family_name);

}  // namespace
