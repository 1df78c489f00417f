// Separate responses (RFC 7252 §5.2.2): requests a handler answers later, possibly from another
// thread, and the CON retransmission of those answers (§4.2). Sans-I/O: time is passed in and
// datagrams leave through a DatagramSink. Memory is fixed at construction.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "coap/deferred.hpp"
#include "coap/endpoint.hpp"
#include "coap/message.hpp"
#include "coap/response.hpp"
#include "coap/time.hpp"

namespace coap::detail {

/// RFC 7252 §4.8 transmission parameters.
struct TransmissionParameters {
    Duration ack_timeout = std::chrono::seconds(2);
    double ack_random_factor = 1.5;
    std::uint32_t max_retransmit = 4;
};

/// Where the core puts datagrams it sends on its own.
class DatagramSink {
  public:
    virtual bool send(const Endpoint& peer, Bytes datagram) noexcept = 0;
    /// Datagrams that can be sent right now; notification rounds pace themselves by it.
    virtual std::size_t available() const noexcept { return SIZE_MAX; }
    /// False when nothing can reach `peer` any more: over DTLS, its session has ended (RFC 7252
    /// §9.1: the CoAP state of a coaps:// peer lives in its session). Observers of it are
    /// dropped instead of being notified.
    virtual bool reachable([[maybe_unused]] const Endpoint& peer) const noexcept { return true; }

  protected:
    ~DatagramSink() = default;
};

class DeferredTable {
  public:
    struct Stats {
        std::uint64_t opened = 0;
        std::uint64_t refused = 0;  ///< No free slot.
        std::uint64_t sent = 0;     ///< Separate responses sent (first transmission).
        std::uint64_t retransmitted = 0;
        std::uint64_t acknowledged = 0;
        std::uint64_t reset = 0;
        std::uint64_t gave_up = 0;    ///< No ACK after max_retransmit retransmissions.
        std::uint64_t abandoned = 0;  ///< The handler never answered within the timeout.
    };

    /// `slots` concurrent deferrals for worker `worker_index`, each holding one response of up to
    /// `buffer_size` bytes. Unanswered deferrals are reclaimed after `answer_timeout`.
    DeferredTable(std::uint32_t worker_index, std::uint32_t slots, std::uint32_t buffer_size,
                  TransmissionParameters parameters, Duration answer_timeout,
                  std::uint64_t random_seed);
    ~DeferredTable();

    /// Worker thread: reserves a slot for `request` from `peer`; nullopt when all are busy.
    std::optional<DeferredResponse> open(const Endpoint& peer, const MessageView& request,
                                         TimePoint now) noexcept;
    /// Any thread: encodes the answer into the slot. False for a stale or already answered handle.
    /// A response that cannot be encoded is replaced by 5.00.
    bool complete(DeferredResponse handle, const Response& response) noexcept;
    /// Worker thread: sends completed answers and due retransmissions; reclaims expired slots.
    void poll(TimePoint now, DatagramSink& out, std::uint16_t& next_message_id) noexcept;
    /// Worker thread: an ACK or RST from `peer`; true when it matched a separate response.
    bool on_ack_or_reset(const Endpoint& peer, std::uint16_t message_id, bool reset) noexcept;

    std::uint32_t capacity() const noexcept { return count_; }
    std::uint32_t in_use() const noexcept;
    const Stats& stats() const noexcept { return stats_; }

  private:
    enum State : std::uint32_t { free_slot, waiting, filling, ready, awaiting_ack };
    struct Slot;

    bool transition(Slot& slot, std::uint32_t generation, State from, State to) noexcept;
    void release(Slot& slot) noexcept;
    void transmit(Slot& slot, TimePoint now, DatagramSink& out,
                  std::uint16_t& next_message_id) noexcept;
    void check_timer(Slot& slot, TimePoint now, DatagramSink& out) noexcept;
    Duration initial_timeout() noexcept;

    std::unique_ptr<Slot[]> slots_;
    std::unique_ptr<std::uint8_t[]> buffers_;
    std::uint32_t worker_index_;
    std::uint32_t count_;
    std::uint32_t buffer_size_;
    TransmissionParameters parameters_;
    Duration answer_timeout_;
    std::uint64_t random_state_;
    std::atomic<std::uint32_t> ready_count_{0};
    std::uint32_t active_count_ = 0;  // slots not free, counted by the worker thread
    Stats stats_{};
};

}  // namespace coap::detail
