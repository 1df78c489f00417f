// Server configuration: every pool is sized from these fields at start-up.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "coap/time.hpp"

namespace coap {

/// Server settings. Every field has a working default; `validate()` explains what is wrong.
struct ServerConfig {
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
    double ack_random_factor = 1.5;
    std::uint32_t max_retransmit = 4;
    /// Block-wise transfers in progress at once, per thread (RFC 7959).
    std::uint32_t max_block_transfers = 32;
    /// Largest body assembled or served block-wise, in bytes.
    std::uint32_t max_block_payload = 64 * 1024;
    /// Observers in total and observable resources (RFC 7641).
    std::uint32_t max_observers = 256;
    std::uint32_t max_observe_resources = 64;
    /// Every Nth notification to an observer is CON; 0 sends NON only.
    std::uint32_t observe_con_interval = 20;
    /// Static link-format for GET /.well-known/core; empty lets the handler (or router) answer.
    std::string well_known_core;
    /// Extra critical option numbers the application understands (RFC 7252 §5.4.1).
    /// Listing 27 (Block1) hands multi-block uploads to the handler, which then answers 2.31 and
    /// reassembles itself; otherwise they are refused with 4.02 (no built-in reassembly yet).
    std::vector<std::uint16_t> recognized_options;
    /// Worker threads, each with its own socket (SO_REUSEPORT), ring and state.
    std::uint32_t thread_count = 1;
    /// Per-request arena for handlers, in bytes.
    std::uint32_t max_arena_size = 256 * 1024;
    /// Rate limiting (active while throttled): tracked IPs (0 disables), refill rate and burst.
    std::uint32_t rate_limit_ip_count = 1024;
    std::uint32_t rate_limit_tokens_per_sec = 100;
    std::uint32_t rate_limit_burst = 200;
    /// Load levels by pool use in percent: throttle, shed, and recover below.
    std::uint8_t load_shed_throttle_pct = 75;
    std::uint8_t load_shed_critical_pct = 90;
    std::uint8_t load_shed_recover_pct = 50;
    /// Log a warning for handlers slower than this; 0 disables (and skips the clock reads).
    Duration handler_warn = Duration::zero();
    /// Restarts of a worker thread that exits with an error before giving up.
    std::uint32_t max_worker_restarts = 5;
    /// CPU for thread i is cpu_affinity[i % size]; empty leaves scheduling to the kernel.
    std::vector<int> cpu_affinity;

    /// An empty string when the configuration is usable, else what is wrong with it.
    std::string validate() const;
};

}  // namespace coap
