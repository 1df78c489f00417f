// The CoAP server: configuration and a handler in, datagrams served on io_uring.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "coap/export.hpp"
#include "coap/handler.hpp"
#include "coap/observe.hpp"
#include "coap/server_config.hpp"
#include "coap/time.hpp"

namespace coap {

/// Counters summed over every worker thread. Exact after run() has returned; while the server
/// runs they are read without synchronisation and may lag slightly.
struct ServerStats {
    std::uint64_t received = 0;          ///< Datagrams received.
    std::uint64_t sent = 0;              ///< Datagrams sent.
    std::uint64_t requests = 0;          ///< Requests handed to the handler.
    std::uint64_t duplicates = 0;        ///< Duplicates answered from the cache or dropped.
    std::uint64_t format_errors = 0;     ///< Malformed datagrams (RST for CON, else dropped).
    std::uint64_t ignored = 0;           ///< Unknown versions, stray ACK/RST, empty NON...
    std::uint64_t resets_sent = 0;       ///< RST sent (pings, malformed or unexpected CON).
    std::uint64_t bad_options = 0;       ///< Requests rejected for a critical option (4.02).
    std::uint64_t handler_failures = 0;  ///< Handler exceptions and unencodable responses (5.00).
    std::uint64_t slow_handlers = 0;     ///< Handler calls longer than ServerConfig::handler_warn.
    /// Total time spent in handlers, in nanoseconds; measured only while
    /// ServerConfig::handler_warn is set (it costs two clock reads per request).
    std::uint64_t handler_ns = 0;
    std::uint64_t deferred_in_use = 0;              ///< Deferral slots holding a request right now.
    std::uint64_t block_transfers_in_use = 0;       ///< Block-wise transfer slots in use right now.
    std::uint64_t dtls_handshakes_in_progress = 0;  ///< DTLS handshake slots in use right now.
    std::uint64_t truncated = 0;                    ///< Datagrams larger than buffer_size, dropped.
    /// Datagrams the kernel dropped on a full socket receive queue (SO_RXQ_OVFL): the server
    /// is receiving more than it drains. The load level rises only while this grows.
    std::uint64_t kernel_drops = 0;
    std::uint64_t send_dropped = 0;      ///< Replies dropped for want of a free send slot.
    std::uint64_t send_errors = 0;       ///< Sends the kernel refused.
    std::uint64_t cached_exchanges = 0;  ///< Exchanges held for deduplication right now.
    std::uint64_t block2_served = 0;     ///< Responses sent as one block of a larger body.
    std::uint64_t block1_continues = 0;  ///< 2.31 Continue for upload blocks.
    std::uint64_t block_errors = 0;      ///< 4.08, 4.13 and 5.03 answers to block-wise requests.
    std::uint64_t observers = 0;         ///< Registered observers right now.
    std::uint64_t notifications = 0;     ///< Notifications sent (first transmissions).
    std::uint64_t notification_retransmissions = 0;  ///< CON notifications sent again.
    std::uint64_t observers_removed = 0;             ///< Observers gone by RST, timeout or error.
    std::uint64_t observe_refused = 0;          ///< Registrations refused: no observer slot free.
    std::uint64_t echo_challenges = 0;          ///< 4.01 with an Echo value (RFC 9175 §2).
    std::uint64_t rate_limited = 0;             ///< Requests refused by the per-IP rate limit.
    std::uint64_t shed = 0;                     ///< Requests refused while shedding load.
    std::uint64_t dtls_sessions = 0;            ///< Established DTLS sessions right now.
    std::uint64_t dtls_handshakes = 0;          ///< DTLS handshakes completed (full or resumed).
    std::uint64_t dtls_resumptions = 0;         ///< Of those, abbreviated (resumed) handshakes.
    std::uint64_t dtls_handshake_failures = 0;  ///< Failed, or refused for a full handshake pool.
    /// DTLS records dropped: malformed, wrong epoch, failed authentication or replayed.
    std::uint64_t dtls_records_dropped = 0;
    /// The highest load level of any worker right now: 0 normal, 1 throttled, 2 shedding.
    std::uint8_t load_level = 0;
};

/// A CoAP server over UDP (RFC 7252). Construct it, then either call run() (blocking, one
/// thread per `thread_count`) or listen() and tick() from your own loop (one thread).
///
///     coap::Server server(coap::ServerConfig{}, [](coap::Request& request) {
///         return coap::Response::ok(request.payload());
///     });
///     server.run();
class COAP_API Server {
  public:
    /// Validates the configuration (throws std::invalid_argument with the reason) and keeps the
    /// handler. Memory is reserved when listening starts.
    Server(ServerConfig config, Handler handler);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Binds every worker's socket and sets up its ring. Throws std::system_error or
    /// std::runtime_error naming what failed (port in use, io_uring unavailable, ...).
    void listen();
    /// Processes one batch of datagrams on the first worker, waiting up to `timeout` for one.
    /// For callers that own their loop; requires thread_count == 1. With ServerConfig::dtls
    /// enabled it waits up to half of `timeout` on each of the two sockets. False after stop().
    bool tick(Duration timeout = Duration::zero());
    /// Listens if needed, runs thread_count workers (the calling thread is the first) and
    /// returns after stop().
    void run();
    /// Makes run() and tick() return. Safe from any thread and from a signal handler.
    void stop() noexcept;

    /// The later answer to a request whose handler called `Request::defer()` (RFC 7252 §5.2.2).
    /// Safe from any thread; the response is copied before this returns. The worker is woken and
    /// sends it at once, as a CON with retransmission for a CON
    /// request or as a NON for a NON request. False when the handle is unknown, was already
    /// used, or was given up (see ServerConfig::deferred_answer_timeout).
    bool respond(DeferredResponse handle, const Response& response) noexcept;

    /// The next unused observable resource id; nullopt when all max_observe_resources are
    /// taken. Alternatively use `ResourceId{n}` directly (one style per server).
    std::optional<ResourceId> allocate_resource() noexcept;
    /// Publishes a new representation of `resource` (RFC 7641 §4.2): every observer on every
    /// worker thread gets it as a notification with its own token and a fresh Observe value,
    /// the first block only when the payload is larger than max_block_size (RFC 7959 §2.6). A
    /// non-2.xx response ends all observations of the resource (RFC 7641 §3.2). Observers that
    /// are still being sent an older version get the newest instead. Safe from any thread; the
    /// response is copied before this returns. False for an unknown resource or a response
    /// larger than ServerConfig::max_notification_bytes.
    bool notify(ResourceId resource, const Response& response,
                NotificationType type = NotificationType::automatic) noexcept;

    /// The bound UDP port (useful with port 0); 0 before listen().
    std::uint16_t local_port() const noexcept;
    /// The bound coaps:// port; 0 before listen() or without ServerConfig::dtls.
    std::uint16_t secure_port() const noexcept;
    /// The counters of every worker, summed. Safe from any thread; the counters are read
    /// without locking, so a total taken while running may be a few datagrams behind.
    ServerStats stats() const noexcept;
    /// The configuration the server was built with.
    const ServerConfig& config() const noexcept;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace coap
