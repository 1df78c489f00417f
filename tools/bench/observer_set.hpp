// The client side of coap-bench --observe, sans-I/O: N endpoints, each holding one observation
// (RFC 7641) of the same resource. Datagrams come in with the time, replies (ACK, RST) and
// registrations go out through a DatagramOut; nothing here reads a clock or makes a system call.
//
// An endpoint's life: queued -> registering (a CON GET with Observe=0, retransmitted per RFC
// 7252 §4.2) -> registered (a 2.xx with Observe came back, RFC 7641 §3.1) -> notifications, each
// CON one acknowledged (§3.5). A notification that is not 2.xx or has no Observe ends the
// observation (§3.2): the endpoint queues again with a new token. A registration that is refused
// (non-2.xx, 2.xx without Observe, RST) is retried after a back-off. At most `max_outstanding`
// registrations are in flight, so 10,000 endpoints do not hit the server at once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bench/bench_types.hpp"
#include "coap/bytes.hpp"
#include "coap/message.hpp"

namespace coap::bench {

/// Where the observers' datagrams go (the driver: io_uring or sockets).
class DatagramOut {
  public:
    /// Sends (or queues) a copy of `datagram` from endpoint `endpoint`; false when it cannot
    /// be taken now (no send slot): the caller keeps it and tries again later.
    virtual bool send(std::uint32_t endpoint, Bytes datagram) noexcept = 0;

  protected:
    ~DatagramOut() = default;
};

struct ObserveSettings {
    std::uint64_t ack_timeout_ns = 2'000'000'000;       // RFC 7252 §4.8 ACK_TIMEOUT
    std::uint32_t max_retransmit = 4;                   // RFC 7252 §4.8 MAX_RETRANSMIT
    std::uint64_t response_timeout_ns = 2'000'000'000;  // separate response after an empty ACK
    std::uint32_t max_outstanding = 256;                // registrations in flight at once
};

class ObserverSet {
  public:
    /// `counters` is where everything is counted (the driver's, windowed by MeasureWindow).
    ObserverSet(std::size_t endpoints, const ObserveSettings& settings, Counters& counters,
                std::uint64_t seed);

    /// Encodes the registration (CON GET with `options` and Observe=0) and the deregistration
    /// (NON GET with Observe=1); an error or "".
    std::string prepare(std::span<const Option> options);

    /// A datagram that endpoint `endpoint` received.
    void on_datagram(std::uint32_t endpoint, Bytes datagram, std::uint64_t now_ns,
                     DatagramOut& out) noexcept;
    /// Retransmits registrations, gives up on them and ends back-offs that are due.
    void on_timers(std::uint64_t now_ns, DatagramOut& out) noexcept;
    /// Starts queued registrations while fewer than max_outstanding are in flight, and sends
    /// the ACKs and RSTs that found no send slot before.
    void send_due(std::uint64_t now_ns, DatagramOut& out) noexcept;

    /// At the end: sends a deregistration from up to `count` registered endpoints, starting at
    /// `from`; returns where to go on (size() when done).
    std::size_t deregister(std::size_t from, std::size_t count, DatagramOut& out) noexcept;

    std::size_t size() const noexcept { return observers_.size(); }
    /// Bytes of the encoded registration (after prepare()); the deregistration is as long or
    /// one byte longer.
    std::size_t request_size() const noexcept { return deregistration_.size(); }
    /// Endpoints whose observation is established now.
    std::size_t registered() const noexcept { return registered_; }
    /// Starts counting notifications per endpoint from zero (at the start of the window).
    void reset_spread() noexcept;
    /// How the notifications since reset_spread() are spread over the endpoints.
    void spread(RunResult& result) const;
    /// The first non-2.xx code among answers and notifications, if any.
    std::optional<Code> first_non_success() const noexcept { return first_non_success_; }

  private:
    enum class State : std::uint8_t { queued, registering, awaiting_response, registered, backoff };
    // A Message ID seen recently from the server, with the Observe value it carried.
    struct Seen {
        std::uint16_t message_id = 0;
        std::uint32_t observe = 0;
    };
    static constexpr std::size_t history_size = 4;
    struct Observer {
        std::uint64_t deadline_ns = 0;  // registering, awaiting_response, backoff
        std::uint32_t token = 0;        // of the current registration (4 bytes on the wire)
        std::uint32_t notified = 0;     // notifications since reset_spread()
        std::uint16_t next_message_id = 0;
        std::uint16_t registration_id = 0;  // Message ID of the current registration
        State state = State::queued;
        std::uint8_t retransmissions = 0;
        std::uint8_t seen_next = 0;
        std::uint8_t seen_count = 0;
        std::uint8_t jitter = 0;  // the RFC 7252 §4.2 random factor of this registration
        std::uint8_t timed = 0;   // in timed_
        std::array<Seen, history_size> seen{};
    };
    struct Control {  // an ACK or RST that found no send slot
        std::uint32_t endpoint;
        std::array<std::uint8_t, 4> bytes;
    };

    void on_ack(std::uint32_t index, const MessageView& message, std::uint64_t now) noexcept;
    void on_reset(std::uint32_t index, const MessageView& message, std::uint64_t now) noexcept;
    void on_response(std::uint32_t index, const MessageView& message,
                     std::optional<std::uint32_t> observe, std::uint64_t now) noexcept;
    void end_observation(std::uint32_t index, const MessageView& message,
                         std::uint64_t now) noexcept;
    bool duplicate(Observer& observer, std::uint16_t message_id, std::uint32_t observe) noexcept;
    bool token_is_current(const Observer& observer, Bytes token) const noexcept;
    void reply(std::uint32_t index, MessageType type, std::uint16_t message_id,
               DatagramOut& out) noexcept;
    static std::string encode_request(std::span<const Option> options, MessageType type,
                                      std::uint8_t observe, std::vector<std::uint8_t>& out);
    bool transmit(std::uint32_t index, std::uint16_t message_id, std::vector<std::uint8_t>& request,
                  DatagramOut& out) noexcept;
    bool transmit(std::uint32_t index, DatagramOut& out) noexcept;
    void begin_registration(std::uint32_t index, std::uint64_t now) noexcept;
    void enqueue(std::uint32_t index) noexcept;
    void back_off(std::uint32_t index, std::uint64_t until_ns) noexcept;
    void add_timed(std::uint32_t index) noexcept;
    void leave_registering(Observer& observer) noexcept;
    std::uint64_t retransmission_timeout(const Observer& observer,
                                         std::uint32_t retransmissions) const noexcept;
    std::uint64_t random() noexcept;

    ObserveSettings settings_;
    Counters& counters_;
    std::vector<Observer> observers_;
    std::vector<std::uint8_t> request_;         // the registration, Message ID and token patched in
    std::vector<std::uint8_t> deregistration_;  // likewise
    std::vector<std::uint32_t> ready_;          // queued endpoints, a ring
    std::size_t ready_head_ = 0;
    std::size_t ready_count_ = 0;
    std::vector<std::uint32_t> timed_;  // endpoints with a deadline (not queued/registered)
    std::vector<Control> backlog_;      // replies waiting for a send slot
    std::size_t outstanding_ = 0;       // registering or awaiting_response
    std::size_t registered_ = 0;
    std::optional<Code> first_non_success_;
    std::uint64_t random_state_;
};

}  // namespace coap::bench
