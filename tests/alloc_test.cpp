// Steady-state hot paths allocate nothing: the server core answering requests through a router
// (including duplicate detection and NON responses), and the client receiving notifications
// into a caller's buffer.
#include <gtest/gtest.h>

#include <array>

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
