// Issue 8: a coap::Client in steady state allocates nothing per request, plain and DTLS, CON
// and NON, GET and POST, blocking (call_into) and pipelined (submit + poll_into). Over real
// loopback sockets against an in-process coap::Server, which is counted too. Also the
// behaviour of the *_into forms that needs a real server: too_large, errors, Block2 bodies.
//
// AllocationCounter counts per thread: the client is counted on the test thread, and the
// server's worker thread is counted from inside its handlers (WorkerAllocations). libcrypto's
// allocations are counted process-wide through its memory hooks.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>
#include <vector>

#include "client/client_core.hpp"
#include "coap/client.hpp"
#include "coap/router.hpp"
#include "coap/server.hpp"
#include "support/count_allocations.hpp"
#include "support/count_libcrypto.hpp"

namespace coap {
namespace {

using namespace std::chrono_literals;
using test::AllocationCounter;
using test::libcrypto_allocations;
using test::libcrypto_hooks;

#if defined(__SANITIZE_ADDRESS__)
constexpr int slowdown = 4;  // ASan+UBSan: fewer requests, the same mix
#else
constexpr int slowdown = 1;
#endif

constexpr std::size_t post_size = 100;
constexpr std::size_t large_size = 2500;  // three Block2 blocks of 1024 (RFC 7959 §2.4)

// Counts the allocations of the server thread that runs the handlers: AllocationCounter is
// per thread, so the handler switches it on there (first request after start()) and reads it
// (first request after stop()). Everything the thread does in between is counted: receiving,
// the protocol core, DTLS, sending.
class WorkerAllocations {
  public:
    void start() { phase_ = Phase::counting; }
    void stop() { phase_ = Phase::reporting; }
    bool reported() const { return reported_; }
    std::size_t count() const { return count_; }

    void on_request() noexcept {
        if (phase_ == Phase::counting && !started_) {
            started_ = true;
            AllocationCounter::start();
        } else if (phase_ == Phase::reporting && started_ && !reported_) {
            count_ = AllocationCounter::count();
            AllocationCounter::stop();
            reported_ = true;
        }
    }

  private:
    enum class Phase { warm_up, counting, reporting };
    std::atomic<Phase> phase_{Phase::warm_up};
    std::atomic<bool> started_{false};
    std::atomic<bool> reported_{false};
    std::atomic<std::size_t> count_{0};
};

Router make_router(WorkerAllocations& worker) {
    static const std::vector<std::uint8_t> large(large_size, 0x4c);
    Router router;
    router.get("/temperature", [&worker](Request&) -> HandlerResult {
        worker.on_request();
        return Response::content(ContentFormat::text_plain, "22.5");
    });
    router.post("/log", [&worker](Request& request) -> HandlerResult {
        worker.on_request();
        return request.payload().size() == post_size ? Response::changed()
                                                     : Response::bad_request();
    });
    router.get("/large", [](Request&) -> HandlerResult { return Response::ok(Bytes(large)); });
    return router;
}

ServerConfig server_config(bool dtls) {
    ServerConfig config;
    config.bind_address = "127.0.0.1";
    config.port = 0;
    config.exchange_count = 1024;
    config.exchange_cache_bytes = 256 * 1024;
    config.buffer_count = 64;
    if (dtls) {
        config.dtls.enabled = true;
        config.dtls.port = 0;
        config.dtls.keys.push_back(PskCredentials::from_text("client", "sesame"));
        config.dtls.session_count = 16;
        config.dtls.handshake_count = 4;
        config.dtls.resumption_cache_size = 16;
    }
    return config;
}

// A server on its own thread for the duration of a test.
class RunningServer {
  public:
    explicit RunningServer(bool dtls)
        : server_(server_config(dtls), make_router(worker_)), dtls_(dtls) {
        server_.listen();
        thread_ = std::thread([this] { server_.run(); });
    }
    ~RunningServer() {
        server_.stop();
        thread_.join();
    }
    RunningServer(const RunningServer&) = delete;
    RunningServer& operator=(const RunningServer&) = delete;

    ClientConfig client_config() const {
        ClientConfig config;
        config.host = "127.0.0.1";
        config.port = dtls_ ? server_.secure_port() : server_.local_port();
        config.response_timeout = 5s;  // a lost NON answer fails the test instead of hanging it
        if (dtls_) config.dtls = ClientDtlsConfig{PskCredentials::from_text("client", "sesame")};
        return config;
    }
    WorkerAllocations& worker() { return worker_; }

  private:
    WorkerAllocations worker_;
    Server server_;
    bool dtls_;
    std::thread thread_;
};

// CON GET, CON POST (100 bytes), NON GET, NON POST, in turn.
class RequestMix {
  public:
    RequestSpec spec(std::size_t turn) const {
        bool post = turn % 2 == 1;
        RequestSpec spec{post ? Code::post : Code::get, post ? log_ : temperature_, {}, false};
        if (post) spec.payload = Bytes(body_);
        spec.non_confirmable = turn % 4 >= 2;
        return spec;
    }
    static Code expected(std::size_t turn) { return turn % 2 == 1 ? Code::changed : Code::content; }

  private:
    std::array<Option, 1> temperature_{Option{OptionNumber::uri_path, as_bytes("temperature")}};
    std::array<Option, 1> log_{Option{OptionNumber::uri_path, as_bytes("log")}};
    std::array<std::uint8_t, post_size> body_{};
};

// `count` requests, alternating between 64 blocking call_into()s and 64 submit()s kept
// `window` deep with poll_into().
void run_requests(Client& client, std::size_t count, std::size_t window = 4) {
    RequestMix mix;
    std::array<std::uint8_t, 1280> buffer{};
    struct InFlight {
        RequestHandle handle = 0;
        Code expected = Code::empty;
    };
    std::array<InFlight, 8> in_flight{};
    std::size_t outstanding = 0;
    auto take_one = [&] {
        auto done = client.poll_into(buffer, 10s);
        ASSERT_TRUE(done) << "no completion within 10 s";
        ASSERT_TRUE(done->result) << describe(done->result.error());
        auto slot = std::find_if(in_flight.begin(), in_flight.end(),
                                 [&](const InFlight& f) { return f.handle == done->handle; });
        ASSERT_NE(slot, in_flight.end());
        ASSERT_EQ(done->result->code(), slot->expected);
        *slot = InFlight{};
        --outstanding;
    };
    for (std::size_t turn = 0; turn < count; ++turn) {
        if ((turn / 64) % 2 == 0) {
            auto reply = client.call_into(mix.spec(turn), buffer);
            ASSERT_TRUE(reply) << describe(reply.error()) << " at request " << turn;
            ASSERT_EQ(reply->code(), RequestMix::expected(turn));
            continue;
        }
        if (outstanding == window) take_one();
        auto handle = client.submit(mix.spec(turn));
        ASSERT_TRUE(handle) << describe(handle.error());
        auto free = std::find_if(in_flight.begin(), in_flight.end(),
                                 [](const InFlight& f) { return f.handle == 0; });
        *free = InFlight{*handle, RequestMix::expected(turn)};
        ++outstanding;
        if (turn % 64 == 63)
            while (outstanding > 0)
                take_one();
    }
    while (outstanding > 0)
        take_one();
}

struct Counts {
    std::size_t client = 0;
    std::size_t server = 0;
    std::size_t libcrypto = 0;
};

// Warms up, then counts every allocation of `count` requests.
Counts count_allocations(RunningServer& server, Client& client, std::size_t count) {
    Counts counts;
    run_requests(client, 1000);  // warm-up: every buffer reaches its steady size
    std::array<std::uint8_t, 64> probe_buffer{};
    server.worker().start();
    auto probe = client.call_into(RequestMix().spec(0), probe_buffer);
    EXPECT_TRUE(probe);  // the server thread starts counting
    std::size_t libcrypto_before = libcrypto_allocations.load();
    auto started = std::chrono::steady_clock::now();
    AllocationCounter::start();
    run_requests(client, count);
    AllocationCounter::stop();
    auto elapsed = std::chrono::steady_clock::now() - started;
    counts.client = AllocationCounter::count();
    counts.libcrypto = libcrypto_allocations.load() - libcrypto_before;
    server.worker().stop();
    probe = client.call_into(RequestMix().spec(0), probe_buffer);
    EXPECT_TRUE(probe);  // the server thread reports
    EXPECT_TRUE(server.worker().reported());
    counts.server = server.worker().count();
    std::cout << count << " requests in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms\n";
    return counts;
}

// The engine alone, with injected time: submit, the piggybacked or NON answer, the copy out.
TEST(ClientAllocations, EngineCompletesRequestsIntoACallersBufferWithoutAllocating) {
    detail::ClientCore core(ClientConfig{}, 9);
    RequestMix mix;
    std::array<std::uint8_t, 64> answer{};
    std::array<std::uint8_t, 1280> buffer{};
    TimePoint now{};
    auto run = [&](std::size_t count) {
        for (std::size_t turn = 0; turn < count; ++turn) {
            now += 1ms;
            auto handle = core.submit(mix.spec(turn), now);
            ASSERT_TRUE(handle);
            auto request = parse(core.front_outgoing());
            ASSERT_TRUE(request);
            bool non = request->type() == MessageType::non;
            auto n =
                MessageWriter(answer)
                    .header(non ? MessageType::non : MessageType::ack, RequestMix::expected(turn),
                            non ? static_cast<std::uint16_t>(turn) : request->message_id(),
                            request->token())
                    .payload(as_bytes("ok"))
                    .finish();
            core.pop_outgoing();
            core.on_datagram(Bytes(answer.data(), *n), now);
            auto copy = core.pop_completion_into(buffer);
            ASSERT_TRUE(copy && copy->length);
            ASSERT_EQ(copy->handle, *handle);
        }
    };
    run(1000);  // warm-up
    AllocationCounter::start();
    run(100'000);
    AllocationCounter::stop();
    EXPECT_EQ(AllocationCounter::count(), 0u);
}

TEST(ClientAllocations, PlainRequestsAllocateNothingInSteadyState) {
    RunningServer server(false);
    Client client(server.client_config());
    Counts counts = count_allocations(server, client, 100'000 / slowdown);
    EXPECT_EQ(counts.client, 0u);
    EXPECT_EQ(counts.server, 0u);
    EXPECT_EQ(counts.libcrypto, 0u);
}

TEST(ClientAllocations, DtlsRequestsAllocateNothingInSteadyState) {
    ASSERT_TRUE(libcrypto_hooks);
    RunningServer server(true);
    Client client(server.client_config());
    ASSERT_FALSE(client.connect());
    Counts counts = count_allocations(server, client, 20'000 / slowdown);
    EXPECT_EQ(counts.client, 0u);
    EXPECT_EQ(counts.server, 0u);
    EXPECT_EQ(counts.libcrypto, 0u) << "libcrypto's own mallocs (CRYPTO_malloc)";
    EXPECT_EQ(client.dtls_status().full_handshakes, 1u);
}

// ---- the *_into forms against a real server ----------------------------------------------------

class ClientInto : public ::testing::Test {
  protected:
    RunningServer server_{false};
    Client client_{server_.client_config()};
    std::array<Option, 1> large_{Option{OptionNumber::uri_path, as_bytes("large")}};
};

TEST_F(ClientInto, ResponseThatDoesNotFitIsTooLarge) {
    std::array<std::uint8_t, 8> small{};
    auto reply = client_.call_into(RequestMix().spec(0), small);
    ASSERT_FALSE(reply);
    EXPECT_EQ(reply.error(), ClientError::too_large);

    auto handle = client_.submit(RequestMix().spec(2));
    ASSERT_TRUE(handle);
    auto done = client_.poll_into(small, 5s);
    ASSERT_TRUE(done);
    EXPECT_EQ(done->handle, *handle);
    ASSERT_FALSE(done->result);
    EXPECT_EQ(done->result.error(), ClientError::too_large);
    EXPECT_EQ(client_.pending(), 0u) << "the completion is consumed";
}

TEST_F(ClientInto, Block2BodyIsReassembledIntoTheBuffer) {
    std::vector<std::uint8_t> buffer(4096);
    auto reply = client_.call_into(RequestSpec{Code::get, large_, {}, false}, buffer);
    ASSERT_TRUE(reply) << describe(reply.error());
    EXPECT_EQ(reply->code(), Code::content);
    EXPECT_EQ(reply->payload().size(), large_size);
    EXPECT_TRUE(std::all_of(reply->payload().begin(), reply->payload().end(),
                            [](std::uint8_t b) { return b == 0x4c; }));
    EXPECT_FALSE(reply->has(OptionNumber::block2));
    EXPECT_TRUE(reply->has(OptionNumber::etag)) << "the last block's options stay";

    std::array<std::uint8_t, 1280> one_block{};
    auto too_small = client_.call_into(RequestSpec{Code::get, large_, {}, false}, one_block);
    ASSERT_FALSE(too_small);
    EXPECT_EQ(too_small.error(), ClientError::too_large);
}

TEST_F(ClientInto, MixesWithTheOwningForms) {
    std::array<std::uint8_t, 256> buffer{};
    auto owned = client_.get("/temperature");
    ASSERT_TRUE(owned);
    EXPECT_EQ(owned->text(), "22.5");
    auto handle = client_.submit(RequestMix().spec(1));
    ASSERT_TRUE(handle);
    auto viewed = client_.call_into(RequestMix().spec(0), buffer);  // the POST stays queued
    ASSERT_TRUE(viewed);
    EXPECT_EQ(as_string(viewed->payload()), "22.5");
    auto polled = client_.poll(5s);
    ASSERT_TRUE(polled);
    EXPECT_EQ(polled->handle, *handle);
    ASSERT_TRUE(polled->result);
    EXPECT_EQ(polled->result->code(), Code::changed);
}

// A port nobody listens on: ICMP port unreachable comes back as `network`.
TEST(ClientIntoErrors, UnreachableServerIsTheError) {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), length), 0);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
    ::close(fd);  // the port is free again: nobody answers
    ClientConfig config;
    config.host = "127.0.0.1";
    config.port = ntohs(address.sin_port);
    Client client(config);
    std::array<std::uint8_t, 256> buffer{};
    auto reply = client.call_into(RequestMix().spec(0), buffer);
    ASSERT_FALSE(reply);
    EXPECT_EQ(reply.error(), ClientError::network);
}

}  // namespace
}  // namespace coap
