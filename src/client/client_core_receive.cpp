// The client engine's receive side: RFC 7252 §4.2, §4.3 (ACK, RST, rejecting), §4.5
// (duplicates), §5.2 (piggybacked and separate responses), §5.3.2 (token matching); RFC 9175
// §2.3 (Echo retry).
#include "client_core.hpp"

#include <algorithm>

namespace coap::detail {

void ClientCore::on_datagram(Bytes datagram, TimePoint now) {
    auto message = parse(datagram);
    if (!message) {
        // §4.2: a malformed CON is rejected with RST; anything else malformed is ignored.
        auto header = peek_header(datagram);
        if (header && header->version == protocol_version && header->type == MessageType::con &&
            message.error() != ParseError::bad_version)
            send_empty(MessageType::rst, header->message_id);
        return;
    }
    switch (message->type()) {
        case MessageType::rst: {
            // §4.2: a Reset that is not Empty is rejected by ignoring it. §4.4: a Reset matches
            // the CON or NON message with its Message ID.
            if (!message->is_empty_message()) return;
            if (Exchange* exchange = find_by_message_id(message->message_id(), true))
                complete(*exchange, ClientError::reset, now);
            return;
        }
        case MessageType::ack: {
            // §4.2: an ACK carrying a request or a code of a reserved class is rejected, that is
            // silently ignored.
            if (!message->is_empty_message() && !message->is_response()) return;
            Exchange* exchange = find_by_message_id(message->message_id());
            if (exchange == nullptr) return;  // a late or duplicate ACK
            server_answered_ = true;
            if (message->is_empty_message()) {
                // §5.2.2: the response will come separately; stop retransmitting.
                exchange->state = State::awaiting_response;
                exchange->deadline = now + config_.response_timeout;
                start_queued(now);  // §4.7: the server answered, NSTART opens
                return;
            }
            if (!std::ranges::equal(message->token(), wire_token(*exchange))) {
                complete(*exchange, ClientError::malformed_response, now);
                return;
            }
            handle_response(*exchange, *message, now);
            return;
        }
        case MessageType::con:
        case MessageType::non:
            break;
    }
    if (!message->is_response()) {
        // Requests and pings to a client are rejected (§4.2, §4.3).
        if (message->type() == MessageType::con)
            send_empty(MessageType::rst, message->message_id());
        return;
    }
    // §4.5: a duplicate is acknowledged again (CON) or ignored (NON) but processed only once.
    // This comes before token matching: the token may already belong to the exchange's next
    // request (the next block, an Echo retry), which the old response must not answer.
    if (seen(message->message_id(), message->type())) {
        if (message->type() == MessageType::con)
            send_empty(MessageType::ack, message->message_id());
        return;
    }
    Exchange* exchange = find_by_token(message->token());
    if (exchange == nullptr) {
        // §5.3.2, §4.2, §4.3: an unexpected response is rejected with RST (CON, and NON too).
        send_empty(MessageType::rst, message->message_id());
        return;
    }
    if (message->type() == MessageType::con)
        send_empty(MessageType::ack, message->message_id());  // §4.2: acknowledge the CON
    remember(message->message_id(), message->type());
    server_answered_ = true;
    handle_response(*exchange, *message, now);
}

bool ClientCore::seen(std::uint16_t message_id, MessageType type) const noexcept {
    return std::any_of(
        seen_.begin(), seen_.begin() + static_cast<std::ptrdiff_t>(seen_count_),
        [&](const SeenMessage& m) { return m.message_id == message_id && m.type == type; });
}

void ClientCore::remember(std::uint16_t message_id, MessageType type) noexcept {
    seen_[seen_next_] = SeenMessage{message_id, type};
    seen_next_ = (seen_next_ + 1) % seen_.size();
    seen_count_ = std::min(seen_count_ + 1, seen_.size());
}

void ClientCore::handle_response(Exchange& exchange, const MessageView& response, TimePoint now) {
    if (exchange.observe) {
        if (exchange.fetching && std::ranges::equal(response.token(), wire_token(exchange)))
            continue_fetch(exchange, response, now);
        else
            handle_notification(exchange, response, now);
        return;
    }
    // RFC 9175 §2.3: a 4.01 with Echo asks for a fresh request carrying that Echo value.
    if (response.code() == Code::unauthorized && !exchange.echo_retried) {
        if (auto echo = response.find(OptionNumber::echo)) {
            exchange.echo.assign(echo->value.begin(), echo->value.end());
            exchange.echo_retried = true;
            transmit(exchange, now);
            return;
        }
    }
    if (exchange.block1 && continue_upload(exchange, response, now)) return;
    if (continue_download(exchange, response, now)) return;
    if (exchange.state != State::free) complete_with(exchange, response, now);
}

void ClientCore::complete_with(Exchange& exchange, const MessageView& response, TimePoint now) {
    if (exchange.observe) {  // the final answer to a block-wise fetch (RFC 7959 §2.6)
        end_observation(exchange, response.datagram(), std::nullopt, now);
        return;
    }
    bool reassembled =
        exchange.block2 && is_success(response.code()) && response.has(OptionNumber::block2);
    std::optional<Bytes> body;
    if (reassembled) body = Bytes(exchange.received);
    // Copied into a fixed completion slot: the receive buffer is reused for the next datagram.
    completions_.push_response(exchange.handle, response.datagram(), body);
    release(exchange, now);
}

}  // namespace coap::detail
