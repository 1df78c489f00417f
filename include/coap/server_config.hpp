// Server configuration: every pool is sized from these fields at start-up.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "coap/dtls.hpp"
#include "coap/export.hpp"
#include "coap/time.hpp"

namespace coap {

/// What an overloaded server answers to a request it refuses (rate limited or shedding).
enum class OverloadReply : std::uint8_t {
    too_many_requests,  ///< 4.29 Too Many Requests with Max-Age (RFC 8516).
    reset,              ///< An RST (RFC 7252 §4.2, §4.3).
    silence,            ///< Nothing.
};

/// Server settings. Every field has a working default; `validate()` explains what is wrong.
struct COAP_API ServerConfig {
    /// UDP port to listen on (RFC 7252 §6.1 default 5683).
    std::uint16_t port = 5683;
    /// "0.0.0.0" (all IPv4), "::" (dual stack), "127.0.0.1", "::1" or any local address.
    std::string bind_address = "0.0.0.0";
    /// Receive buffers in each thread's io_uring buffer ring (rounded up to a power of two and
    /// clamped to RLIMIT_MEMLOCK, with a log line).
    std::uint32_t buffer_count = 512;
    /// Largest datagram received or sent, in bytes (at least 64). 1280 is the IPv6 minimum MTU
    /// (RFC 7252 §4.6).
    std::uint32_t buffer_size = 1280;
    /// Responses kept for duplicate detection (RFC 7252 §4.5), per thread. An exchange is kept for
    /// EXCHANGE_LIFETIME (247 s) or until the oldest is reused when the cache is full.
    std::uint32_t exchange_count = 65536;
    /// Bytes of response storage shared by the cached exchanges, per thread.
    std::uint32_t exchange_cache_bytes = 4 * 1024 * 1024;
    /// How long an exchange is remembered (RFC 7252 §4.8.2 EXCHANGE_LIFETIME).
    Duration exchange_lifetime = std::chrono::seconds(247);
    /// Separate responses in flight at once, per thread (RFC 7252 §5.2.2). When all are busy a
    /// handler's defer() fails and the client gets 5.03 with Max-Age `deferred_busy_max_age`.
    std::uint32_t max_deferred = 16;
    /// A deferred request that the application never answers is given up after this long.
    Duration deferred_answer_timeout = std::chrono::seconds(60);
    /// Max-Age, in seconds, of the 5.03 sent when no deferral slot is free.
    std::uint32_t deferred_busy_max_age = 2;
    /// RFC 7252 §4.8 transmission parameters for the CON messages the server sends (separate
    /// responses, CON notifications): ACK_TIMEOUT, ACK_RANDOM_FACTOR and MAX_RETRANSMIT.
    Duration ack_timeout = std::chrono::seconds(2);
    double ack_random_factor = 1.5;    ///< ACK_RANDOM_FACTOR, 1.0 to 10.0.
    std::uint32_t max_retransmit = 4;  ///< MAX_RETRANSMIT, at most 20.
    /// Block-wise transfers in progress at once, per thread (RFC 7959): uploads being
    /// reassembled and response bodies kept for their follow-up requests. Each holds
    /// `max_block_payload` bytes, reserved at start-up. When all are busy a new upload gets 5.03
    /// with Max-Age `block_busy_max_age`, and a large response is served without stored state
    /// (a GET or FETCH handler then runs again for every block).
    std::uint32_t max_block_transfers = 32;
    /// Largest body reassembled from a Block1 upload (larger ones get 4.13 with Size1) or kept
    /// for a Block2 response, in bytes.
    std::uint32_t max_block_payload = 64 * 1024;
    /// Largest block the server sends or asks for: a power of two from 16 to 1024 bytes. A
    /// response with a larger payload is sent block-wise with Block2, Size2 and an ETag; clients
    /// may ask for smaller blocks.
    std::uint32_t max_block_size = 1024;
    /// A block-wise transfer with no activity for this long is forgotten (a later block then
    /// gets 4.08 Request Entity Incomplete). The default is MAX_TRANSMIT_WAIT (RFC 7252 §4.8.2):
    /// a client may spend that long getting one block through.
    Duration block_transfer_timeout = std::chrono::seconds(93);
    /// Max-Age, in seconds, of the 5.03 sent when no transfer slot is free for an upload.
    std::uint32_t block_busy_max_age = 2;
    /// Observers per thread (RFC 7641), about 84 bytes each, reserved at start-up; any one
    /// resource may have them all. A registration beyond this is answered without Observe.
    std::uint32_t max_observers = 4096;
    /// Observable resources: ResourceId 0 to max_observe_resources - 1.
    std::uint32_t max_observe_resources = 64;
    /// Largest notification (code, options and payload, encoded) that Server::notify accepts.
    /// Payloads above max_block_size go out as their first block (RFC 7959 §2.6). Each resource
    /// holds one in a shared slot and two per thread.
    std::uint32_t max_notification_bytes = 4096;
    /// Every Nth notification to an observer is CON (RFC 7641 §4.5), so that observers that
    /// went away are noticed and removed; 0 sends NON only, 1 CON only.
    std::uint32_t observe_con_interval = 20;
    /// How long an Echo value (RFC 9175 §2) the server handed out stays valid.
    Duration echo_freshness = std::chrono::seconds(10);
    /// Unsafe requests (POST, PUT, DELETE, PATCH, iPATCH) without a fresh Echo get 4.01 with an
    /// Echo value before their handler runs (RFC 9175 §2.4 item 1). Off by default.
    bool echo_required_for_unsafe = false;
    /// Amplification mitigation (RFC 9175 §2.4 item 3): to a client that has not shown an Echo
    /// value, a response to a GET or FETCH larger than three times the request is replaced by a
    /// 4.01 with an Echo value. Off by default, so clients without Echo support keep working.
    bool echo_amplification_limit = false;
    /// Static link-format for GET /.well-known/core; empty lets the handler (or router) answer.
    std::string well_known_core;
    /// Extra critical option numbers the application understands (RFC 7252 §5.4.1).
    /// Listing 27 (Block1) hands uploads to the handler block by block, which then answers 2.31
    /// and reassembles itself; otherwise the server reassembles them and the handler sees the
    /// whole body once. Listing 23 (Block2) leaves slicing responses to the handler.
    std::vector<std::uint16_t> recognized_options;
    /// Worker threads, each with its own socket (SO_REUSEPORT), ring and state.
    std::uint32_t thread_count = 1;
    /// Per-request arena for handlers, in bytes.
    std::uint32_t max_arena_size = 256 * 1024;
    /// Rate limiting (active while throttled): tracked IPs (0 disables), refill rate and burst.
    std::uint32_t rate_limit_ip_count = 1024;
    std::uint32_t rate_limit_tokens_per_sec = 100;  ///< Requests per second per IP.
    std::uint32_t rate_limit_burst = 200;           ///< Requests an IP may send at once.
    /// Load levels by the receive ring's fill in percent (datagrams handled in one batch against
    /// buffer_count): throttle, shed, and recover below. Throttled: the per-IP rate limit
    /// applies. Shedding: new requests are refused; retransmissions are still answered from
    /// the duplicate cache.
    std::uint8_t load_shed_throttle_pct = 75;
    std::uint8_t load_shed_critical_pct = 90;  ///< Fill at which new requests are refused.
    std::uint8_t load_shed_recover_pct = 50;   ///< Fill below which the level is normal again.
    /// The answer to a refused CON request (default 4.29 with Max-Age, RFC 8516) and to a
    /// refused NON request (default silence, RFC 7252 §4.3).
    OverloadReply overload_reply_con = OverloadReply::too_many_requests;
    OverloadReply overload_reply_non = OverloadReply::silence;  ///< See overload_reply_con.
    /// Log a warning for handlers slower than this; 0 disables (and skips the clock reads).
    Duration handler_warn = Duration::zero();
    /// CPU for thread i is cpu_affinity[i % size]; empty leaves scheduling to the kernel.
    std::vector<int> cpu_affinity;
    /// coaps:// (DTLS 1.2 with PSK) on its own port, next to coap://. Each of the thread_count
    /// secure threads has its own socket (SO_REUSEPORT keeps a peer on one of them), sessions
    /// and handshakes; every CoAP feature works the same over it, and handlers see
    /// Request::is_secure() and Request::psk_identity().
    ServerDtlsConfig dtls;

    /// An empty string when the configuration is usable, else what is wrong with it.
    std::string validate() const;
};

}  // namespace coap
