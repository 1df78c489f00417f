// The sans-I/O server message layer (RFC 7252 §4, §5): datagram and time in, reply out.
// No sockets, no clock reads, no threads: one instance per worker thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "coap/arena.hpp"
#include "coap/endpoint.hpp"
#include "coap/handler.hpp"
#include "coap/server_config.hpp"
#include "coap/time.hpp"
#include "deferred_table.hpp"
#include "exchange_cache.hpp"

namespace coap::detail {

/// Counters of one worker's message layer.
struct CoreStats {
    std::uint64_t requests = 0;    ///< Requests handed to the handler.
    std::uint64_t duplicates = 0;  ///< Retransmitted CON answered from the cache, or NON dropped.
    std::uint64_t ignored_version = 0;   ///< Unknown version: silently ignored (§3).
    std::uint64_t format_errors = 0;     ///< Message format errors (§4.2, §4.3).
    std::uint64_t resets_sent = 0;       ///< RST for pings, malformed CON and unexpected CON.
    std::uint64_t bad_options = 0;       ///< 4.02 for unrecognized critical options (§5.4.1).
    std::uint64_t ignored = 0;           ///< ACK, RST, NON empty/response messages dropped.
    std::uint64_t handler_failures = 0;  ///< Responses that could not be encoded, sent as 5.00.
    std::uint64_t slow_handlers = 0;     ///< Handler calls longer than config.handler_warn.
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
               std::uint64_t random_seed, std::uint32_t worker_index = 0, Clock clock = nullptr);

    /// Handles one datagram from `peer` received at `now`. Writes the reply, if any, into `reply`
    /// (at least config.buffer_size bytes) and returns its length; 0 means send nothing.
    std::size_t on_datagram(const Endpoint& peer, Bytes datagram, TimePoint now,
                            MutableBytes reply) noexcept;

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

    std::optional<DeferredResponse> defer(const Request& request) noexcept override;

  private:
    std::size_t on_malformed(Bytes datagram, ParseError error, MutableBytes reply) noexcept;
    std::size_t on_request(const Endpoint& peer, const MessageView& request, TimePoint now,
                           MutableBytes reply) noexcept;
    std::size_t respond(const MessageView& request, const Response& response,
                        MutableBytes reply) noexcept;
    std::size_t reply_empty(MessageType type, std::uint16_t message_id,
                            MutableBytes reply) noexcept;
    HandlerResult call_handler(Request& request) noexcept;
    void warn_if_slow(const Request& request, Duration elapsed) noexcept;
    std::size_t answer(Request& request, const HandlerResult& result, MutableBytes reply) noexcept;
    std::uint16_t next_message_id() noexcept { return next_message_id_++; }

    const Handler& handler_;
    std::vector<std::uint16_t> recognized_options_;
    std::unique_ptr<std::byte[]> arena_memory_;
    Arena arena_;
    ExchangeCache exchanges_;
    DeferredTable deferred_;
    CoreStats stats_{};
    TimePoint now_{};                // of the datagram being handled, for defer()
    bool deferred_granted_ = false;  // the handler being called got a deferral slot
    std::uint32_t deferred_busy_max_age_;
    bool handler_takes_block1_;  // option 27 in recognized_options: uploads go to the handler
    Duration handler_warn_;
    Response not_acceptable_ = Response::not_acceptable();
    Clock clock_;
    std::uint32_t buffer_size_;
    std::uint16_t next_message_id_;
    bool secure_;
};

}  // namespace coap::detail
