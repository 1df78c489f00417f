// The world the DTLS handshake fuzz target runs in: the endpoints (one server, three clients,
// two attackers), the pre-shared keys, and the server and client configurations that the first
// input bytes choose (small tables and short timers, so that limits and give-ups are reached).
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "dtls/dtls_client.hpp"
#include "dtls/dtls_server.hpp"

namespace coap::fuzz::dtls_setup {

using namespace coap::dtls;
using namespace std::chrono_literals;

inline constexpr std::size_t server_index = 0;
inline constexpr std::size_t client_count = 3;
inline constexpr std::size_t attacker_count = 2;
inline constexpr std::size_t endpoint_count = 1 + client_count + attacker_count;

inline const std::array<Endpoint, endpoint_count>& endpoints() {
    static const std::array<Endpoint, endpoint_count> all = {
        *Endpoint::from_literal("192.0.2.1", 5684),      // the server
        *Endpoint::from_literal("192.0.2.10", 40000),    // clients
        *Endpoint::from_literal("192.0.2.11", 40001),    //
        *Endpoint::from_literal("2001:db8::12", 40002),  //
        *Endpoint::from_literal("192.0.2.66", 666),      // attackers
        *Endpoint::from_literal("2001:db8::66", 667),
    };
    return all;
}

inline std::size_t index_of(const Endpoint& peer) {
    const auto& all = endpoints();
    return static_cast<std::size_t>(std::find(all.begin(), all.end(), peer) - all.begin());
}

inline constexpr std::array<std::uint8_t, 16> good_psk = {
    0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0f};
inline constexpr std::array<std::uint8_t, 16> wrong_psk = {
    0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0e};

inline HandshakeTiming timing() {
    HandshakeTiming timing;  // short, so that give-ups are reachable in a few time steps
    timing.initial_timeout = 1s;
    timing.max_timeout = 4s;
    timing.max_retransmissions = 3;
    return timing;
}

// Server flags: bit 0 no EMS, bit 1 identity hint, bit 2 no resumption, bits 3-4 session
// table size {4, 1, 2, 3}, bit 5 one handshake slot instead of two, bits 6-7 MTU.
inline DtlsServerConfig server_config(std::uint8_t flags) {
    static constexpr std::array<std::size_t, 4> sessions{4, 1, 2, 3};
    static constexpr std::array<std::size_t, 4> mtus{1232, 256, 128, 64};
    DtlsServerConfig config;
    config.session_count = sessions[(flags >> 3) & 3];
    config.handshake_count = (flags & 0x20) ? 1 : 2;
    config.resumption_cache_size = (flags & 0x04) ? 0 : 2;
    config.session_idle_timeout = 60s;
    config.cookie_rotation_interval = 30s;
    config.mtu = mtus[flags >> 6];
    config.handshake.timing = timing();
    config.handshake.extended_master_secret = (flags & 0x01) == 0;
    if (flags & 0x02) config.handshake.identity_hint = "coap-fuzz";
    config.handshake.psk_lookup = [](std::string_view identity) -> std::optional<PskKey> {
        if (identity == "client-1" || identity == "client-2") return PskKey(Bytes(good_psk));
        return std::nullopt;
    };
    return config;
}

// Client flags: bit 0 no EMS, bit 1 no resumption, bits 2-3 identity and key {client-1,
// client-2, client-1 with a wrong key, an unknown identity}, bits 4-5 MTU.
struct ClientSetup {
    DtlsClientConfig config;
    bool right_key = true;
};

inline ClientSetup client_setup(std::uint8_t flags) {
    static constexpr std::array<std::size_t, 4> mtus{1232, 256, 160, 64};
    static constexpr std::array<const char*, 4> identities{"client-1", "client-2", "client-1",
                                                           "mallory"};
    const std::size_t variant = (flags >> 2) & 3;
    ClientSetup setup;
    setup.config.handshake.timing = timing();
    setup.config.handshake.extended_master_secret = (flags & 0x01) == 0;
    setup.config.handshake.identity = identities[variant];
    setup.config.handshake.key = PskKey(Bytes(variant == 2 ? wrong_psk : good_psk));
    setup.config.resume = (flags & 0x02) == 0;
    setup.config.mtu = mtus[(flags >> 4) & 3];
    setup.right_key = variant != 2 && variant != 3;
    return setup;
}

}  // namespace coap::fuzz::dtls_setup
