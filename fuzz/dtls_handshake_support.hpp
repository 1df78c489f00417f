// What the DTLS handshake fuzz target needs besides the library's public interface: OpenSSL's
// random generator made deterministic (so that an input replays the same cookies, randoms and
// keys, and a crash reproduces), and read access to the keys of established sessions (so that
// "both sides completed the same handshake" can be told from "each side has some session").
#pragma once

// RAND_set_rand_method is deprecated in OpenSSL 3 but still consulted by RAND_bytes.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/rand.h>

#include <cstdint>
#include <cstring>

#include "dtls/dtls_client.hpp"
#include "dtls/dtls_server.hpp"

namespace coap::fuzz::dtls_support {

// ---- Deterministic randomness (splitmix64), reset for every input ---------------------------

inline std::uint64_t& random_state() {
    static std::uint64_t state = 0;
    return state;
}

inline int fuzz_random_bytes(unsigned char* out, int count) {
    for (int i = 0; i < count; ++i) {
        std::uint64_t z = (random_state() += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        out[i] = static_cast<unsigned char>(z ^ (z >> 31));
    }
    return 1;
}

inline int fuzz_random_status() {
    return 1;
}

/// Installs the generator (once) and restarts its sequence.
inline void reset_random(std::uint64_t seed) {
    static const RAND_METHOD method = {nullptr, fuzz_random_bytes, nullptr,
                                       nullptr, fuzz_random_bytes, fuzz_random_status};
    static const bool installed = RAND_set_rand_method(&method) == 1;
    if (!installed) __builtin_trap();
    random_state() = seed;
}

// ---- Private members, read through explicit instantiation ----------------------------------
// Access checking does not apply to the names in an explicit instantiation
// ([temp.spec.general]), which lets the target read state without changing the library.

template <class Tag, typename Tag::type Member>
struct Expose {
    friend typename Tag::type member(Tag) { return Member; }
};

struct ClientSessionTag {
    using type = dtls::Session dtls::DtlsClient::*;
    friend type member(ClientSessionTag);
};
struct WriteKeysTag {
    using type = dtls::TrafficKeys dtls::Session::*;
    friend type member(WriteKeysTag);
};
struct ReadKeysTag {
    using type = dtls::TrafficKeys dtls::Session::*;
    friend type member(ReadKeysTag);
};
struct ServerSessionsTag {
    using type = dtls::SessionTable dtls::DtlsServer::*;
    friend type member(ServerSessionsTag);
};
struct ServerHandshakesTag {
    using type = dtls::HandshakePool dtls::DtlsServer::*;
    friend type member(ServerHandshakesTag);
};

template struct Expose<ClientSessionTag, &dtls::DtlsClient::session_>;
template struct Expose<WriteKeysTag, &dtls::Session::write_keys_>;
template struct Expose<ReadKeysTag, &dtls::Session::read_keys_>;
template struct Expose<ServerSessionsTag, &dtls::DtlsServer::sessions_>;
template struct Expose<ServerHandshakesTag, &dtls::DtlsServer::handshakes_>;

inline const dtls::Session& client_session(const dtls::DtlsClient& client) {
    return client.*member(ClientSessionTag{});
}
inline dtls::Session* server_session(dtls::DtlsServer& server, const Endpoint& peer) {
    return (server.*member(ServerSessionsTag{})).find(peer);
}
inline bool server_handshaking(dtls::DtlsServer& server, const Endpoint& peer) {
    return (server.*member(ServerHandshakesTag{})).find(peer) != nullptr;
}

inline bool same_keys(const dtls::TrafficKeys& a, const dtls::TrafficKeys& b) {
    return std::memcmp(a.key.data(), b.key.data(), a.key.size()) == 0 &&
           std::memcmp(a.iv.data(), b.iv.data(), a.iv.size()) == 0;
}

/// Which directions of `client`'s session and the server's `peer` session share keys:
/// client write = server read, and client read = server write.
struct KeyMatch {
    bool upstream;
    bool downstream;
};
inline KeyMatch match_keys(const dtls::Session& client, const dtls::Session& server) {
    return {same_keys(client.*member(WriteKeysTag{}), server.*member(ReadKeysTag{})),
            same_keys(client.*member(ReadKeysTag{}), server.*member(WriteKeysTag{}))};
}

}  // namespace coap::fuzz::dtls_support
