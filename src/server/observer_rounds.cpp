// Notification rounds (RFC 7641 §4.2, §4.5): new versions are picked up from the hub once per
// worker, and a cursor per resource walks that resource's observers, a send budget at a time.
#include <algorithm>
#include <chrono>

#include "observer_table.hpp"

namespace coap::detail {

namespace {

std::uint64_t nanoseconds_of(TimePoint now) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    return ns < 0 ? 0 : static_cast<std::uint64_t>(ns);
}

}  // namespace

void ObserverTable::poll(const NotificationHub& hub, TimePoint now, DatagramSink& out,
                         std::uint16_t& next_message_id, std::size_t send_budget) noexcept {
    std::uint64_t now_ns = nanoseconds_of(now);
    pick_up(hub);  // first, so that retransmissions below already carry the newest state
    std::size_t budget = send_budget;
    run_timers(now_ns, out, next_message_id, budget);
    if (budget != 0 && queue_size_ != 0) run_rounds(now_ns, out, next_message_id, budget);
}

// One atomic load when nothing was published; otherwise one look at every resource's version.
void ObserverTable::pick_up(const NotificationHub& hub) noexcept {
    std::uint64_t generation = hub.generation();
    if (generation == seen_generation_) return;
    seen_generation_ = generation;
    std::uint32_t count = std::min(config_.resource_count, hub.resource_count());
    for (std::uint32_t r = 0; r < count; ++r) {
        Resource& resource = resources_[r];
        std::uint64_t version = hub.version(ResourceId{r});
        if (version == resource.hub_version) continue;
        if (resource.count == 0) {
            // Nobody to notify: skip the copy. Later observers register with this state.
            resource.hub_version = version;
            continue;
        }
        std::size_t length = 0;
        version = hub.copy_latest(
            ResourceId{r}, MutableBytes(copy_buffer_.get(), config_.max_representation_bytes),
            length);
        if (version == 0) continue;  // larger than max_representation_bytes: misconfigured
        resource.hub_version = version;
        if (!resource.tail.build(Bytes(copy_buffer_.get(), length), next_sequence())) continue;
        ++resource.edition;
        ++stats_.rounds;
        // RFC 7641 §4.5.2 lets observers skip versions, not all of them: go on from where the
        // round is, once round the list.
        if (resource.round_left == 0) resource.cursor = resource.head;
        resource.round_left = resource.count;
        enqueue(r);
    }
}

// Resources take turns: one whose round is cut short by the budget goes to the back.
void ObserverTable::run_rounds(std::uint64_t now_ns, DatagramSink& out,
                               std::uint16_t& next_message_id, std::size_t& budget) noexcept {
    for (std::uint32_t turns = queue_size_; turns != 0 && budget != 0; --turns) {
        std::uint32_t r = queue_[queue_head_];
        queue_head_ = (queue_head_ + 1) % config_.resource_count;
        --queue_size_;
        resources_[r].queued = false;
        if (!run_round(resources_[r], now_ns, out, next_message_id, budget)) enqueue(r);
    }
}

// True when the round is over. Observers that already have this version, or whose CON is
// still outstanding (NSTART 1, §4.5.1), are passed by: the latter get the newest state with
// their retransmission, or are requeued when the ACK comes.
bool ObserverTable::run_round(Resource& resource, std::uint64_t now_ns, DatagramSink& out,
                              std::uint16_t& next_message_id, std::size_t& budget) noexcept {
    while (resource.round_left != 0) {
        if (resource.cursor == none) resource.cursor = resource.head;  // wrap round
        if (resource.cursor == none) break;                            // nobody left
        std::uint32_t id = resource.cursor;
        const Observer& observer = observers_[id];
        bool wanted = observer.edition != resource.edition && observer.state == State::idle;
        if (wanted && budget == 0) return false;
        ++stats_.visited;
        resource.cursor = observer.resource_next;
        --resource.round_left;
        if (!wanted) continue;
        Sent sent = notify(id, now_ns, out, next_message_id);
        if (sent == Sent::failed) {
            resource.cursor = id;  // the sink is full: this observer is next, next poll
            ++resource.round_left;
            budget = 0;
            return false;
        }
        if (sent == Sent::ok) --budget;
    }
    resource.round_left = 0;
    return true;
}

std::uint8_t ObserverTable::block_szx(const Observer& observer) const noexcept {
    return observer.szx == no_szx ? server_szx_ : std::min(observer.szx, server_szx_);
}

// One new notification: header and token, then the round's shared tail.
ObserverTable::Sent ObserverTable::notify(std::uint32_t id, std::uint64_t now_ns, DatagramSink& out,
                                          std::uint16_t& next_message_id) noexcept {
    Observer& observer = observers_[id];
    if (!out.reachable(observer.peer)) {
        ++stats_.removed_unreachable;
        release(id);  // the round's cursor has already moved past it
        return Sent::skipped;
    }
    Resource& resource = resources_[observer.resource];
    // The notification that ends an observation (non-2.xx, RFC 7641 §3.2) is always CON: lost
    // as a NON, the client would go on waiting for notifications until Max-Age ran out (§3.3.1).
    bool con = resource.tail.confirmable() || resource.tail.ends_observation() ||
               (config_.con_interval != 0 && observer.since_con + 1u >= config_.con_interval);
    std::uint16_t message_id = next_message_id;
    std::size_t length = resource.tail.write(MutableBytes(datagram_.get(), config_.buffer_size),
                                             con ? MessageType::con : MessageType::non, message_id,
                                             Bytes(observer.token.data(), observer.token_length),
                                             block_szx(observer));
    if (length == 0) {
        ++stats_.too_large;
        observer.edition = resource.edition;  // not for this version, then
        return Sent::skipped;
    }
    if (!out.send(observer.peer, Bytes(datagram_.get(), length))) {
        ++stats_.send_failed;
        return Sent::failed;
    }
    ++next_message_id;
    observer.message_id = message_id;
    observer.has_message_id = 1;
    mid_owner_[message_id] = id;  // for RST to NON as well as CON (§4.5)
    observer.edition = resource.edition;
    if (con) {
        ++stats_.notifications_con;
        observer.since_con = 0;
        observer.state = State::awaiting_ack;
        timer_start(id, now_ns);
    } else {
        ++stats_.notifications_non;
        if (observer.since_con != 0xffff) ++observer.since_con;
    }
    if (resource.tail.ends_observation()) {
        // §3.2, §4.2: the non-2.xx notification ends the observation.
        ++stats_.removed_by_error_notification;
        if (con)
            close(id);
        else
            release(id);
    }
    return Sent::ok;
}

}  // namespace coap::detail
