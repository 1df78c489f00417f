// Steady-state hot paths allocate nothing: the server core answering requests through a router
// (including duplicate detection and NON responses), observers being notified, Echo challenges,
// and the client receiving notifications into a caller's buffer.
#include <gtest/gtest.h>
#include <openssl/crypto.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <vector>

#include "client/client_core.hpp"
#include "coap/router.hpp"
#include "server/server_core.hpp"
#include "support/count_allocations.hpp"
#include "support/count_libcrypto.hpp"

using coap::test::libcrypto_allocations;
using coap::test::libcrypto_hooks;

namespace coap {
namespace {

using namespace std::chrono_literals;

std::size_t get_request(MutableBytes out, MessageType type, std::uint16_t id,
                        std::string_view path) {
    return *MessageWriter(out)
                .header(type, Code::get, id, as_bytes("tok4"))
                .option(OptionNumber::uri_path, "sensors")
                .option(OptionNumber::uri_path, path)
                .finish();
}

TEST(Allocations, ServerCoreAnswersRequestsWithoutAllocating) {
    Router router;
    router.get("/sensors/:id", [](Request& request) -> HandlerResult {
        return Response::content(ContentFormat::text_plain,
                                 request.arena().copy(*request.param("id")))
            .max_age(30);
    });
    Handler handler(std::move(router));
    ServerConfig config;
    config.exchange_count = 4096;
    config.exchange_cache_bytes = 256 * 1024;
    detail::ServerCore core(config, handler, false, 42);

    std::array<Endpoint, 64> peers;
    for (std::size_t i = 0; i < peers.size(); ++i)
        peers[i] = *Endpoint::from_literal("127.0.0.1", static_cast<std::uint16_t>(20000 + i));
    std::array<std::uint8_t, 128> request{};
    std::array<std::uint8_t, 1280> reply{};
    TimePoint now{};
    auto run = [&](int count, std::uint16_t first_id) {
        for (int i = 0; i < count; ++i) {
            auto id = static_cast<std::uint16_t>(first_id + i);
            MessageType type = i % 4 == 3 ? MessageType::non : MessageType::con;
            std::size_t n = get_request(request, type, id, i % 2 ? "temp" : "humidity");
            const Endpoint& peer = peers[static_cast<std::size_t>(i) % peers.size()];
            now += 10us;
            ASSERT_GT(core.on_datagram(peer, Bytes(request.data(), n), now, reply), 0u);
            if (i % 10 == 0) core.on_datagram(peer, Bytes(request.data(), n), now, reply);  // dup
        }
    };
    run(10000, 0);  // warm-up: the cache fills and starts evicting
    test::AllocationCounter::start();
    run(100000, 10000);
    test::AllocationCounter::stop();
    EXPECT_EQ(test::AllocationCounter::count(), 0u);
    EXPECT_GT(core.stats().duplicates, 10000u);
}

// Block-wise transfers in steady state: 3-block downloads served from stored bodies and 3-block
// uploads reassembled in transfer slots, from many peers at once.
TEST(Allocations, ServerCoreBlockWiseTransfersDoNotAllocate) {
    static const std::vector<std::uint8_t> large(2500, 0x5a);
    Router router;
    router.get("/large", [](Request&) -> HandlerResult { return Response::ok(Bytes(large)); });
    router.post("/upload", [](Request& request) -> HandlerResult {
        return request.payload().size() == 2100 ? Response::changed() : Response::bad_request();
    });
    Handler handler(std::move(router));
    ServerConfig config;
    config.exchange_count = 4096;
    config.exchange_cache_bytes = 1024 * 1024;
    config.max_block_transfers = 32;
    detail::ServerCore core(config, handler, false, 43);

    std::array<std::uint8_t, 1280> request{};
    std::array<std::uint8_t, 1280> reply{};
    std::array<std::uint8_t, 1024> chunk{};
    std::uint16_t id = 0;
    TimePoint now{};
    auto exchange = [&](const Endpoint& peer, Code method, std::string_view path,
                        std::optional<BlockValue> block2, std::optional<BlockValue> block1,
                        Bytes payload) {
        MessageWriter writer(request);
        writer.header(MessageType::con, method, id++, as_bytes("tk"))
            .option(OptionNumber::uri_path, path);
        if (block2) writer.option(OptionNumber::block2, encode_block(*block2).bytes());
        if (block1) writer.option(OptionNumber::block1, encode_block(*block1).bytes());
        writer.payload(payload);
        now += 10us;
        std::size_t n = core.on_datagram(peer, Bytes(request.data(), *writer.finish()), now, reply);
        return parse(Bytes(reply.data(), n))->code();
    };
    std::array<Endpoint, 12> peers;
    for (std::size_t i = 0; i < peers.size(); ++i)
        peers[i] = *Endpoint::from_literal("127.0.0.1", static_cast<std::uint16_t>(30000 + i));
    auto run = [&](int rounds) {
        for (int round = 0; round < rounds; ++round) {
            // Every peer starts both transfers, then all of them finish: 12 + 12 slots in use.
            for (const Endpoint& peer : peers) {
                ASSERT_EQ(exchange(peer, Code::get, "large", {}, {}, {}), Code::content);
                ASSERT_EQ(exchange(peer, Code::post, "upload", {}, BlockValue{0, true, 6}, chunk),
                          Code::continue_);
            }
            for (const Endpoint& peer : peers) {
                for (std::uint32_t num : {1u, 2u})
                    ASSERT_EQ(exchange(peer, Code::get, "large", BlockValue{num, false, 6}, {}, {}),
                              Code::content);
                ASSERT_EQ(exchange(peer, Code::post, "upload", {}, BlockValue{1, true, 6}, chunk),
                          Code::continue_);
                ASSERT_EQ(exchange(peer, Code::post, "upload", {}, BlockValue{2, false, 6},
                                   Bytes(chunk).first(52)),
                          Code::changed);
            }
        }
    };
    run(20);  // warm-up
    test::AllocationCounter::start();
    run(300);
    test::AllocationCounter::stop();
    EXPECT_EQ(test::AllocationCounter::count(), 0u);
    EXPECT_EQ(core.stats().block2_served, 320u * 12 * 3);
    EXPECT_EQ(core.block_transfers().active(), 0u);
}

TEST(Allocations, ClientReceivesNotificationsIntoACallersBufferWithoutAllocating) {
    ClientConfig config;
    detail::ClientCore core(config, 7);
    std::array<Option, 1> path{Option{OptionNumber::uri_path, as_bytes("obs")}};
    auto id = core.observe(RequestSpec{Code::get, path, {}, false}, TimePoint{});
    ASSERT_TRUE(id);
    ASSERT_TRUE(core.has_outgoing());
    auto registration = parse(core.front_outgoing());
    ASSERT_TRUE(registration);
    std::array<std::uint8_t, 8> token{};
    std::copy(registration->token().begin(), registration->token().end(), token.begin());
    Bytes token_view(token.data(), registration->token().size());
    std::uint16_t registration_id = registration->message_id();
    core.pop_outgoing();

    std::array<std::uint8_t, 64> datagram{};
    std::array<std::uint8_t, 1280> buffer{};
    auto notify = [&](MessageType type, std::uint16_t message_id, std::uint32_t sequence) {
        auto n = MessageWriter(datagram)
                     .header(type, Code::content, message_id, token_view)
                     .uint_option(OptionNumber::observe, sequence)
                     .payload("21.5")
                     .finish();
        return Bytes(datagram.data(), *n);
    };
    core.on_datagram(notify(MessageType::ack, registration_id, 1), TimePoint{});
    TimePoint now{};
    auto run = [&](std::uint32_t from, std::uint32_t count) {
        for (std::uint32_t i = from; i < from + count; ++i) {
            now += 1ms;
            core.on_datagram(notify(i % 2 ? MessageType::con : MessageType::non,
                                    static_cast<std::uint16_t>(i), 2 + i),
                             now);
            while (core.has_outgoing())
                core.pop_outgoing();  // the ACKs of CON notifications
            auto copy = core.pop_notification_into(*id, buffer);
            ASSERT_TRUE(copy && copy->length) << "notification " << i;
        }
    };
    run(0, 1000);  // warm-up
    test::AllocationCounter::start();
    run(1000, 10000);
    test::AllocationCounter::stop();
    EXPECT_EQ(test::AllocationCounter::count(), 0u);
}

// Records what on_timers sends without allocating: peer index (from the port), type and MID.
class RecordingSink final : public detail::DatagramSink {
  public:
    struct Sent {
        std::uint16_t port;
        MessageType type;
        std::uint16_t message_id;
    };
    bool send(const Endpoint& peer, Bytes datagram) noexcept override {
        auto message = parse(datagram);
        if (!message || count == sent.size()) return false;
        sent[count++] = Sent{peer.port(), message->type(), message->message_id()};
        return true;
    }
    std::array<Sent, 256> sent{};
    std::size_t count = 0;
};

// RFC 7641 in steady state: 32 observers, a publish every 50 ms (every 5th confirmable) picked
// up by on_timers, CON notifications acknowledged or reset, NON ones sometimes reset, every
// removed observer registering again, and some CONs left unanswered so that retransmissions and
// superseding (RFC 7641 §4.5.2) happen too.
TEST(Allocations, ServerCoreObserveSteadyStateDoesNotAllocate) {
    Router router;
    router.get("/obs", [](Request& request) -> HandlerResult {
        request.observe(ResourceId{0});
        return Response::ok("registered");
    });
    Handler handler(std::move(router));
    ServerConfig config;
    config.exchange_count = 4096;
    config.exchange_cache_bytes = 256 * 1024;
    config.max_observers = 64;
    config.max_observe_resources = 4;
    config.observe_con_interval = 4;
    detail::ServerCore core(config, handler, false, 44);

    constexpr std::uint16_t first_port = 21000;
    std::array<Endpoint, 32> peers;
    for (std::size_t i = 0; i < peers.size(); ++i)
        peers[i] = *Endpoint::from_literal("127.0.0.1", static_cast<std::uint16_t>(first_port + i));
    std::array<std::uint8_t, 128> datagram{};
    std::array<std::uint8_t, 1280> reply{};
    std::array<std::uint8_t, 300> body{};
    std::uint16_t next_id = 0;
    TimePoint now{};
    auto subscribe = [&](std::size_t i) {
        std::array<std::uint8_t, 2> token{0x0b, static_cast<std::uint8_t>(i)};
        auto n = MessageWriter(datagram)
                     .header(MessageType::con, Code::get, next_id++, token)
                     .uint_option(OptionNumber::observe, 0)
                     .option(OptionNumber::uri_path, "obs")
                     .finish();
        std::size_t length = core.on_datagram(peers[i], Bytes(datagram.data(), *n), now, reply);
        return length > 0 && parse(Bytes(reply.data(), length))->has(OptionNumber::observe);
    };
    auto answer = [&](const RecordingSink::Sent& sent, MessageType type) {
        std::array<std::uint8_t, 4> empty{
            static_cast<std::uint8_t>(0x40 | static_cast<unsigned>(type) << 4), 0,
            static_cast<std::uint8_t>(sent.message_id >> 8),
            static_cast<std::uint8_t>(sent.message_id)};
        core.on_datagram(peers[sent.port - first_port], empty, now, reply);
    };
    std::size_t reset_count = 0, sent_count = 0;
    auto run = [&](int publishes) {
        for (int p = 0; p < publishes; ++p) {
            now += 50ms;
            body.fill(static_cast<std::uint8_t>(p));
            auto type = p % 5 == 0 ? NotificationType::confirmable : NotificationType::automatic;
            ASSERT_TRUE(core.hub().publish(ResourceId{0}, Response::ok(Bytes(body)), type));
            RecordingSink sink;
            core.on_timers(now, sink);
            sent_count += sink.count;
            for (std::size_t k = 0; k < sink.count; ++k) {
                const RecordingSink::Sent& sent = sink.sent[k];
                std::size_t turn = (static_cast<std::size_t>(p) + k) % 13;
                if (turn == 0) {
                    answer(sent, MessageType::rst);  // §3.6: the client forgot it
                    ++reset_count;
                    ASSERT_TRUE(subscribe(sent.port - first_port));
                } else if (sent.type == MessageType::con && turn != 1) {
                    answer(sent, MessageType::ack);  // turn 1: left for a retransmission
                }
            }
            if (p % 100 == 99) {  // observers whose CON timed out come back (a refresh for others)
                for (std::size_t i = 0; i < peers.size(); ++i)
                    ASSERT_TRUE(subscribe(i));
            }
        }
    };
    for (std::size_t i = 0; i < peers.size(); ++i)
        ASSERT_TRUE(subscribe(i));
    run(200);  // warm-up
    test::AllocationCounter::start();
    run(1000);
    test::AllocationCounter::stop();
    EXPECT_EQ(test::AllocationCounter::count(), 0u);
    EXPECT_EQ(core.observers().observers(), peers.size());
    EXPECT_GT(reset_count, 100u);
    EXPECT_GT(sent_count, 1000u * peers.size() / 2);
    EXPECT_GT(core.observers().stats().retransmissions, 0u);
    EXPECT_GT(core.observers().stats().notifications_con, 1000u);
}

// RFC 9175 §2 in steady state: a handler that wants a fresh request challenges, and the client
// repeats the request with the Echo value. No operator new; libcrypto's own mallocs for the HMAC
// (EVP_MAC_init/update/final on a reused context) are counted separately and reported.
TEST(Allocations, EchoChallengesDoNotAllocateOutsideLibcrypto) {
    Router router;
    router.post("/act", [](Request& request) -> HandlerResult {
        return request.echo_verified() ? Response::changed() : Response::echo_challenge();
    });
    Handler handler(std::move(router));
    ServerConfig config;
    config.exchange_count = 4096;
    config.exchange_cache_bytes = 256 * 1024;
    config.echo_required_for_unsafe = true;
    detail::ServerCore core(config, handler, false, 45);
    std::array<Endpoint, 16> peers;
    for (std::size_t i = 0; i < peers.size(); ++i)
        peers[i] = *Endpoint::from_literal("127.0.0.1", static_cast<std::uint16_t>(22000 + i));
    std::array<std::uint8_t, 128> request{};
    std::array<std::uint8_t, 1280> reply{};
    std::array<std::uint8_t, 40> echo{};
    std::uint16_t next_id = 0;
    TimePoint now{};
    auto run = [&](int rounds) {
        for (int r = 0; r < rounds; ++r) {
            const Endpoint& peer = peers[static_cast<std::size_t>(r) % peers.size()];
            now += 1ms;
            auto n = MessageWriter(request)
                         .header(MessageType::con, Code::post, next_id++, as_bytes("ec"))
                         .option(OptionNumber::uri_path, "act")
                         .finish();
            std::size_t length = core.on_datagram(peer, Bytes(request.data(), *n), now, reply);
            auto challenge = parse(Bytes(reply.data(), length));
            ASSERT_TRUE(challenge && challenge->code() == Code::unauthorized);
            auto value = challenge->find(OptionNumber::echo);
            ASSERT_TRUE(value && value->value.size() <= echo.size());
            std::copy(value->value.begin(), value->value.end(), echo.begin());
            n = MessageWriter(request)
                    .header(MessageType::con, Code::post, next_id++, as_bytes("ec"))
                    .option(OptionNumber::uri_path, "act")
                    .option(OptionNumber::echo, Bytes(echo.data(), value->value.size()))
                    .finish();
            length = core.on_datagram(peer, Bytes(request.data(), *n), now, reply);
            ASSERT_EQ(parse(Bytes(reply.data(), length))->code(), Code::changed);
        }
    };
    run(100);  // warm-up
    std::size_t libcrypto_before = libcrypto_allocations.load();
    test::AllocationCounter::start();
    run(2000);
    test::AllocationCounter::stop();
    EXPECT_EQ(test::AllocationCounter::count(), 0u);
    EXPECT_EQ(core.stats().echo_challenges, 2100u);
    if (libcrypto_hooks) {
        // 2000 rounds: one MAC for the value made, one for the value verified.
        double per_mac =
            static_cast<double>(libcrypto_allocations.load() - libcrypto_before) / 4000;
        std::cout << "libcrypto allocations per HMAC: " << per_mac << "\n";
    }
}

}  // namespace
}  // namespace coap
