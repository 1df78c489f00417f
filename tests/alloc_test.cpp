// Steady-state hot paths allocate nothing: the server core answering requests through a router
// (including duplicate detection and NON responses), and the client receiving notifications
// into a caller's buffer.
#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <vector>

#include "client/client_core.hpp"
#include "coap/router.hpp"
#include "server/server_core.hpp"
#include "support/count_allocations.hpp"

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

}  // namespace
}  // namespace coap
