// Retransmission of CON notifications (RFC 7252 §4.2 timers, RFC 7641 §4.5 and §4.5.2) on a
// timer wheel: each in-flight CON sits in the bucket of its deadline, so a poll looks only at
// the buckets whose time has come, and not at all before the earliest deadline.
#include <algorithm>
#include <cmath>

#include "observer_table.hpp"

namespace coap::detail {

namespace {

std::uint64_t ceil_ms(std::uint64_t ns) {
    return (ns + 999'999) / 1'000'000;
}

// ACK_TIMEOUT x the observer's random factor in [1, ACK_RANDOM_FACTOR], doubled for every
// retransmission so far (§4.2), in nanoseconds.
std::uint64_t timeout_ns(const TransmissionParameters& parameters, std::uint8_t jitter,
                         std::uint32_t retransmissions) {
    double factor = 1.0 + (parameters.ack_random_factor - 1.0) * jitter / 255.0;
    double ns = static_cast<double>(parameters.ack_timeout.count()) * factor *
                static_cast<double>(1ull << retransmissions);
    return static_cast<std::uint64_t>(std::ceil(ns));
}

}  // namespace

void ObserverTable::timer_start(std::uint32_t id, std::uint64_t now_ns) noexcept {
    random_state_ ^= random_state_ << 13;  // xorshift64
    random_state_ ^= random_state_ >> 7;
    random_state_ ^= random_state_ << 17;
    Observer& observer = observers_[id];
    observer.jitter = static_cast<std::uint8_t>(random_state_ >> 56);
    observer.retransmissions = 0;
    timer_link(id, ceil_ms(now_ns + timeout_ns(config_.transmission, observer.jitter, 0)));
}

void ObserverTable::timer_link(std::uint32_t id, std::uint64_t deadline_ms) noexcept {
    Observer& observer = observers_[id];
    observer.deadline_ms = static_cast<std::uint32_t>(deadline_ms);
    std::uint32_t& bucket = wheel_[bucket_of(deadline_ms)];
    observer.timer_prev = none;
    observer.timer_next = bucket;
    if (bucket != none) observers_[bucket].timer_prev = id;
    bucket = id;
    ++in_flight_;
    earliest_ms_ = std::min(earliest_ms_, deadline_ms);
}

void ObserverTable::timer_unlink(std::uint32_t id) noexcept {
    Observer& observer = observers_[id];
    // The low 32 bits of the deadline are enough: the bucket uses bits below 32.
    std::uint32_t& bucket = wheel_[bucket_of(observer.deadline_ms)];
    if (observer.timer_prev == none)
        bucket = observer.timer_next;
    else
        observers_[observer.timer_prev].timer_next = observer.timer_next;
    if (observer.timer_next != none)
        observers_[observer.timer_next].timer_prev = observer.timer_prev;
    observer.timer_prev = observer.timer_next = none;
    --in_flight_;
}

void ObserverTable::run_timers(std::uint64_t now_ns, DatagramSink& out,
                               std::uint16_t& next_message_id, std::size_t& budget) noexcept {
    std::uint64_t now_ms = now_ns / 1'000'000;
    if (in_flight_ == 0) {
        wheel_ms_ = now_ms;
        earliest_ms_ = ~0ull;
        return;
    }
    if (now_ms < earliest_ms_) return;
    std::uint64_t first = wheel_ms_ >> wheel_shift_;
    std::uint64_t last = now_ms >> wheel_shift_;
    if (last - first > (wheel_buckets - 1))
        first = last - (wheel_buckets - 1);            // one turn visits every bucket
    std::uint64_t later = (last + 1) << wheel_shift_;  // bounds the unvisited buckets
    earliest_ms_ = ~0ull;  // lowered again by timer_link for CONs rescheduled below
    auto now32 = static_cast<std::uint32_t>(now_ms);
    for (std::uint64_t tick = first; tick <= last; ++tick) {
        for (std::uint32_t id = wheel_[tick & (wheel_buckets - 1)]; id != none;) {
            std::uint32_t next = observers_[id].timer_next;
            auto left = static_cast<std::int32_t>(observers_[id].deadline_ms - now32);
            if (left > 0) {
                later = std::min(later, now_ms + static_cast<std::uint64_t>(left));
            } else if (budget == 0) {
                wheel_ms_ = tick << wheel_shift_;  // resume here next poll
                earliest_ms_ = now_ms;
                return;
            } else {
                --budget;
                retransmit(id, now_ns, out, next_message_id);
            }
            id = next;
        }
    }
    wheel_ms_ = now_ms;
    earliest_ms_ = std::min(earliest_ms_, later);
}

// A CON notification's timer expired. RFC 7641 §4.5: after the last retransmission the
// observer is removed. Otherwise the retransmission carries the newest state (§4.5.2): the same
// message (same Message ID) if the version is unchanged, else the new version under a new
// Message ID, keeping the retransmission counter and the doubled timeout. Either way Observe is
// the sequence number current now (§4.4).
void ObserverTable::retransmit(std::uint32_t id, std::uint64_t now_ns, DatagramSink& out,
                               std::uint16_t& next_message_id) noexcept {
    Observer& observer = observers_[id];
    Resource& resource = resources_[observer.resource];
    bool closing = observer.state == State::closing;
    if (observer.retransmissions >= config_.transmission.max_retransmit) {
        if (!closing) ++stats_.removed_by_timeout;
        release(id);
        return;
    }
    // A final error notification is not re-sent once the resource has moved on.
    if (closing && observer.edition != resource.edition) {
        release(id);
        return;
    }
    timer_unlink(id);
    bool supersede = observer.edition != resource.edition;
    if (supersede) {
        observer.message_id = next_message_id++;
        observer.edition = resource.edition;
        mid_owner_[observer.message_id] = id;
        ++stats_.superseded;
    }
    observer.retransmissions = (observer.retransmissions + 1) & 0x7f;
    ++stats_.retransmissions;
    std::size_t length = resource.tail.write(
        MutableBytes(datagram_.get(), config_.buffer_size), MessageType::con, observer.message_id,
        Bytes(observer.token.data(), observer.token_length), block_szx(observer), sequence_);
    if (length == 0)
        ++stats_.too_large;
    else if (!out.send(observer.peer, Bytes(datagram_.get(), length)))
        ++stats_.send_failed;  // as good as lost on the way: the timer goes on
    timer_link(id, ceil_ms(now_ns + timeout_ns(config_.transmission, observer.jitter,
                                               observer.retransmissions)));
    if (supersede && resource.tail.ends_observation()) {
        ++stats_.removed_by_error_notification;
        close(id);
    }
}

}  // namespace coap::detail
