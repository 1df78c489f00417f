// Observe internals (RFC 7641, server side); one ObserverTable per worker thread, sans-I/O.
// Memory per observer: a 68-byte record (endpoint 24, inline token 8, resource-list and timer
// links 16, resource/version/deadline 12, Message ID, CON counter and flags 8) plus 2-4 index
// slots of 4 bytes (open addressing on (endpoint, token), >= 2x observers): 76-84 bytes.
// Per worker: mid_owner 256 KiB, timer wheel 16 KiB, per resource 2 x max_representation + 64.
// Pacing: publish bumps the hub's generation; poll() copies each changed representation once,
// builds its tail once (Observe = next_sequence()) and walks that resource's own observer list
// with a cursor, at most send_budget datagrams per poll (due retransmissions first). A newer
// version starts a new lap of the list from where the cursor is, wrapping at its end: when
// versions come faster than a round, every observer still gets one now and then (restarting
// at the head would starve the end of a long list). Observers already holding the newest
// version are passed, so none gets a version twice. No NON rate limit per client (§4.5.1): the
// publish rate is the rate. CON policy: every con_interval-th notification to an observer is CON (0
// never, 1 always). While a CON is unacknowledged the observer gets nothing new (NSTART 1); its
// retransmission carries the newest state (§4.5.2): same MID if the version is unchanged, else a
// new MID keeping the counter and doubled timeout, Observe always current (§4.4). An ACK of an
// outdated CON requeues the observer; the last timeout or any RST removes it. A non-2.xx version
// goes out without Observe and ends the observation (a CON one is retransmitted until ACK, RST or
// timeout).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "coap/endpoint.hpp"
#include "coap/observe.hpp"
#include "coap/option.hpp"
#include "coap/time.hpp"
#include "deferred_table.hpp"
#include "notification_hub.hpp"
#include "notification_tail.hpp"  // body_etag(), shared with the block layer

namespace coap::detail {

struct ObserverTableConfig {
    /// Observer records for this worker; any one resource may hold all of them.
    std::uint32_t max_observers = 1024;
    /// Resources, as in the NotificationHub.
    std::uint32_t resource_count = 16;
    /// Every con_interval-th notification to an observer is CON: 0 never (then §4.5's
    /// "a CON at least every 24 hours" is the caller's business), 1 always.
    std::uint32_t con_interval = 16;
    TransmissionParameters transmission{};
    /// Largest datagram sent; notifications that would be larger are counted and not sent.
    std::uint32_t buffer_size = 1280;
    /// The server's largest block (16-1024): larger payloads go out as their first block.
    std::uint32_t block_size = 1024;
    /// Must equal the hub's max_representation_bytes (sizes the local copies).
    std::uint32_t max_representation_bytes = 1024;
};

enum class Registration { added, refreshed, full };

class ObserverTable {
  public:
    struct Stats {
        std::uint64_t added = 0;
        std::uint64_t refreshed = 0;  ///< Same (endpoint, token) registered again (§4.1).
        std::uint64_t refused = 0;    ///< Table full (or token over 8 bytes, unknown resource).
        std::uint64_t removed_by_request = 0;  ///< remove(): GET with Observe=1 (§3.6).
        std::uint64_t removed_by_reset = 0;    ///< RST to a CON or NON notification (§4.5).
        std::uint64_t removed_by_timeout = 0;  ///< Last retransmission timed out (§4.5).
        std::uint64_t removed_by_error_notification = 0;  ///< Non-2.xx sent (§4.2).
        std::uint64_t removed_with_resource = 0;          ///< remove_all().
        std::uint64_t removed_unreachable = 0;            ///< The peer's DTLS session ended.
        std::uint64_t notifications_con = 0;  ///< First transmissions (supersedes included).
        std::uint64_t notifications_non = 0;
        std::uint64_t retransmissions = 0;
        std::uint64_t superseded = 0;   ///< Retransmissions that carried a newer version (§4.5.2).
        std::uint64_t rounds = 0;       ///< New versions picked up for resources with observers.
        std::uint64_t visited = 0;      ///< Observer records a round looked at (work done).
        std::uint64_t too_large = 0;    ///< Notifications over buffer_size, not sent.
        std::uint64_t send_failed = 0;  ///< The sink refused; retried next poll.
    };

    /// Bytes of one observer record, its inline token included (static_assert in the .cpp).
    static constexpr std::size_t record_bytes = 68;

    /// Everything is allocated here; nothing afterwards. `random_seed` drives the §4.2 jitter.
    ObserverTable(const ObserverTableConfig& config, std::uint64_t random_seed);
    ~ObserverTable();
    ObserverTable(const ObserverTable&) = delete;
    ObserverTable& operator=(const ObserverTable&) = delete;

    /// GET with Observe=0 (§4.1). An existing (endpoint, token) entry is updated in place, even
    /// if it observed another resource; its pending CON, if any, is forgotten. `block2` is the
    /// request's Block2 option: its SZX caps the block size of this observer's notifications
    /// (RFC 7959 §2.6). `full` when no record is free, the token is longer than 8 bytes or the
    /// resource is unknown: then answer without Observe (§4.1).
    Registration add(ResourceId resource, const Endpoint& peer, Bytes token,
                     std::optional<BlockValue> block2, TimePoint now) noexcept;
    /// GET with Observe=1 (§3.6, §4.1). True when an entry was removed.
    bool remove(const Endpoint& peer, Bytes token) noexcept;
    /// Forgets every observer of `resource`.
    void remove_all(ResourceId resource) noexcept;

    /// An ACK from `peer`: ends the retransmission of the CON notification with that Message
    /// ID. True when it matched this worker's latest notification to that observer.
    bool on_ack(const Endpoint& peer, std::uint16_t message_id) noexcept;
    /// An RST from `peer` to a CON or NON notification: the observer is removed (§3.6, §4.5).
    bool on_reset(const Endpoint& peer, std::uint16_t message_id) noexcept;

    /// The Observe value for a registration response about to be sent (§4.4): the 24 low bits
    /// of a worker-wide counter that also advances for every notification round, so every
    /// observer of this worker sees increasing values.
    std::uint32_t next_sequence() noexcept;

    /// After every batch: picks up new versions from `hub`, sends due retransmissions, then
    /// continues the notification rounds, sending at most `send_budget` datagrams in all.
    void poll(const NotificationHub& hub, TimePoint now, DatagramSink& out,
              std::uint16_t& next_message_id, std::size_t send_budget) noexcept;

    /// Registered observers (not counting those whose final non-2.xx CON awaits its ACK).
    std::uint32_t observers() const noexcept { return live_; }
    std::uint32_t observers(ResourceId resource) const noexcept;
    std::uint32_t capacity() const noexcept { return capacity_; }
    /// CON notifications (and final error CONs) awaiting an ACK.
    std::uint32_t in_flight() const noexcept { return in_flight_; }
    const Stats& stats() const noexcept { return stats_; }
    /// Bytes allocated at construction.
    std::size_t memory_bytes() const noexcept;

  private:
    static constexpr std::uint32_t none = 0xffffffff;
    static constexpr std::uint8_t no_szx = 7;             // the registration had no Block2 option
    static constexpr std::uint32_t wheel_buckets = 4096;  // a power of two

    enum class State : std::uint8_t { free, idle, awaiting_ack, closing };
    enum class Sent { ok, skipped, failed };

    struct Observer {
        Endpoint peer;
        std::array<std::uint8_t, 8> token{};
        std::uint32_t resource_prev = none;  // the resource's observer list
        std::uint32_t resource_next = none;  // (also the free list)
        std::uint32_t timer_prev = none;     // a timer wheel bucket, while a CON is in flight
        std::uint32_t timer_next = none;
        std::uint32_t resource = 0;
        std::uint32_t edition = 0;      // the resource's local version it was last sent
        std::uint32_t deadline_ms = 0;  // low 32 bits, compared as serial numbers
        std::uint16_t message_id = 0;   // of the latest notification
        std::uint16_t since_con = 0;    // notifications since the last CON
        std::uint8_t token_length : 4 = 0;
        std::uint8_t szx : 4 = no_szx;
        State state = State::free;
        std::uint8_t retransmissions : 7 = 0;
        std::uint8_t has_message_id : 1 = 0;
        std::uint8_t jitter = 0;  // the §4.2 random factor of this CON, 0-255
    };
    // Closing observers (their final non-2.xx CON awaits an ACK) are off the resource's list.
    struct Resource {
        NotificationTail tail;  // the notification bytes of the latest local version
        std::uint64_t hub_version = 0;
        std::uint32_t edition = 0;  // bumped for every version picked up
        std::uint32_t head = none;
        std::uint32_t last = none;
        std::uint32_t cursor = none;   // next observer of the current round (none: the head)
        std::uint32_t round_left = 0;  // visits left in the current round; 0 when idle
        std::uint32_t count = 0;
        bool queued = false;
    };
    static_assert(sizeof(Observer) == record_bytes, "update record_bytes and the comment on top");

    // observer_table.cpp: records, index, registration, ACK/RST.
    std::uint64_t key_hash(const Endpoint& peer, Bytes token) const noexcept;
    std::uint32_t find(const Endpoint& peer, Bytes token) const noexcept;
    void index_insert(std::uint32_t id) noexcept;
    void index_erase(std::uint32_t id) noexcept;
    std::uint32_t match_message(const Endpoint& peer, std::uint16_t message_id) const noexcept;
    void link_resource(std::uint32_t id) noexcept;
    void unlink_resource(std::uint32_t id) noexcept;
    void close(std::uint32_t id) noexcept;
    void release(std::uint32_t id) noexcept;
    void requeue(std::uint32_t id) noexcept;
    void enqueue(std::uint32_t resource) noexcept;

    // observer_timers.cpp: the §4.2 retransmission timers.
    void timer_start(std::uint32_t id, std::uint64_t now_ns) noexcept;
    void timer_link(std::uint32_t id, std::uint64_t deadline_ms) noexcept;
    void timer_unlink(std::uint32_t id) noexcept;
    // The low 32 bits of a deadline are enough: a bucket depends only on bits below 32.
    std::uint32_t bucket_of(std::uint64_t deadline_ms) const noexcept {
        return static_cast<std::uint32_t>(deadline_ms >> wheel_shift_) & (wheel_buckets - 1);
    }
    void run_timers(std::uint64_t now_ns, DatagramSink& out, std::uint16_t& next_message_id,
                    std::size_t& budget) noexcept;
    void retransmit(std::uint32_t id, std::uint64_t now_ns, DatagramSink& out,
                    std::uint16_t& next_message_id) noexcept;

    // observer_rounds.cpp: picking up versions and notification rounds.
    void pick_up(const NotificationHub& hub) noexcept;
    void run_rounds(std::uint64_t now_ns, DatagramSink& out, std::uint16_t& next_message_id,
                    std::size_t& budget) noexcept;
    bool run_round(Resource& resource, std::uint64_t now_ns, DatagramSink& out,
                   std::uint16_t& next_message_id, std::size_t& budget) noexcept;
    Sent notify(std::uint32_t id, std::uint64_t now_ns, DatagramSink& out,
                std::uint16_t& next_message_id) noexcept;
    std::uint8_t block_szx(const Observer& observer) const noexcept;

    ObserverTableConfig config_;
    std::unique_ptr<Observer[]> observers_;
    std::unique_ptr<Resource[]> resources_;
    std::unique_ptr<std::uint8_t[]> tail_storage_;
    std::unique_ptr<std::uint8_t[]> copy_buffer_;  // one representation, parsed at pick-up
    std::unique_ptr<std::uint8_t[]> datagram_;     // buffer_size bytes, one notification
    std::unique_ptr<std::uint32_t[]> index_;
    std::unique_ptr<std::uint32_t[]> mid_owner_;  // Message ID -> observer that last used it
    std::unique_ptr<std::uint32_t[]> wheel_;      // timer buckets
    std::unique_ptr<std::uint32_t[]> queue_;      // resources with a round in progress (ring)
    std::uint32_t capacity_;
    std::uint32_t index_mask_;
    std::uint32_t free_head_;
    std::uint32_t live_ = 0;
    std::uint32_t in_flight_ = 0;
    std::uint32_t queue_head_ = 0;
    std::uint32_t queue_size_ = 0;
    std::uint32_t wheel_shift_ = 0;
    std::uint32_t sequence_ = 0;
    std::uint8_t server_szx_;
    std::uint64_t seen_generation_ = 0;
    std::uint64_t wheel_ms_ = 0;         // timer buckets up to this time have been run
    std::uint64_t earliest_ms_ = ~0ull;  // no timer is due before this
    std::uint64_t random_state_;
    Stats stats_{};
};

}  // namespace coap::detail
