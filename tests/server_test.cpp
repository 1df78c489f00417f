// The public Server over real loopback sockets: run/stop from threads, several workers,
// IPv4 and IPv6, separate responses, and a port that is free again after shutdown.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "coap/router.hpp"
#include "coap/server.hpp"
#include "support/bytes.hpp"

namespace coap {
namespace {

using namespace std::chrono_literals;
using test::ByteVector;

// A plain UDP client socket with a receive timeout (no sleeps: poll waits for the reply).
class UdpClient {
  public:
    explicit UdpClient(int family) : family_(family), fd_(::socket(family, SOCK_DGRAM, 0)) {}
    ~UdpClient() { ::close(fd_); }

    void send(std::uint16_t port, const ByteVector& datagram) {
        sockaddr_storage address{};
        socklen_t length;
        if (family_ == AF_INET) {
            auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
            v4->sin_family = AF_INET;
            v4->sin_port = htons(port);
            inet_pton(AF_INET, "127.0.0.1", &v4->sin_addr);
            length = sizeof(sockaddr_in);
        } else {
            auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
            v6->sin6_family = AF_INET6;
            v6->sin6_port = htons(port);
            inet_pton(AF_INET6, "::1", &v6->sin6_addr);
            length = sizeof(sockaddr_in6);
        }
        ASSERT_EQ(::sendto(fd_, datagram.data(), datagram.size(), 0,
                           reinterpret_cast<sockaddr*>(&address), length),
                  static_cast<ssize_t>(datagram.size()));
    }

    std::optional<ByteVector> receive(std::chrono::milliseconds timeout = 5000ms) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
        ByteVector buffer(2048);
        ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
        if (n < 0) return std::nullopt;
        buffer.resize(static_cast<std::size_t>(n));
        return buffer;
    }

  private:
    int family_;
    int fd_;
};

ByteVector get_request(MessageType type, std::uint16_t id, std::string_view path) {
    std::array<std::uint8_t, 128> out{};
    auto n = MessageWriter(out)
                 .header(type, Code::get, id, test::bytes({0x01, 0x02}))
                 .option(OptionNumber::uri_path, path)
                 .finish();
    return ByteVector(out.begin(), out.begin() + *n);
}

// Runs a server on its own thread for the duration of a test.
class RunningServer {
  public:
    RunningServer(ServerConfig config, Handler handler)
        : server_(std::move(config), std::move(handler)) {
        server_.listen();
        thread_ = std::thread([this] { server_.run(); });
    }
    ~RunningServer() {
        server_.stop();
        thread_.join();
    }
    Server& server() { return server_; }
    std::uint16_t port() const { return server_.local_port(); }

  private:
    Server server_;
    std::thread thread_;
};

ServerConfig test_config(std::string bind, std::uint32_t threads = 1) {
    ServerConfig config;
    config.bind_address = std::move(bind);
    config.port = 0;
    config.thread_count = threads;
    config.exchange_count = 1024;
    config.exchange_cache_bytes = 256 * 1024;
    config.buffer_count = 64;
    return config;
}

Handler hello() {
    return [](Request&) -> HandlerResult { return Response::ok("hello"); };
}

TEST(Server, InvalidConfigurationIsRejectedWithTheReason) {
    ServerConfig config;
    config.buffer_size = 32;
    try {
        Server server(config, hello());
        FAIL() << "expected std::invalid_argument";
    } catch (const std::invalid_argument& error) {
        EXPECT_NE(std::string(error.what()).find("buffer_size"), std::string::npos) << error.what();
    }
}

TEST(Server, AnswersOverIpv4AndStopsFromAnotherThread) {
    RunningServer running(test_config("127.0.0.1"), hello());
    UdpClient client(AF_INET);
    client.send(running.port(), get_request(MessageType::con, 0x1234, "x"));
    auto reply = client.receive();
    ASSERT_TRUE(reply);
    auto view = parse(*reply);
    ASSERT_TRUE(view);
    EXPECT_EQ(view->type(), MessageType::ack);
    EXPECT_EQ(view->message_id(), 0x1234);
    EXPECT_EQ(as_string(view->payload()), "hello");
}

TEST(Server, DualStackSocketServesIpv4AndIpv6Clients) {
    RunningServer running(test_config("::"), hello());
    for (int family : {AF_INET, AF_INET6}) {
        UdpClient client(family);
        client.send(running.port(), get_request(MessageType::non, 7, "x"));
        auto reply = client.receive();
        ASSERT_TRUE(reply) << "family " << family;
        EXPECT_EQ(parse(*reply)->type(), MessageType::non);
    }
}

TEST(Server, SeveralWorkersShareThePortAndAllAnswer) {
    std::atomic<int> calls{0};
    RunningServer running(test_config("127.0.0.1", 3), [&calls](Request&) -> HandlerResult {
        ++calls;
        return Response::ok("w");
    });
    // Many client sockets spread over the workers by the kernel's SO_REUSEPORT hash.
    for (int i = 0; i < 24; ++i) {
        UdpClient client(AF_INET);
        client.send(running.port(),
                    get_request(MessageType::con, static_cast<std::uint16_t>(i), "x"));
        ASSERT_TRUE(client.receive()) << "client " << i;
    }
    EXPECT_EQ(calls.load(), 24);
}

TEST(Server, DeferredAnswerArrivesAsASeparateConResponse) {
    std::atomic<Server*> server{nullptr};
    std::vector<std::thread> responders;
    std::mutex mutex;
    ServerConfig config = test_config("127.0.0.1");
    auto handler = [&](Request& request) -> HandlerResult {
        auto handle = request.defer();
        std::lock_guard lock(mutex);
        responders.emplace_back(
            [&server, handle] { server.load()->respond(*handle, Response::ok("separate")); });
        return std::nullopt;
    };
    {
        RunningServer running(config, handler);
        server.store(&running.server());
        UdpClient client(AF_INET);
        client.send(running.port(), get_request(MessageType::con, 0x0101, "slow"));
        std::optional<ByteVector> ack;
        std::optional<ByteVector> response;
        for (int i = 0; i < 2; ++i) {
            auto datagram = client.receive();
            ASSERT_TRUE(datagram);
            (parse(*datagram)->type() == MessageType::ack ? ack : response) = datagram;
        }
        ASSERT_TRUE(ack && response);
        EXPECT_EQ(parse(*ack)->code(), Code::empty);
        auto view = parse(*response);
        EXPECT_EQ(view->type(), MessageType::con);
        EXPECT_EQ(as_string(view->payload()), "separate");
        // Acknowledge it so the server stops retransmitting.
        ByteVector ack_back = {0x60, 0x00, static_cast<std::uint8_t>(view->message_id() >> 8),
                               static_cast<std::uint8_t>(view->message_id())};
        client.send(running.port(), ack_back);
        std::lock_guard lock(mutex);
        for (std::thread& t : responders)
            t.join();
        responders.clear();
    }
}

TEST(Server, PortIsFreeAgainRightAfterShutdown) {
    std::uint16_t port;
    {
        RunningServer running(test_config("127.0.0.1"), hello());
        port = running.port();
    }
    ServerConfig again = test_config("127.0.0.1");
    again.port = port;
    Server server(again, hello());
    EXPECT_NO_THROW(server.listen());
}

TEST(Server, TickServesFromTheCallersLoop) {
    Server server(test_config("127.0.0.1"), hello());
    server.listen();
    UdpClient client(AF_INET);
    client.send(server.local_port(), get_request(MessageType::con, 99, "x"));
    std::optional<ByteVector> reply;
    for (int i = 0; i < 50 && !reply; ++i) {
        server.tick(100ms);
        reply = client.receive(0ms);
    }
    ASSERT_TRUE(reply);
    EXPECT_EQ(parse(*reply)->message_id(), 99);
    EXPECT_EQ(server.stats().requests, 1u);
}

}  // namespace
}  // namespace coap

namespace coap {
namespace {

TEST(Server, StaticWellKnownCoreIsServedAndOtherRequestsReachTheHandler) {
    ServerConfig config = test_config("127.0.0.1");
    config.well_known_core = R"(</sensors/temp>;rt="temperature-c",</led>;rt="light")";
    RunningServer running(config, hello());
    UdpClient client(AF_INET);

    std::array<std::uint8_t, 128> out{};
    auto n = MessageWriter(out)
                 .header(MessageType::con, Code::get, 1)
                 .option(OptionNumber::uri_path, ".well-known")
                 .option(OptionNumber::uri_path, "core")
                 .option(OptionNumber::uri_query, "rt=light")
                 .finish();
    client.send(running.port(), ByteVector(out.begin(), out.begin() + *n));
    auto discovery = client.receive();
    ASSERT_TRUE(discovery);
    auto view = parse(*discovery);
    EXPECT_EQ(view->code(), Code::content);
    EXPECT_EQ(view->find_uint(OptionNumber::content_format), 40u);
    EXPECT_EQ(as_string(view->payload()), R"(</led>;rt="light")");

    client.send(running.port(), get_request(MessageType::con, 2, "anything"));
    auto other = client.receive();
    ASSERT_TRUE(other);
    EXPECT_EQ(as_string(parse(*other)->payload()), "hello");
}

}  // namespace
}  // namespace coap
