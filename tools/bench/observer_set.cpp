#include "bench/observer_set.hpp"

#include <algorithm>

namespace coap::bench {

namespace {

constexpr std::uint32_t no_observe = 0xffffffff;  // outside the 24-bit Observe range
constexpr std::uint64_t second_ns = 1'000'000'000;

std::uint32_t token_value(Bytes token) noexcept {
    return (std::uint32_t{token[0]} << 24) | (std::uint32_t{token[1]} << 16) |
           (std::uint32_t{token[2]} << 8) | std::uint32_t{token[3]};
}

}  // namespace

ObserverSet::ObserverSet(std::size_t endpoints, const ObserveSettings& settings, Counters& counters,
                         std::uint64_t seed)
    : settings_(settings),
      counters_(counters),
      observers_(endpoints),
      ready_(endpoints),
      random_state_(seed | 1) {
    for (std::size_t i = 0; i < endpoints; ++i) {
        observers_[i].next_message_id = static_cast<std::uint16_t>(random());
        ready_[i] = static_cast<std::uint32_t>(i);
    }
    ready_count_ = endpoints;
    timed_.reserve(endpoints);
    backlog_.reserve(2 * endpoints);
}

std::string ObserverSet::prepare(std::span<const Option> options) {
    if (std::string error = encode_request(options, MessageType::con, 0, request_); !error.empty())
        return error;
    return encode_request(options, MessageType::non, 1, deregistration_);
}

// A GET with the URI's options and Observe (RFC 7641 §2: 0 registers, 1 deregisters), a zero
// Message ID and a 4-byte zero token, both patched in per message.
std::string ObserverSet::encode_request(std::span<const Option> options, MessageType type,
                                        std::uint8_t observe, std::vector<std::uint8_t>& out) {
    std::vector<Option> all(options.begin(), options.end());
    UintValue value(observe);
    all.push_back({OptionNumber::observe, value.bytes()});
    const std::array<std::uint8_t, 4> token{};
    Message message{type, Code::get, 0, token, all, {}};
    out.resize(encoded_size(message));
    auto encoded = encode(message, out);
    if (!encoded)
        return "cannot encode the registration: " + std::string(describe(encoded.error()));
    out.resize(*encoded);
    return {};
}

void ObserverSet::on_datagram(std::uint32_t index, Bytes datagram, std::uint64_t now,
                              DatagramOut& out) noexcept {
    auto parsed = parse(datagram);
    if (!parsed) {
        ++counters_.malformed;
        return;
    }
    const MessageView& message = *parsed;
    if (message.type() == MessageType::ack) return on_ack(index, message, now);
    if (message.type() == MessageType::rst) return on_reset(index, message, now);
    Observer& observer = observers_[index];
    if (!message.is_response()) {
        // A CoAP ping (empty CON) or a request: RST for a CON (RFC 7252 §4.2, §4.3).
        ++counters_.unexpected;
        if (message.type() == MessageType::con)
            reply(index, MessageType::rst, message.message_id(), out);
        return;
    }
    if (!token_is_current(observer, message.token())) {
        // An observation this endpoint does not hold (any more): RFC 7641 §3.5, §3.6.
        reply(index, MessageType::rst, message.message_id(), out);
        return;
    }
    // Acknowledged even when it is a duplicate (RFC 7252 §4.5, RFC 7641 §3.5).
    if (message.type() == MessageType::con)
        reply(index, MessageType::ack, message.message_id(), out);
    auto observe = message.find_uint(OptionNumber::observe);
    if (duplicate(observer, message.message_id(), observe.value_or(no_observe))) {
        ++counters_.duplicates;
        return;
    }
    on_response(index, message, observe, now);
}

// Answers to the registration: piggybacked (RFC 7252 §5.2.1) or an empty ACK, after which the
// response comes separately (§5.2.2).
void ObserverSet::on_ack(std::uint32_t index, const MessageView& message,
                         std::uint64_t now) noexcept {
    Observer& observer = observers_[index];
    const bool waiting =
        observer.state == State::registering || observer.state == State::awaiting_response;
    if (message.message_id() != observer.registration_id || !waiting) {
        // A second ACK of a retransmitted registration, or a stray one.
        if (message.message_id() == observer.registration_id)
            ++counters_.duplicates;
        else
            ++counters_.unexpected;
        return;
    }
    if (message.is_empty_message()) {
        if (observer.state == State::registering) {
            observer.state = State::awaiting_response;
            observer.deadline_ns = now + settings_.response_timeout_ns;
            ++counters_.empty_acks;
        }
        return;
    }
    if (!message.is_response() || !token_is_current(observer, message.token())) {
        ++counters_.mismatched;
        return;
    }
    on_response(index, message, message.find_uint(OptionNumber::observe), now);
}

void ObserverSet::on_reset(std::uint32_t index, const MessageView& message,
                           std::uint64_t now) noexcept {
    Observer& observer = observers_[index];
    const bool waiting =
        observer.state == State::registering || observer.state == State::awaiting_response;
    if (!waiting || message.message_id() != observer.registration_id) {
        ++counters_.unexpected;
        return;
    }
    ++counters_.rst;  // the server rejected the registration: try again later
    leave_registering(observer);
    back_off(index, now + second_ns);
}

// RFC 7641 §3.1: a 2.xx with Observe establishes the observation; after that, every such
// response is a notification.
void ObserverSet::on_response(std::uint32_t index, const MessageView& message,
                              std::optional<std::uint32_t> observe, std::uint64_t now) noexcept {
    Observer& observer = observers_[index];
    if (code_class(message.code()) != 2 || !observe) {
        end_observation(index, message, now);
        return;
    }
    if (observer.state != State::registered) {
        // The registration's answer, or a notification that overtook it.
        leave_registering(observer);
        observer.state = State::registered;
        ++registered_;
        ++counters_.registered;
        return;
    }
    ++counters_.completed;
    ++observer.notified;
    if (message.type() == MessageType::con)
        ++counters_.con_notifications;
    else
        ++counters_.non_notifications;
}

// A non-2.xx, or a 2.xx without Observe: RFC 7641 §3.2 (the observation ended) or §4.1 (the
// registration was refused, e.g. the server's list of observers is full).
void ObserverSet::end_observation(std::uint32_t index, const MessageView& message,
                                  std::uint64_t now) noexcept {
    ++counters_.non_success;
    if (code_class(message.code()) == 2)
        ++counters_.without_observe;
    else if (!first_non_success_)
        first_non_success_ = message.code();
    Observer& observer = observers_[index];
    if (observer.state == State::registered) {
        --registered_;
        enqueue(index);  // register again, with a new token
        return;
    }
    // Refused: wait for Max-Age (a 4.29 says when to come back, RFC 8516 §4), 1 to 10 s.
    leave_registering(observer);
    std::uint32_t wait_s =
        std::clamp<std::uint32_t>(message.find_uint(OptionNumber::max_age).value_or(1), 1, 10);
    back_off(index, now + wait_s * second_ns);
}

// RFC 7252 §4.5 matches duplicates by Message ID. A server whose Message ID counter is shared
// by many observers may wrap it within seconds and reuse an ID for a new notification to the
// same endpoint; the Observe value tells that apart from a retransmission.
bool ObserverSet::duplicate(Observer& observer, std::uint16_t message_id,
                            std::uint32_t observe) noexcept {
    for (std::size_t i = 0; i < observer.seen_count; ++i) {
        Seen& seen = observer.seen[i];
        if (seen.message_id != message_id) continue;
        if (seen.observe == observe) return true;
        ++counters_.reused_message_ids;
        seen.observe = observe;
        return false;
    }
    observer.seen[observer.seen_next] = {message_id, observe};
    observer.seen_next = static_cast<std::uint8_t>((observer.seen_next + 1) % history_size);
    observer.seen_count =
        static_cast<std::uint8_t>(std::min<std::size_t>(observer.seen_count + 1, history_size));
    return false;
}

bool ObserverSet::token_is_current(const Observer& observer, Bytes token) const noexcept {
    const bool held = observer.state == State::registering ||
                      observer.state == State::awaiting_response ||
                      observer.state == State::registered;
    return held && token.size() == 4 && token_value(token) == observer.token;
}

// An empty ACK or RST (RFC 7252 §4.2, §4.3): 4 bytes, the Message ID of what it answers.
void ObserverSet::reply(std::uint32_t index, MessageType type, std::uint16_t message_id,
                        DatagramOut& out) noexcept {
    Control control{
        index,
        {static_cast<std::uint8_t>(0x40 | (static_cast<unsigned>(type) << 4)), 0,
         static_cast<std::uint8_t>(message_id >> 8), static_cast<std::uint8_t>(message_id)}};
    if (type == MessageType::ack)
        ++counters_.acks_sent;
    else
        ++counters_.rst_sent;
    if (!backlog_.empty() || !out.send(index, control.bytes)) {
        if (backlog_.size() < backlog_.capacity())
            backlog_.push_back(control);
        else
            ++counters_.send_errors;  // as if lost on the way: a CON comes again
    }
}

// A request template with this endpoint's Message ID (bytes 2-3) and token (bytes 4-7).
bool ObserverSet::transmit(std::uint32_t index, std::uint16_t message_id,
                           std::vector<std::uint8_t>& request, DatagramOut& out) noexcept {
    request[2] = static_cast<std::uint8_t>(message_id >> 8);
    request[3] = static_cast<std::uint8_t>(message_id);
    for (std::size_t i = 0; i < 4; ++i)
        request[4 + i] = static_cast<std::uint8_t>(observers_[index].token >> (24 - 8 * i));
    return out.send(index, request);
}

bool ObserverSet::transmit(std::uint32_t index, DatagramOut& out) noexcept {
    return transmit(index, observers_[index].registration_id, request_, out);
}

// RFC 7641 §3.6: the observations are cancelled explicitly, so the server does not go on
// notifying (and counting) endpoints that are gone. NON: nobody waits for the answers.
std::size_t ObserverSet::deregister(std::size_t from, std::size_t count,
                                    DatagramOut& out) noexcept {
    for (; from < observers_.size() && count > 0; ++from) {
        Observer& observer = observers_[from];
        if (observer.state != State::registered) continue;
        auto index = static_cast<std::uint32_t>(from);
        if (!transmit(index, observer.next_message_id, deregistration_, out)) return from;
        ++observer.next_message_id;
        observer.state = State::queued;
        --registered_;
        --count;
    }
    return from;
}

void ObserverSet::send_due(std::uint64_t now, DatagramOut& out) noexcept {
    std::size_t flushed = 0;
    while (flushed < backlog_.size() &&
           out.send(backlog_[flushed].endpoint, backlog_[flushed].bytes))
        ++flushed;
    backlog_.erase(backlog_.begin(), backlog_.begin() + static_cast<std::ptrdiff_t>(flushed));
    while (outstanding_ < settings_.max_outstanding && ready_count_ > 0) {
        std::uint32_t index = ready_[ready_head_];
        Observer& observer = observers_[index];
        // A new Message ID and a new token for every registration (RFC 7252 §4.4, §5.3.1).
        observer.registration_id = observer.next_message_id;
        auto token = static_cast<std::uint32_t>(random());
        observer.token = token == observer.token ? token + 1 : token;
        if (!transmit(index, out)) return;  // no send slot: after the next poll
        ++observer.next_message_id;
        ready_head_ = (ready_head_ + 1) % ready_.size();
        --ready_count_;
        begin_registration(index, now);
    }
}

void ObserverSet::begin_registration(std::uint32_t index, std::uint64_t now) noexcept {
    Observer& observer = observers_[index];
    observer.state = State::registering;
    observer.retransmissions = 0;
    observer.jitter = static_cast<std::uint8_t>(random() >> 56);
    observer.deadline_ns = now + retransmission_timeout(observer, 0);
    ++outstanding_;
    ++counters_.sent;
    add_timed(index);
}

void ObserverSet::on_timers(std::uint64_t now, DatagramOut& out) noexcept {
    std::size_t kept = 0;
    for (std::uint32_t index : timed_) {
        Observer& observer = observers_[index];
        bool keep = true;
        switch (observer.state) {
            case State::registering:
                if (now < observer.deadline_ns) break;
                if (observer.retransmissions >= settings_.max_retransmit) {
                    leave_registering(observer);  // RFC 7252 §4.2: give up; start anew
                    enqueue(index);
                    keep = false;
                } else if (transmit(index, out)) {  // no send slot: the next tick
                    ++observer.retransmissions;
                    ++counters_.retransmissions;
                    observer.deadline_ns =
                        now + retransmission_timeout(observer, observer.retransmissions);
                }
                break;
            case State::awaiting_response:  // the separate response did not come
            case State::backoff:
                if (now < observer.deadline_ns) break;
                if (observer.state == State::awaiting_response) leave_registering(observer);
                enqueue(index);
                keep = false;
                break;
            default:
                keep = false;
                break;
        }
        if (keep)
            timed_[kept++] = index;
        else
            observer.timed = 0;
    }
    timed_.resize(kept);
}

void ObserverSet::enqueue(std::uint32_t index) noexcept {
    observers_[index].state = State::queued;
    ready_[(ready_head_ + ready_count_) % ready_.size()] = index;
    ++ready_count_;
}

void ObserverSet::back_off(std::uint32_t index, std::uint64_t until_ns) noexcept {
    observers_[index].state = State::backoff;
    observers_[index].deadline_ns = until_ns;
    add_timed(index);
}

void ObserverSet::add_timed(std::uint32_t index) noexcept {
    if (observers_[index].timed) return;
    observers_[index].timed = 1;
    timed_.push_back(index);
}

void ObserverSet::leave_registering(Observer& observer) noexcept {
    if (observer.state == State::registering || observer.state == State::awaiting_response)
        --outstanding_;
}

// RFC 7252 §4.2: ACK_TIMEOUT times a random factor in [1, ACK_RANDOM_FACTOR = 1.5] drawn once
// per registration, doubled for every retransmission.
std::uint64_t ObserverSet::retransmission_timeout(const Observer& observer,
                                                  std::uint32_t retransmissions) const noexcept {
    const std::uint64_t base =
        settings_.ack_timeout_ns + settings_.ack_timeout_ns * observer.jitter / 510;
    return base << std::min<std::uint32_t>(retransmissions, 20);
}

void ObserverSet::reset_spread() noexcept {
    for (Observer& observer : observers_)
        observer.notified = 0;
}

void ObserverSet::spread(RunResult& result) const {
    std::vector<std::uint32_t> counts(observers_.size());
    for (std::size_t i = 0; i < observers_.size(); ++i)
        counts[i] = observers_[i].notified;
    result.observers_notified = static_cast<std::size_t>(
        std::count_if(counts.begin(), counts.end(), [](std::uint32_t n) { return n > 0; }));
    if (counts.empty()) return;
    auto middle = counts.begin() + static_cast<std::ptrdiff_t>(counts.size() / 2);
    std::nth_element(counts.begin(), middle, counts.end());
    result.per_observer_median = *middle;
    auto [low, high] = std::minmax_element(counts.begin(), counts.end());
    result.per_observer_min = *low;
    result.per_observer_max = *high;
}

std::uint64_t ObserverSet::random() noexcept {
    random_state_ ^= random_state_ << 13;  // xorshift64
    random_state_ ^= random_state_ >> 7;
    random_state_ ^= random_state_ << 17;
    return random_state_;
}

}  // namespace coap::bench
