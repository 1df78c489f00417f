// Shared by the dtls_handshake_*_test files: our DTLS 1.2 PSK server and any number of our
// clients joined in-process by an in-order datagram path with injected time (Net), where a
// filter may change or drop each datagram; plus helpers to read and forge handshake datagrams.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dtls/dtls_client.hpp"
#include "dtls/dtls_server.hpp"

namespace coap::dtls::handshake_test {

using namespace std::chrono_literals;
using Buffer = std::vector<std::uint8_t>;

inline constexpr std::array<std::uint8_t, 16> psk = {
    0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0f};

inline Endpoint address(const char* ip, std::uint16_t port) {
    return *Endpoint::from_literal(ip, port);
}

struct Recorder final : DtlsEvents {
    std::vector<std::pair<Endpoint, Buffer>> sent;
    std::vector<Buffer> data;
    std::vector<Endpoint> established_peers;
    std::vector<std::pair<Endpoint, CloseReason>> closed_peers;

    void send(const Endpoint& peer, Bytes datagram) noexcept override {
        sent.emplace_back(peer, Buffer(datagram.begin(), datagram.end()));
    }
    void received(const Endpoint&, Bytes bytes) noexcept override {
        data.emplace_back(bytes.begin(), bytes.end());
    }
    void established(const Endpoint& peer, Bytes) noexcept override {
        established_peers.push_back(peer);
    }
    void closed(const Endpoint& peer, CloseReason reason) noexcept override {
        closed_peers.emplace_back(peer, reason);
    }
    std::vector<std::pair<Endpoint, Buffer>> take() { return std::exchange(sent, {}); }
};

inline DtlsServerConfig server_config(bool ems = true) {
    DtlsServerConfig config;
    config.session_count = 8;
    config.handshake_count = 4;
    config.resumption_cache_size = 8;
    config.handshake.extended_master_secret = ems;
    config.handshake.psk_lookup = [](std::string_view identity) -> std::optional<PskKey> {
        if (identity == "client-1" || identity == "client-2") return PskKey(psk);
        return std::nullopt;
    };
    return config;
}

inline DtlsClientConfig client_config(bool ems = true, std::string identity = "client-1") {
    DtlsClientConfig config;
    config.handshake.extended_master_secret = ems;
    config.handshake.identity = std::move(identity);
    config.handshake.key = PskKey(psk);
    return config;
}

// One server and any number of clients joined by an in-order datagram path; `filter` may
// change or drop (return false) each datagram.
struct Net {
    struct Peer {
        Endpoint address;
        std::unique_ptr<DtlsClient> client;
        Recorder events;
    };

    explicit Net(DtlsServerConfig config) : server(std::move(config)) {}

    DtlsClient& add(DtlsClientConfig config, Endpoint at = address("192.0.2.10", 40000)) {
        auto peer = std::make_unique<Peer>();
        peer->address = at;
        peer->client = std::make_unique<DtlsClient>(std::move(config), server_address);
        peers.push_back(std::move(peer));
        return *peers.back()->client;
    }
    Peer& peer(std::size_t i = 0) { return *peers[i]; }
    DtlsClient& client(std::size_t i = 0) { return *peers[i]->client; }
    void connect(std::size_t i = 0) { client(i).connect(now, peer(i).events); }

    // Delivers datagrams both ways until nobody has anything to send.
    void pump() {
        for (int round = 0; round < 50; ++round) {
            bool moved = false;
            for (auto& p : peers) {
                for (auto& [to, datagram] : p->events.take()) {
                    moved = true;
                    ++to_server;
                    if (!filter || filter(true, datagram))
                        server.on_datagram(p->address, datagram, now, server_events);
                }
            }
            for (auto& [to, datagram] : server_events.take()) {
                moved = true;
                ++to_clients;
                for (auto& p : peers) {
                    if (p->address == to && (!filter || filter(false, datagram)))
                        p->client->on_datagram(server_address, datagram, now, p->events);
                }
            }
            if (!moved) return;
        }
        FAIL() << "datagrams kept flowing";
    }
    void advance(Duration step) {
        now += step;
        server.on_timer(now, server_events);
        for (auto& p : peers)
            p->client->on_timer(now, p->events);
    }
    bool established(std::size_t i = 0) {
        return client(i).state() == ClientState::established && server.has_session(peer(i).address);
    }
    void expect_data_both_ways(std::size_t i = 0) {
        ASSERT_TRUE(client(i).seal(as_bytes("ping"), peer(i).events));
        pump();
        ASSERT_FALSE(server_events.data.empty());
        EXPECT_EQ(as_string(server_events.data.back()), "ping");
        ASSERT_TRUE(server.seal_to(peer(i).address, as_bytes("pong"), now, server_events));
        pump();
        ASSERT_FALSE(peer(i).events.data.empty());
        EXPECT_EQ(as_string(peer(i).events.data.back()), "pong");
    }

    Endpoint server_address = address("192.0.2.1", 5684);
    DtlsServer server;
    Recorder server_events;
    std::vector<std::unique_ptr<Peer>> peers;
    std::function<bool(bool to_server, Buffer&)> filter;
    TimePoint now = TimePoint{} + 1h;
    int to_server = 0;
    int to_clients = 0;
};

inline std::optional<HandshakeFragment> first_fragment(const Buffer& datagram) {
    RecordReader reader(datagram);
    auto record = reader.next();
    if (!record || record->header.type != ContentType::handshake || record->header.epoch != 0)
        return std::nullopt;
    auto fragment = parse_handshake_fragment(record->fragment);
    if (!fragment) return std::nullopt;
    return *fragment;
}

inline bool is_message(const Buffer& datagram, HandshakeType type) {
    auto fragment = first_fragment(datagram);
    return fragment && fragment->header.type == type;
}

// A ClientHello datagram as a client would send it (message_seq and record sequence given).
inline Buffer client_hello_datagram(Bytes random, Bytes cookie, std::uint16_t message_seq = 0,
                                    std::uint64_t record_seq = 0) {
    static constexpr std::uint8_t suites[] = {0xc0, 0xa8};
    static constexpr std::uint8_t compression[] = {0};
    ClientHello hello;
    hello.random = random;
    hello.cookie = cookie;
    hello.cipher_suites = suites;
    hello.compression_methods = compression;
    hello.extensions.extended_master_secret = true;
    Buffer datagram(512);
    auto body = write_client_hello(
        hello, MutableBytes(datagram).subspan(record_header_size + handshake_header_size));
    const auto length = static_cast<std::uint32_t>(*body);
    (void)write_handshake_header({HandshakeType::client_hello, length, message_seq, 0, length},
                                 MutableBytes(datagram).subspan(record_header_size));
    const std::size_t total = record_header_size + handshake_header_size + *body;
    (void)write_record_header({ContentType::handshake, dtls_1_0, 0, record_seq,
                               static_cast<std::uint16_t>(total - record_header_size)},
                              datagram);
    datagram.resize(total);
    return datagram;
}

inline Bytes cookie_of(const Buffer& hello_verify_request) {
    auto fragment = first_fragment(hello_verify_request);
    return parse_hello_verify_request(fragment->body)->cookie;
}

}  // namespace coap::dtls::handshake_test
