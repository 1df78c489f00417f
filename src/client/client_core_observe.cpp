// The client engine's observations (RFC 7641) and their block-wise notifications (RFC 7959
// §2.6).
#include "client_core.hpp"

#include <algorithm>

namespace coap::detail {

namespace {

// RFC 7641 §3.4: is sequence number v2 (received at t2) newer than v1 (received at t1)?
bool fresher(std::uint32_t v1, TimePoint t1, std::uint32_t v2, TimePoint t2) {
    constexpr std::uint32_t half = 1u << 23;
    return (v1 < v2 && v2 - v1 < half) || (v1 > v2 && v1 - v2 > half) ||
           t2 > t1 + std::chrono::seconds(128);
}

// What a notification's Block2 option says (RFC 7959 §2.6): nothing (none, or NUM 0 without M:
// the payload is the whole representation), the first of several blocks (NUM 0, M set, a
// payload of exactly the block size, §2.2), or something no transfer can start from.
enum class BlockKind : std::uint8_t { whole, first_of_several, unusable };

BlockKind block_kind(const MessageView& response) {
    auto option = response.find(OptionNumber::block2);
    if (!option) return BlockKind::whole;
    auto block = decode_block(option->value);
    if (!block || block->num != 0) return BlockKind::unusable;
    if (!block->more) return BlockKind::whole;
    return response.payload().size() == block->size() ? BlockKind::first_of_several
                                                      : BlockKind::unusable;
}

}  // namespace

void ClientCore::handle_notification(Exchange& exchange, const MessageView& response,
                                     TimePoint now) {
    auto sequence = response.find_uint(OptionNumber::observe);
    BlockKind block = block_kind(response);
    if (exchange.deregistering || !is_success(response.code()) || !sequence) {
        // RFC 7641 §3.2: a response without Observe, or an error, ends the observation; so
        // does the answer to a deregistration (§3.6). A plain response that is the first block
        // of a larger body (the server does not observe) is completed first (RFC 7959 §2.4).
        bool fetch_rest = !exchange.deregistering && is_success(response.code()) && !sequence &&
                          block == BlockKind::first_of_several;
        if (fetch_rest) {
            abandon_fetch(exchange);
            prepare_fetch(exchange, response, true, now);
            return;
        }
        end_observation(exchange, response.datagram(), std::nullopt, now);
        return;
    }
    if (exchange.registered &&
        !fresher(exchange.last_sequence, exchange.last_notification, *sequence, now))
        return;  // §3.4: an older notification arriving late
    // RFC 7959 §2.6: a notification carries the first block; another one cannot be completed.
    if (block == BlockKind::unusable) return;
    abandon_fetch(exchange);  // §3.4: the newest notification wins
    exchange.registered = true;
    exchange.last_sequence = *sequence;
    exchange.last_notification = now;
    exchange.state = State::observing;
    if (block == BlockKind::first_of_several) {
        prepare_fetch(exchange, response, false, now);
        return;
    }
    notifications_.push(exchange.handle, response.datagram(), std::nullopt, false);
    start_queued(now);  // an established observation no longer counts against NSTART
}

void ClientCore::end_observation(Exchange& exchange, Bytes datagram,
                                 std::optional<ClientError> error, TimePoint now) {
    notifications_.push(exchange.handle, datagram, error, true);
    exchange.state = State::free;
    exchange.fetching = false;
    --active_;
    start_queued(now);
}

// RFC 7959 §2.6: "The client retrieves the rest of the representation as if it had caused this
// first response by a GET request". The follow-ups wait for NSTART like any request.
void ClientCore::prepare_fetch(Exchange& exchange, const MessageView& first, bool ends,
                               TimePoint now) {
    if (first.payload().size() > config_.max_body_size) {
        complete(exchange, ClientError::too_large, now);
        return;
    }
    auto block = decode_block(first.find(OptionNumber::block2)->value);  // checked by block_kind
    exchange.first_block.assign(first.datagram().begin(), first.datagram().end());
    exchange.received.assign(first.payload().begin(), first.payload().end());
    remember_etag(exchange, first);
    exchange.block2 = true;
    exchange.block2_szx = std::min(block->szx, config_.block_szx);  // late negotiation, §2.4
    exchange.block1 = false;
    exchange.fetch_ends = ends;
    exchange.state = State::fetch_waiting;
    start_queued(now);
}

void ClientCore::start_fetch(Exchange& exchange, TimePoint now) {
    if (exchange.deregistering) {  // a deregistration that waited for NSTART (RFC 7252 §4.7)
        transmit(exchange, now);   // the observation's token, Observe = 1
        return;
    }
    // A fresh token per notification: late answers to an abandoned fetch match nothing (§3.4
    // of RFC 7959: the follow-ups cannot use the observation's token). Every block of one
    // fetch shares it, like any Block2 transfer.
    draw_token(exchange.fetch_token);
    exchange.fetching = true;
    transmit(exchange, now);
}

void ClientCore::continue_fetch(Exchange& exchange, const MessageView& response, TimePoint now) {
    if (continue_download(exchange, response, now)) return;  // next block asked, or ended
    if (is_success(response.code())) {
        finish_fetch(exchange, now);
    } else if (exchange.fetch_ends) {
        complete_with(exchange, response, now);  // the final response: handed over, as for GET
    } else {
        // The representation the notification announced cannot be had any more (it shrank,
        // the server is busy, ...). The observation itself is ended by notifications (RFC 7641
        // §3.2), e.g. a 4.04 one: drop this notification and wait for the next.
        drop_fetch(exchange, now);
    }
}

void ClientCore::finish_fetch(Exchange& exchange, TimePoint now) {
    auto first = parse(exchange.first_block);
    if (!first) {
        complete(exchange, ClientError::malformed_response, now);
        return;
    }
    bool last = exchange.fetch_ends;
    std::size_t capacity = exchange.first_block.size() + exchange.received.size() + 1;
    notifications_.push_with(exchange.handle, capacity, std::nullopt, last, [&](MutableBytes out) {
        // RFC 7959 §2.6: the first block's header and options (Observe, ETag, Content-Format,
        // ...) without Block2, and the whole representation as its payload.
        return write_reassembled(out, *first, exchange.received).value_or(0);
    });
    exchange.fetching = false;
    exchange.block2 = false;
    if (last) {
        exchange.state = State::free;
        --active_;
    } else {
        exchange.state = State::observing;
    }
    start_queued(now);
}

void ClientCore::abandon_fetch(Exchange& exchange) noexcept {
    if (!exchange.fetching && exchange.state != State::fetch_waiting) return;
    ++notifications_abandoned_;
    exchange.fetching = false;  // its token is forgotten: late answers get RST (§5.3.2)
    exchange.block2 = false;
}

// The notification being fetched is given up; the observation goes on. A final response (the
// server does not observe) has nothing to wait for: it fails like a GET's transfer.
void ClientCore::drop_fetch(Exchange& exchange, TimePoint now) {
    abandon_fetch(exchange);
    if (exchange.fetch_ends) {
        complete(exchange, ClientError::inconsistent_blocks, now);
        return;
    }
    exchange.state = State::observing;
    start_queued(now);
}

bool ClientCore::cancel_observation(RequestHandle id, TimePoint now) {
    for (Exchange& exchange : exchanges_) {
        if (exchange.state == State::free || !exchange.observe || exchange.handle != id) continue;
        bool registered_fetch = exchange.fetching && !exchange.fetch_ends;
        switch (exchange.state) {
            case State::queued:  // never sent: nothing to deregister
                exchange.state = State::free;
                --active_;
                return false;
            case State::observing:
            case State::fetch_waiting:
                if (exchange.deregistering) return true;  // already waiting for NSTART
                // RFC 7252 §4.7: the deregistration is one more request in flight, which an
                // established observation is not: it waits for NSTART like the rest of a
                // notification (start_queued sends it first, through start_fetch).
                exchange.fetching = false;
                exchange.block2 = false;
                exchange.deregistering = true;
                exchange.state = State::fetch_waiting;
                start_queued(now);
                return true;
            default:
                if (registered_fetch) break;  // the rest of a notification is no longer wanted
                // The registration (or a deregistration) is in flight: its answer ends the
                // observation, and RFC 7641 §3.6 lets the client reject later notifications
                // with RST rather than leave an observation nobody reads. So does the answer
                // completing a final, block-wise response.
                exchange.deregistering = true;
                return true;
        }
        // The follow-up GET in flight gives its NSTART slot to the deregistration.
        exchange.fetching = false;
        exchange.block2 = false;
        exchange.deregistering = true;
        transmit(exchange, now);  // same token, new Message ID
        return true;
    }
    return false;
}

std::optional<Notification> ClientCore::pop_notification(RequestHandle id) {
    auto queued = notifications_.take(id);
    if (!queued) return std::nullopt;
    if (queued->has_error) return Notification{unexpected(queued->error), queued->last};
    Bytes bytes = notifications_.bytes(*queued);
    std::vector<std::uint8_t> datagram(bytes.begin(), bytes.end());
    return Notification{ClientResponse(std::move(datagram), {}, false), queued->last};
}

std::optional<ClientCore::NotificationCopy> ClientCore::pop_notification_into(RequestHandle id,
                                                                              MutableBytes buffer) {
    auto queued = notifications_.take(id);
    if (!queued) return std::nullopt;
    if (queued->has_error) return NotificationCopy{unexpected(queued->error), queued->last};
    if (queued->length > buffer.size())
        return NotificationCopy{unexpected(ClientError::too_large), queued->last};
    Bytes bytes = notifications_.bytes(*queued);
    std::copy(bytes.begin(), bytes.end(), buffer.begin());
    return NotificationCopy{bytes.size(), queued->last};
}

bool ClientCore::observation_open(RequestHandle id) const noexcept {
    if (notifications_.has(id)) return true;
    return std::any_of(exchanges_.begin(), exchanges_.end(), [id](const Exchange& exchange) {
        return exchange.state != State::free && exchange.observe && exchange.handle == id;
    });
}

}  // namespace coap::detail
