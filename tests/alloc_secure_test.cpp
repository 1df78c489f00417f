// coaps:// steady state allocates nothing on the server: sealed CON and NON GETs and POSTs
// from many established DTLS sessions, through the adapter a coaps:// worker runs (record
// opening, the protocol core, sealing the answer). Only the server's calls are counted, and
// libcrypto's own allocations are counted through its memory hooks.
#include <gtest/gtest.h>
#include <openssl/crypto.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <vector>

#include "coap/router.hpp"
#include "dtls/dtls_client.hpp"
#include "server/secure_core_adapter.hpp"
#include "support/count_allocations.hpp"
#include "support/count_libcrypto.hpp"

using coap::test::libcrypto_allocations;
using coap::test::libcrypto_hooks;

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using ByteVector = std::vector<std::uint8_t>;

const ByteVector key{'s', 'e', 's', 'a', 'm', 'e'};

// Keeps the datagrams each side sends until the test delivers them. The server's go into
// fixed slots, so that the outbox itself allocates nothing while counted.
struct Mailbox final : io::Outbox {
    static constexpr std::size_t slots = 16;
    std::array<std::array<std::uint8_t, 1400>, slots> to_client{};
    std::array<std::size_t, slots> to_client_size{};
    std::size_t to_client_count = 0;

    Bytes client_datagram(std::size_t i) const {
        return Bytes(to_client[i]).first(to_client_size[i]);
    }
    bool send(const Endpoint&, Bytes datagram) noexcept override {
        if (to_client_count == slots || datagram.size() > to_client[0].size()) return false;
        std::copy(datagram.begin(), datagram.end(), to_client[to_client_count].begin());
        to_client_size[to_client_count++] = datagram.size();
        return true;
    }
    std::size_t available() const noexcept override { return 256; }
};

// What the clients send, and how many answers they opened.
struct ClientMail final : dtls::DtlsEvents {
    std::vector<ByteVector> to_server;
    std::size_t decrypted = 0;

    void send(const Endpoint&, Bytes datagram) noexcept override {
        to_server.emplace_back(datagram.begin(), datagram.end());
    }
    void received(const Endpoint&, Bytes) noexcept override { ++decrypted; }
};

dtls::DtlsClientConfig client_config() {
    dtls::DtlsClientConfig config;
    config.handshake.identity = "sensor";
    config.handshake.key = dtls::PskKey(Bytes(key));
    return config;
}

std::size_t request(MutableBytes out, MessageType type, Code method, std::uint16_t id,
                    Bytes payload) {
    return *MessageWriter(out)
                .header(type, method, id, as_bytes("tok4"))
                .option(OptionNumber::uri_path, "data")
                .payload(payload)
                .finish();
}

TEST(Allocations, CoapsRequestsDoNotAllocateOnTheServer) {
    ASSERT_TRUE(libcrypto_hooks);
    Router router;
    router.get("/data", [](Request&) { return Response::ok(as_bytes("twenty-one degrees")); });
    router.post("/data", [](Request& request) { return Response::ok(request.payload()); });
    Handler handler(std::move(router));
    ServerConfig config;
    config.exchange_count = 4096;
    config.exchange_cache_bytes = 512 * 1024;
    config.dtls.enabled = true;
    config.dtls.keys.push_back({"sensor", key});
    config.dtls.session_count = 64;
    ServerCore core(config, handler, true, 7);
    SecureCoreAdapter adapter(core, dtls_server_config(config.dtls, 1280), config.buffer_size);
    Mailbox mail;
    ClientMail client_mail;
    adapter.attach(mail);

    TimePoint now = TimePoint{} + 100s;
    std::array<std::uint8_t, 1400> scratch{};
    const Endpoint server = *Endpoint::from_literal("127.0.0.1", 5684);
    std::vector<Endpoint> peers;
    std::vector<std::unique_ptr<dtls::DtlsClient>> clients;
    // Delivers every queued datagram both ways until both sides are quiet.
    auto pump = [&](std::size_t c) {
        while (!client_mail.to_server.empty() || mail.to_client_count != 0) {
            auto to_server = std::move(client_mail.to_server);
            client_mail.to_server.clear();
            for (const ByteVector& d : to_server)
                adapter.on_datagram(peers[c], d, now, scratch);
            adapter.on_batch_end(now, mail);
            std::vector<ByteVector> to_client;
            for (std::size_t i = 0; i < mail.to_client_count; ++i)
                to_client.emplace_back(mail.client_datagram(i).begin(),
                                       mail.client_datagram(i).end());
            mail.to_client_count = 0;
            for (const ByteVector& d : to_client)
                clients[c]->on_datagram(server, d, now, client_mail);
        }
    };
    for (std::uint16_t c = 0; c < 16; ++c) {
        peers.push_back(
            *Endpoint::from_literal("127.0.0.1", static_cast<std::uint16_t>(40000 + c)));
        clients.push_back(std::make_unique<dtls::DtlsClient>(client_config(), server));
        clients[c]->connect(now, client_mail);
        pump(c);
        ASSERT_EQ(clients[c]->state(), dtls::ClientState::established);
    }

    std::array<std::uint8_t, 256> plain{};
    const ByteVector body(100, 0x42);
    std::size_t answered = 0, allocations = 0;
    auto run = [&](int count, std::uint16_t first_id, bool counted) {
        for (int i = 0; i < count; ++i) {
            const std::size_t c = static_cast<std::size_t>(i) % clients.size();
            const auto id = static_cast<std::uint16_t>(first_id + i);
            const MessageType type = i % 4 == 3 ? MessageType::non : MessageType::con;
            const bool post = i % 2 == 1;
            std::size_t n = request(plain, type, post ? Code::post : Code::get, id,
                                    post ? Bytes(body) : Bytes());
            (void)clients[c]->seal(Bytes(plain.data(), n), client_mail);
            ByteVector sealed = std::move(client_mail.to_server.back());
            client_mail.to_server.clear();
            now += 10us;
            if (counted) test::AllocationCounter::start();
            adapter.on_datagram(peers[c], sealed, now, scratch);
            if (i % 64 == 0) adapter.on_batch_end(now, mail);
            if (counted) {
                test::AllocationCounter::stop();
                allocations += test::AllocationCounter::count();
            }
            for (std::size_t d = 0; d < mail.to_client_count; ++d)
                clients[c]->on_datagram(server, mail.client_datagram(d), now, client_mail);
            answered += mail.to_client_count;
            mail.to_client_count = 0;
        }
    };
    run(10000, 0, false);  // warm-up: the duplicate cache fills and starts evicting
    const std::size_t crypto_before = libcrypto_allocations.load();
    answered = 0;
    run(100000, 10000, true);
    EXPECT_EQ(allocations, 0u);
    EXPECT_EQ(libcrypto_allocations.load() - crypto_before, 0u)
        << "libcrypto allocated while sealing or opening records (client side included)";
    EXPECT_EQ(answered, 100000u) << "every request answered with one sealed datagram";
    EXPECT_EQ(client_mail.decrypted, 110000u) << "and every answer opened by its client";
}

}  // namespace
}  // namespace coap::detail
