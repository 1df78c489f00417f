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
};

class ServerCore {
  public:
    /// `handler` must outlive the core. `initial_message_id` seeds the IDs of NON responses
    /// (RFC 7252 §4.4 suggests a random start).
    ServerCore(const ServerConfig& config, const Handler& handler, bool secure,
               std::uint16_t initial_message_id);

    /// Handles one datagram from `peer` received at `now`. Writes the reply, if any, into `reply`
    /// (at least config.buffer_size bytes) and returns its length; 0 means send nothing.
    std::size_t on_datagram(const Endpoint& peer, Bytes datagram, TimePoint now,
                            MutableBytes reply) noexcept;

    const CoreStats& stats() const noexcept { return stats_; }
    const ExchangeCache& exchanges() const noexcept { return exchanges_; }

  private:
    std::size_t on_malformed(Bytes datagram, ParseError error, MutableBytes reply) noexcept;
    std::size_t on_request(const Endpoint& peer, const MessageView& request, TimePoint now,
                           MutableBytes reply) noexcept;
    std::size_t respond(const MessageView& request, const Response& response,
                        MutableBytes reply) noexcept;
    std::size_t reply_empty(MessageType type, std::uint16_t message_id,
                            MutableBytes reply) noexcept;
    HandlerResult call_handler(const Endpoint& peer, const MessageView& request) noexcept;
    std::uint16_t next_message_id() noexcept { return next_message_id_++; }

    const Handler& handler_;
    std::vector<std::uint16_t> recognized_options_;
    std::unique_ptr<std::byte[]> arena_memory_;
    Arena arena_;
    ExchangeCache exchanges_;
    CoreStats stats_{};
    std::uint32_t buffer_size_;
    std::uint16_t next_message_id_;
    bool secure_;
};

}  // namespace coap::detail
