// DTLS 1.2 with pre-shared keys (RFC 6347, RFC 4279, RFC 7925): the settings that turn on
// coaps:// for a Server (ServerConfig::dtls) and a Client (ClientConfig::dtls). The cipher suite
// is TLS_PSK_WITH_AES_128_CCM_8 (RFC 6655), the mandatory one for CoAP (RFC 7252 §9.1.3.1).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coap/bytes.hpp"
#include "coap/export.hpp"
#include "coap/time.hpp"

namespace coap {

/// Longest PSK identity (RFC 7925 §4.2 recommends short ones; RFC 4279 §5.3 allows 2^16 - 1).
inline constexpr std::size_t max_psk_identity_size = 128;
/// Longest pre-shared key, in bytes.
inline constexpr std::size_t max_psk_key_size = 64;

/// One identity and its key.
struct COAP_API PskCredentials {
    std::string identity;           ///< Compared byte by byte (RFC 7925 §4.2).
    std::vector<std::uint8_t> key;  ///< 1 to max_psk_key_size bytes.

    /// A key given as text (the ETSI demo key "sesame", say): its bytes are the key.
    static PskCredentials from_text(std::string identity, std::string_view key) {
        return {std::move(identity), std::vector<std::uint8_t>(key.begin(), key.end())};
    }
    /// Empty when both fit their limits and the key is not empty; otherwise what is wrong.
    std::string validate() const;
};

/// Finds the key of a PSK identity, one key per device say: nullopt for an unknown identity
/// (the handshake then fails with an unknown_psk_identity alert). Called from the worker thread
/// during handshakes only, never for established sessions; it must not throw.
using PskResolver = std::function<std::optional<std::vector<std::uint8_t>>(std::string_view)>;

/// Server side: serve coaps:// next to coap://. Off until `enabled` is set.
struct COAP_API ServerDtlsConfig {
    /// Serve coaps:// at all.
    bool enabled = false;
    /// UDP port of coaps:// (RFC 7252 §12.7 default 5684); 0 picks a free one (tests).
    std::uint16_t port = 5684;
    /// Identities and keys known up front (the simple case is one pair).
    std::vector<PskCredentials> keys;
    /// Consulted for identities not in `keys`; may be empty.
    PskResolver resolver;
    /// RFC 4279 §2: an identity hint sent in ServerKeyExchange; empty sends none.
    std::string identity_hint;
    /// Established sessions per thread, reserved at start-up (about 330 bytes each). When full
    /// the least recently used session is evicted.
    std::uint32_t session_count = 65536;
    /// Handshakes in progress at once per thread (after a verified cookie). When full a new
    /// handshake is refused until one finishes or times out.
    std::uint32_t handshake_count = 256;
    /// Sessions remembered for abbreviated handshakes (RFC 5246 §7.3) per thread; 0 disables.
    std::uint32_t resumption_cache_size = 4096;
    /// A session with no records for this long is forgotten (its peer then handshakes again).
    Duration session_idle_timeout = std::chrono::minutes(10);
    /// Use the extended master secret (RFC 7627) when the client offers it.
    bool extended_master_secret = true;

    /// Empty when consistent; otherwise what is wrong.
    std::string validate() const;
};

/// Client side: speak coaps:// with these credentials.
struct COAP_API ClientDtlsConfig {
    /// The identity and key to connect with.
    PskCredentials credentials;
    /// Offer the extended master secret (RFC 7627).
    bool extended_master_secret = true;
    /// Resume the previous session (abbreviated handshake) when reconnecting.
    bool resume = true;
    /// First handshake retransmission timeout (RFC 6347 §4.2.4.1), doubled on each of
    /// `handshake_retransmissions` retransmissions before the handshake fails.
    Duration handshake_initial_timeout = std::chrono::seconds(1);
    std::uint32_t handshake_retransmissions = 5;  ///< See handshake_initial_timeout.
};

}  // namespace coap
