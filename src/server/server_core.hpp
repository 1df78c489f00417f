// The sans-I/O server message layer (RFC 7252 §4, §5): datagram and time in, reply out.
// No sockets, no clock reads, no threads: one instance per worker thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "block_layer.hpp"
#include "coap/arena.hpp"
#include "coap/endpoint.hpp"
#include "coap/handler.hpp"
#include "coap/server_config.hpp"
#include "coap/time.hpp"
#include "deferred_table.hpp"
#include "echo_authority.hpp"
#include "exchange_cache.hpp"
#include "load_monitor.hpp"
#include "notification_hub.hpp"
#include "observer_table.hpp"
#include "rate_limiter.hpp"
#include "refusal.hpp"

namespace coap::detail {

/// Counters of one worker's message layer, block-wise counters included.
struct CoreStats : BlockCounters {
    std::uint64_t requests = 0;    ///< Requests handed to the handler.
    std::uint64_t duplicates = 0;  ///< Retransmitted CON answered from the cache, or NON dropped.
    std::uint64_t ignored_version = 0;   ///< Unknown version: silently ignored (§3).
    std::uint64_t format_errors = 0;     ///< Message format errors (§4.2, §4.3).
    std::uint64_t resets_sent = 0;       ///< RST for pings, malformed CON and unexpected CON.
    std::uint64_t bad_options = 0;       ///< 4.02 for unrecognized critical options (§5.4.1).
    std::uint64_t ignored = 0;           ///< ACK, RST, NON empty/response messages dropped.
    std::uint64_t handler_failures = 0;  ///< Responses that could not be encoded, sent as 5.00.
    std::uint64_t slow_handlers = 0;     ///< Handler calls longer than config.handler_warn.
    std::uint64_t handler_ns = 0;        ///< Time in handlers; only measured with handler_warn set.
    std::uint64_t echo_challenges = 0;   ///< 4.01 with an Echo value (RFC 9175 §2).
    std::uint64_t observe_refused = 0;   ///< Registrations answered without Observe: table full.
    std::uint64_t rate_limited = 0;      ///< Requests refused by the per-IP rate limit.
    std::uint64_t shed = 0;              ///< Requests refused while shedding load.
};

/// What the workers of one server share: the latest representation of every observable
/// resource, and the key of the Echo values (so that any worker accepts any worker's value).
struct SharedServerState {
    NotificationHub* hub = nullptr;           // nullptr: the core makes its own
    const EchoSecret* echo_secret = nullptr;  // nullptr: a random one
};

class ServerCore final : public RequestServices {
  public:
    /// `handler` must outlive the core. `random_seed` seeds the Message IDs the server picks
    /// (RFC 7252 §4.4 suggests a random start) and the retransmission jitter. `worker_index`
    /// names this core in DeferredResponse handles.
    /// Reads a clock; only used to time handlers when config.handler_warn is set, so the core
    /// stays free of clock reads otherwise (and tests can pass a fake one).
    using Clock = TimePoint (*)() noexcept;

    ServerCore(const ServerConfig& config, const Handler& handler, bool secure,
               std::uint64_t random_seed, std::uint32_t worker_index = 0, Clock clock = nullptr,
               SharedServerState shared = {});

    /// Handles one datagram from `peer` received at `now`. Writes the reply, if any, into `reply`
    /// (at least config.buffer_size bytes) and returns its length; 0 means send nothing.
    std::size_t on_datagram(const Endpoint& peer, Bytes datagram, TimePoint now,
                            MutableBytes reply) noexcept;

    /// The I/O layer's count of datagrams the kernel dropped on this worker's socket for want of
    /// receive-buffer space (SO_RXQ_OVFL). Load levels only rise while that count grows: a full
    /// receive ring alone is a deep queue the worker is draining, not an overload.
    void note_kernel_drops(std::uint64_t total) noexcept { kernel_drops_ = total; }

    /// Over DTLS: the PSK identity of the peer whose datagrams follow, shown to handlers as
    /// Request::psk_identity(). The caller keeps the bytes alive while it calls on_datagram.
    void set_peer_identity(std::string_view identity) noexcept { peer_identity_ = identity; }

    /// Sends answers to deferred requests and due retransmissions. Call after every batch of
    /// datagrams and at least every ~100 ms.
    void on_timers(TimePoint now, DatagramSink& out) noexcept;
    /// Any thread: the later answer to a deferred request. False for an unknown or used handle.
    bool complete(DeferredResponse handle, const Response& response) noexcept {
        return deferred_.complete(handle, response);
    }

    const CoreStats& stats() const noexcept { return stats_; }
    const ExchangeCache& exchanges() const noexcept { return exchanges_; }
    const DeferredTable& deferred() const noexcept { return deferred_; }
    const BlockTransfers& block_transfers() const noexcept { return blocks_.transfers(); }

    const ObserverTable& observers() const noexcept { return observers_; }
    LoadLevel load_level() const noexcept { return load_.level(); }
    const RateLimiter& rate_limiter() const noexcept { return rate_limiter_; }
    /// The representations notify() publishes; the core's own when none was shared.
    NotificationHub& hub() noexcept { return *hub_; }

    std::optional<DeferredResponse> defer(const Request& request) noexcept override;
    bool observe(const Request& request, ResourceId resource) noexcept override;
    bool echo_verified(const Request& request) noexcept override;

  private:
    std::size_t on_malformed(Bytes datagram, ParseError error, MutableBytes reply) noexcept;
    std::size_t on_request(const Endpoint& peer, const MessageView& request, TimePoint now,
                           MutableBytes reply) noexcept;
    std::size_t serve(const Endpoint& peer, const MessageView& request, TimePoint now,
                      MutableBytes reply) noexcept;
    std::size_t respond(const MessageView& request, const Response& response,
                        MutableBytes reply) noexcept;
    std::size_t encode_reply(const MessageView& request, const OutgoingResponse& response,
                             MutableBytes reply) noexcept;
    std::size_t reply_empty(MessageType type, std::uint16_t message_id,
                            MutableBytes reply) noexcept;
    HandlerResult call_handler(Request& request) noexcept;
    void warn_if_slow(const Request& request, Duration elapsed) noexcept;
    std::size_t answer(Request& request, BlockLayer::Plan& plan, const HandlerResult& result,
                       OutgoingResponse& out, MutableBytes reply) noexcept;
    std::uint16_t next_message_id() noexcept { return next_message_id_++; }
    void on_ack_or_reset(const Endpoint& peer, const MessageView& message) noexcept;

    // server_core_observe.cpp: RFC 7641 registrations.
    std::optional<std::uint32_t> settle_observation(const Request& request,
                                                    const BlockLayer::Plan& plan,
                                                    Code sent) noexcept;
    // server_core_overload.cpp: rate limiting and load shedding.
    bool admit(const Endpoint& peer, const MessageView& request, TimePoint now, MutableBytes reply,
               std::size_t& length) noexcept;
    void update_load(TimePoint now) noexcept;
    // server_core_echo.cpp: RFC 9175 §2.
    bool needs_fresh_echo(const Endpoint& peer, const MessageView& request) noexcept;
    bool over_amplification_limit(const Endpoint& peer, const MessageView& request,
                                  std::size_t reply_length) noexcept;
    std::size_t echo_challenge(const Endpoint& peer, const MessageView& request,
                               MutableBytes reply) noexcept;
    void add_echo(const Endpoint& peer, OutgoingResponse& out) noexcept;
    bool verify_echo(const Endpoint& peer, const MessageView& request) noexcept;

    const Handler& handler_;
    std::vector<std::uint16_t> recognized_options_;
    std::unique_ptr<std::byte[]> arena_memory_;
    Arena arena_;
    ExchangeCache exchanges_;
    DeferredTable deferred_;
    CoreStats stats_{};
    BlockLayer blocks_;  // counts into stats_
    std::unique_ptr<NotificationHub> own_hub_;
    NotificationHub* hub_;
    ObserverTable observers_;
    EchoAuthority echo_;
    std::optional<ResourceId> observe_resource_;  // the handler being called made it observable
    std::optional<bool> echo_state_;              // the request's Echo, once verified
    RateLimiter rate_limiter_;
    LoadMonitor load_;
    RefusalPolicy refusal_policy_;
    std::uint32_t batch_datagrams_ = 0;  // since the last on_timers()
    std::uint64_t kernel_drops_ = 0;     // as last reported by the I/O layer
    std::uint64_t kernel_drops_seen_ = 0;
    TimePoint overflowing_until_{};  // the kernel dropped datagrams recently
    std::uint32_t receive_buffers_;
    bool echo_required_for_unsafe_;
    bool echo_amplification_limit_;
    TimePoint now_{};                // of the datagram being handled, for defer()
    bool deferred_granted_ = false;  // the handler being called got a deferral slot
    std::uint32_t deferred_busy_max_age_;
    Duration handler_warn_;
    Response not_acceptable_ = Response::not_acceptable();
    Clock clock_;
    std::uint32_t buffer_size_;
    std::uint16_t next_message_id_;
    bool secure_;
    std::string_view peer_identity_{};
};

}  // namespace coap::detail
