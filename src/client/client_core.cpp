// The client engine: RFC 7252 §4.2 (CON retransmission), §4.3 (NON), §4.7 (NSTART), §5.2
// (piggybacked and separate responses), §5.3.2 (token matching); RFC 7959 §2.4, §2.5 (Block2
// and Block1); RFC 9175 §2.3 (Echo retry).
#include "client_core.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace coap::detail {

namespace {

constexpr std::size_t max_extra_options = 7;

// The caller's options merged with the engine's own (Block1, Block2, Size1, Echo), in order.
struct ExtraOptions {
    std::array<Option, max_extra_options> items{};
    std::size_t count = 0;
    void add(OptionNumber number, Bytes value) { items[count++] = Option{number, value}; }
    void sort() {  // insertion sort: a handful of items
        for (std::size_t i = 1; i < count; ++i)
            for (std::size_t j = i; j > 0 && to_int(items[j].number) < to_int(items[j - 1].number);
                 --j)
                std::swap(items[j], items[j - 1]);
    }
};

bool engine_option(OptionNumber number) {
    return number == OptionNumber::block1 || number == OptionNumber::block2 ||
           number == OptionNumber::size1 || number == OptionNumber::echo ||
           number == OptionNumber::observe;
}

// RFC 7641 §3.4: is sequence number v2 (received at t2) newer than v1 (received at t1)?
bool fresher(std::uint32_t v1, TimePoint t1, std::uint32_t v2, TimePoint t2) {
    constexpr std::uint32_t half = 1u << 23;
    return (v1 < v2 && v2 - v1 < half) || (v1 > v2 && v1 - v2 > half) ||
           t2 > t1 + std::chrono::seconds(128);
}

}  // namespace

ClientCore::ClientCore(const ClientConfig& config, std::uint64_t random_seed)
    : config_(config),
      exchanges_(std::size_t{config.max_in_flight} * 2),
      outgoing_(std::size_t{config.max_in_flight} * 2 + 32),
      outgoing_length_(outgoing_.size()),
      random_state_(random_seed | 1),
      next_message_id_(static_cast<std::uint16_t>(random_seed >> 24)) {
    for (Exchange& exchange : exchanges_) {
        exchange.base.reserve(config.buffer_size);
        exchange.datagram.reserve(config.buffer_size);
    }
    for (auto& buffer : outgoing_)
        buffer.resize(config.buffer_size);
    std::uint32_t slots = std::max<std::uint32_t>(1, config.max_queued_notifications);
    notification_slots_.resize(slots);
    notifications_.reserve(slots);
    free_notification_slots_.reserve(slots);
    for (std::uint32_t i = 0; i < slots; ++i) {
        notification_slots_[i].resize(config.buffer_size);
        free_notification_slots_.push_back(slots - 1 - i);
    }
}

std::uint64_t ClientCore::next_random() noexcept {
    random_state_ ^= random_state_ << 13;
    random_state_ ^= random_state_ >> 7;
    random_state_ ^= random_state_ << 17;
    return random_state_;
}

Duration ClientCore::initial_timeout() noexcept {
    // RFC 7252 §4.2: a random duration between ACK_TIMEOUT and ACK_TIMEOUT * ACK_RANDOM_FACTOR.
    double unit = static_cast<double>(next_random() >> 11) / static_cast<double>(1ull << 53);
    double factor = 1.0 + unit * (config_.ack_random_factor - 1.0);
    return std::chrono::duration_cast<Duration>(config_.ack_timeout * factor);
}

void ClientCore::new_token(Exchange& exchange) noexcept {
    // RFC 7252 §5.3.1: tokens distinguish concurrent requests; random ones also resist spoofing.
    // The exchange is still queued here, so find_by_token only sees the others.
    if (exchange.chosen_token) return;
    exchange.token_length = config_.token_length;
    do {
        std::uint64_t value = next_random();
        std::memcpy(exchange.token.data(), &value, exchange.token_length);
    } while (find_by_token(Bytes(exchange.token.data(), exchange.token_length)) != nullptr);
}

ClientCore::Exchange* ClientCore::find_free() noexcept {
    for (Exchange& exchange : exchanges_)
        if (exchange.state == State::free) return &exchange;
    return nullptr;
}

ClientCore::Exchange* ClientCore::find_by_message_id(std::uint16_t message_id,
                                                     bool include_non) noexcept {
    for (Exchange& exchange : exchanges_) {
        if (exchange.message_id != message_id) continue;
        if (exchange.state == State::awaiting_ack) return &exchange;
        if (include_non && !exchange.confirmable && exchange.state == State::awaiting_response)
            return &exchange;
    }
    return nullptr;
}

ClientCore::Exchange* ClientCore::find_by_token(Bytes token) noexcept {
    for (Exchange& exchange : exchanges_) {
        if (exchange.state != State::awaiting_ack && exchange.state != State::awaiting_response &&
            exchange.state != State::observing)
            continue;
        if (exchange.token_length == token.size() &&
            std::equal(token.begin(), token.end(), exchange.token.begin()))
            return &exchange;
    }
    return nullptr;
}

std::size_t ClientCore::tokens_in_use() const noexcept {
    return static_cast<std::size_t>(
        std::count_if(exchanges_.begin(), exchanges_.end(), [](const Exchange& e) {
            return e.state == State::awaiting_ack || e.state == State::awaiting_response ||
                   e.state == State::observing;
        }));
}

std::size_t ClientCore::in_flight() const noexcept {
    return static_cast<std::size_t>(
        std::count_if(exchanges_.begin(), exchanges_.end(), [](const Exchange& e) {
            return e.state == State::awaiting_ack || e.state == State::awaiting_response;
        }));
}

Expected<RequestHandle, ClientError> ClientCore::submit(const RequestSpec& request, TimePoint now) {
    return start(request, false, now);
}

Expected<RequestHandle, ClientError> ClientCore::observe(const RequestSpec& request,
                                                         TimePoint now) {
    return start(request, true, now);
}

Expected<RequestHandle, ClientError> ClientCore::start(const RequestSpec& request, bool observe,
                                                       TimePoint now) {
    if (!is_request(request.method)) return unexpected(ClientError::invalid_request);
    std::size_t queued = static_cast<std::size_t>(
        std::count_if(exchanges_.begin(), exchanges_.end(),
                      [](const Exchange& e) { return e.state == State::queued; }));
    if (queued >= config_.max_in_flight) return unexpected(ClientError::busy);
    Exchange* exchange = find_free();
    if (exchange == nullptr) return unexpected(ClientError::busy);

    // The caller's options are kept encoded once (with a placeholder header) and merged with the
    // engine's options on every transmission.
    exchange->base.resize(config_.buffer_size);
    Message base{MessageType::con, request.method, 0, {}, request.options, {}};
    auto written = encode(base, exchange->base);
    if (!written) return unexpected(ClientError::too_large);
    exchange->base.resize(*written);
    exchange->body.assign(request.payload.begin(), request.payload.end());

    exchange->state = State::queued;
    exchange->handle = next_handle_++;
    exchange->confirmable = !request.non_confirmable;
    exchange->method = request.method;
    exchange->token_length = 0;
    exchange->chosen_token = request.token.has_value();
    if (request.token) {
        Bytes token = *request.token;
        if (token.size() > max_token_length) {
            exchange->state = State::free;
            return unexpected(ClientError::invalid_request);
        }
        for (const Exchange& other : exchanges_) {
            bool same = other.state != State::free && &other != exchange &&
                        other.token_length == token.size() &&
                        (other.chosen_token || other.state != State::queued) &&
                        std::equal(token.begin(), token.end(), other.token.begin());
            if (same) {
                exchange->state = State::free;
                return unexpected(ClientError::busy);
            }
        }
        std::copy(token.begin(), token.end(), exchange->token.begin());
        exchange->token_length = static_cast<std::uint8_t>(token.size());
    }
    exchange->block1 = request.payload.size() > (16u << config_.block_szx);
    // RFC 9175 §3.4: concurrent block-wise uploads to the same resource (same method and
    // options) are told apart by a Request-Tag, unless the caller set one.
    exchange->has_request_tag = false;
    if (exchange->block1 && !parse(exchange->base)->has(OptionNumber::request_tag)) {
        for (const Exchange& other : exchanges_) {
            if (&other == exchange || other.state == State::free || !other.block1) continue;
            if (other.base != exchange->base) continue;
            std::uint64_t tag = next_random();
            std::memcpy(exchange->request_tag.data(), &tag, exchange->request_tag.size());
            exchange->has_request_tag = true;
            break;
        }
    }
    exchange->block1_szx = config_.block_szx;
    exchange->block1_offset = 0;
    exchange->block2 = false;
    exchange->block2_szx = config_.block_szx;
    exchange->received.clear();
    exchange->has_etag = false;
    exchange->echo.clear();
    exchange->echo_retried = false;
    exchange->observe = observe;
    exchange->deregistering = false;
    exchange->registered = false;
    ++active_;
    start_queued(now);
    return exchange->handle;
}

void ClientCore::start_queued(TimePoint now) {
    // RFC 7252 §4.7: NSTART = 1 until the server has answered once.
    std::size_t limit = server_answered_ ? config_.max_in_flight : 1;
    // §5.3.1: tokens in use are unique. Short tokens may allow fewer distinct values than
    // requests in flight; the others then wait (instead of new_token searching forever).
    std::size_t token_space = config_.token_length >= sizeof(std::size_t)
                                  ? std::numeric_limits<std::size_t>::max()
                                  : std::size_t{1} << (8 * config_.token_length);
    while (in_flight() < limit && tokens_in_use() < token_space) {
        Exchange* oldest = nullptr;
        for (Exchange& exchange : exchanges_)
            if (exchange.state == State::queued && (!oldest || exchange.handle < oldest->handle))
                oldest = &exchange;
        if (oldest == nullptr) return;
        new_token(*oldest);
        transmit(*oldest, now);
    }
}

bool ClientCore::build_datagram(Exchange& exchange) {
    auto base = parse(exchange.base);
    if (!base) return false;
    MessageType type = exchange.confirmable ? MessageType::con : MessageType::non;

    ExtraOptions extra;
    UintValue block1_value(0), block2_value(0), size1_value(0);
    Bytes payload(exchange.body);
    if (exchange.block1) {
        std::size_t size = 16u << exchange.block1_szx;
        std::size_t remaining = exchange.body.size() - exchange.block1_offset;
        exchange.block1_sent = std::min(size, remaining);
        bool more = remaining > size;
        block1_value = encode_block(
            {static_cast<std::uint32_t>(exchange.block1_offset / size), more, exchange.block1_szx});
        extra.add(OptionNumber::block1, block1_value.bytes());
        if (exchange.block1_offset == 0) {
            size1_value = UintValue(static_cast<std::uint32_t>(exchange.body.size()));
            extra.add(OptionNumber::size1, size1_value.bytes());  // RFC 7959 §4
        }
        payload = payload.subspan(exchange.block1_offset, exchange.block1_sent);
    }
    if (exchange.block2) {
        std::size_t size = 16u << exchange.block2_szx;
        block2_value = encode_block({static_cast<std::uint32_t>(exchange.received.size() / size),
                                     false, exchange.block2_szx});
        extra.add(OptionNumber::block2, block2_value.bytes());
        if (!exchange.block1) payload = {};  // the request body went with the first block
    }
    if (!exchange.echo.empty()) extra.add(OptionNumber::echo, exchange.echo);
    if (exchange.has_request_tag && exchange.block1)
        extra.add(OptionNumber::request_tag, exchange.request_tag);
    // RFC 7641 §2: Observe 0 registers, 1 deregisters. Block2 follow-ups carry none (§3.8...
    // RFC 7959 §2.6 asks for Observe on the first block only).
    UintValue observe_value(exchange.deregistering ? 1 : 0);
    if (exchange.observe && !exchange.block2)
        extra.add(OptionNumber::observe, observe_value.bytes());
    extra.sort();

    exchange.datagram.resize(config_.buffer_size);
    MessageWriter writer(exchange.datagram);
    writer.header(type, exchange.method, exchange.message_id,
                  Bytes(exchange.token.data(), exchange.token_length));
    std::size_t next_extra = 0;
    for (const Option& option : base->options()) {
        if (engine_option(option.number)) continue;
        while (next_extra < extra.count &&
               to_int(extra.items[next_extra].number) <= to_int(option.number)) {
            writer.option(extra.items[next_extra].number, extra.items[next_extra].value);
            ++next_extra;
        }
        writer.option(option.number, option.value);
    }
    for (; next_extra < extra.count; ++next_extra)
        writer.option(extra.items[next_extra].number, extra.items[next_extra].value);
    writer.payload(payload);
    auto written = writer.finish();
    if (!written) return false;
    exchange.datagram.resize(*written);
    return true;
}

void ClientCore::transmit(Exchange& exchange, TimePoint now) {
    exchange.message_id = next_message_id_++;
    if (!build_datagram(exchange)) {
        complete(exchange, unexpected(ClientError::too_large), now);
        return;
    }
    queue_outgoing(exchange.datagram);
    exchange.retransmissions = 0;
    if (exchange.confirmable) {
        exchange.state = State::awaiting_ack;
        exchange.timeout = initial_timeout();
        exchange.deadline = now + exchange.timeout;
    } else {
        exchange.state = State::awaiting_response;
        exchange.deadline = now + config_.response_timeout;
    }
}

void ClientCore::on_timer(TimePoint now) {
    for (Exchange& exchange : exchanges_) {
        if (exchange.state == State::awaiting_ack && exchange.deadline <= now) {
            if (exchange.retransmissions == config_.max_retransmit) {
                complete(exchange, unexpected(ClientError::timeout), now);  // §4.2
                continue;
            }
            ++exchange.retransmissions;
            exchange.timeout *= 2;  // §4.2: exponential back-off
            // §4.2: a late timer catches up on the next retransmission, so that the sequence
            // stays within MAX_TRANSMIT_SPAN, but never closer than ACK_TIMEOUT.
            exchange.deadline =
                std::max(exchange.deadline + exchange.timeout, now + config_.ack_timeout);
            queue_outgoing(exchange.datagram);
        } else if (exchange.state == State::awaiting_response && exchange.deadline <= now) {
            complete(exchange, unexpected(ClientError::timeout), now);
        }
    }
}

std::optional<TimePoint> ClientCore::next_deadline() const noexcept {
    std::optional<TimePoint> earliest;
    for (const Exchange& exchange : exchanges_) {
        if (exchange.state != State::awaiting_ack && exchange.state != State::awaiting_response)
            continue;
        if (!earliest || exchange.deadline < *earliest) earliest = exchange.deadline;
    }
    return earliest;
}

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
                complete(*exchange, unexpected(ClientError::reset), now);
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
            if (!std::ranges::equal(message->token(),
                                    Bytes(exchange->token.data(), exchange->token_length))) {
                complete(*exchange, unexpected(ClientError::malformed_response), now);
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

// RFC 7959 §2.5: after 2.31 Continue, send the next block, at the server's smaller size if it
// asked for one. Returns true while the upload goes on (or ended in an error).
bool ClientCore::continue_upload(Exchange& exchange, const MessageView& response, TimePoint now) {
    bool last_sent = exchange.block1_offset + exchange.block1_sent >= exchange.body.size();
    if (last_sent || !is_success(response.code())) {
        // The final response, or an error (4.08, 4.13, ...) that ends the upload.
        exchange.block1 = last_sent && exchange.block1;  // the final response may carry Block2
        return false;
    }
    auto option = response.find(OptionNumber::block1);
    if (response.code() != Code::continue_ && !option) {
        // A final success without Block1 before the last block: the server ignored the
        // (critical) Block1 option and acted on part of the body. Not a success of the upload.
        complete(exchange, unexpected(ClientError::malformed_response), now);
        return true;
    }
    // 2.31 Continue (atomic), or a success with Block1 for a block acted on by itself: in both
    // cases the client goes on with the next block (§2.2, Block1 in control usage).
    if (option) {
        auto block = decode_block(option->value);
        if (!block) {
            complete(exchange, unexpected(ClientError::malformed_response), now);
            return true;
        }
        if (block->szx < exchange.block1_szx) exchange.block1_szx = block->szx;
    }
    exchange.block1_offset += exchange.block1_sent;
    transmit(exchange, now);
    return true;
}

// RFC 7959 §2.4: reassemble a Block2 body, checking order and the ETag.
bool ClientCore::continue_download(Exchange& exchange, const MessageView& response, TimePoint now) {
    auto option = response.find(OptionNumber::block2);
    if (!option) {
        // A success without Block2 in the middle of a transfer breaks it; an error is handed over.
        bool broken = exchange.block2 && is_success(response.code());
        if (broken) complete(exchange, unexpected(ClientError::inconsistent_blocks), now);
        return broken;
    }
    auto block = decode_block(option->value);
    if (!block || !is_success(response.code())) {
        if (!block) complete(exchange, unexpected(ClientError::malformed_response), now);
        return !block;
    }
    // RFC 7959 §2.2: with M set, the payload is exactly the block size.
    if (block->offset() != exchange.received.size() ||
        (block->more && response.payload().size() != block->size())) {
        complete(exchange, unexpected(ClientError::inconsistent_blocks), now);
        return true;
    }
    auto etag = response.find(OptionNumber::etag);
    if (!exchange.block2) {
        exchange.block2 = true;
        exchange.has_etag = etag.has_value() && etag->value.size() <= exchange.etag.size();
        if (exchange.has_etag) {
            exchange.etag_length = static_cast<std::uint8_t>(etag->value.size());
            std::copy(etag->value.begin(), etag->value.end(), exchange.etag.begin());
        }
    } else {
        bool same = etag.has_value() == exchange.has_etag &&
                    (!etag || std::ranges::equal(
                                  etag->value, Bytes(exchange.etag.data(), exchange.etag_length)));
        if (!same) {
            complete(exchange, unexpected(ClientError::inconsistent_blocks), now);
            return true;
        }
    }
    if (exchange.received.size() + response.payload().size() > config_.max_body_size) {
        complete(exchange, unexpected(ClientError::too_large), now);
        return true;
    }
    exchange.received.insert(exchange.received.end(), response.payload().begin(),
                             response.payload().end());
    if (!block->more) return false;  // complete_with hands over the reassembled body
    // The received size is a multiple of this block's size, so of any smaller one too.
    exchange.block2_szx = std::min(block->szx, config_.block_szx);
    exchange.block1 = false;
    transmit(exchange, now);
    return true;
}

void ClientCore::handle_notification(Exchange& exchange, const MessageView& response,
                                     TimePoint now) {
    Bytes copy = response.datagram();
    auto sequence = response.find_uint(OptionNumber::observe);
    if (exchange.deregistering || !is_success(response.code()) || !sequence) {
        // RFC 7641 §3.2: a response without Observe, or an error, ends the observation; so
        // does the answer to a deregistration (§3.6).
        end_observation(exchange, copy, std::nullopt, now);
        return;
    }
    if (exchange.registered &&
        !fresher(exchange.last_sequence, exchange.last_notification, *sequence, now))
        return;  // §3.4: an older notification arriving late
    exchange.registered = true;
    exchange.last_sequence = *sequence;
    exchange.last_notification = now;
    exchange.state = State::observing;
    push_notification(exchange.handle, copy, std::nullopt, false);
    start_queued(now);  // an established observation no longer counts against NSTART
}

void ClientCore::end_observation(Exchange& exchange, Bytes datagram,
                                 std::optional<ClientError> error, TimePoint now) {
    push_notification(exchange.handle, datagram, error, true);
    exchange.state = State::free;
    --active_;
    start_queued(now);
}

bool ClientCore::cancel_observation(RequestHandle id, TimePoint now) {
    for (Exchange& exchange : exchanges_) {
        if (exchange.state == State::free || !exchange.observe || exchange.handle != id) continue;
        switch (exchange.state) {
            case State::observing:
                exchange.deregistering = true;
                transmit(exchange, now);  // same token, new Message ID
                return true;
            case State::queued:  // never sent: nothing to deregister
                exchange.state = State::free;
                --active_;
                return false;
            default:
                // The registration (or a deregistration) is in flight: its answer ends the
                // observation, and RFC 7641 §3.6 lets the client reject later notifications
                // with RST rather than leave an observation nobody reads.
                exchange.deregistering = true;
                return true;
        }
    }
    return false;
}

void ClientCore::push_notification(RequestHandle id, Bytes datagram,
                                   std::optional<ClientError> error, bool last) {
    if (free_notification_slots_.empty()) {
        // Full: drop the oldest notification that does not end its observation.
        auto victim = std::find_if(notifications_.begin(), notifications_.end(),
                                   [](const QueuedNotification& q) { return !q.last; });
        if (victim == notifications_.end()) victim = notifications_.begin();
        free_notification_slots_.push_back(victim->slot);
        notifications_.erase(victim);
        ++notifications_dropped_;
    }
    QueuedNotification queued;
    queued.id = id;
    queued.slot = free_notification_slots_.back();
    free_notification_slots_.pop_back();
    queued.last = last;
    queued.has_error = error.has_value();
    if (error) queued.error = *error;
    std::size_t length = std::min(datagram.size(), notification_slots_[queued.slot].size());
    std::copy_n(datagram.begin(), length, notification_slots_[queued.slot].begin());
    queued.length = static_cast<std::uint32_t>(length);
    notifications_.push_back(queued);
}

std::optional<ClientCore::QueuedNotification> ClientCore::take_notification(RequestHandle id) {
    auto it = std::find_if(notifications_.begin(), notifications_.end(),
                           [id](const QueuedNotification& q) { return q.id == id; });
    if (it == notifications_.end()) return std::nullopt;
    QueuedNotification queued = *it;
    notifications_.erase(it);
    free_notification_slots_.push_back(queued.slot);  // its bytes stay until the next push
    return queued;
}

std::optional<Notification> ClientCore::pop_notification(RequestHandle id) {
    auto queued = take_notification(id);
    if (!queued) return std::nullopt;
    if (queued->has_error) return Notification{unexpected(queued->error), queued->last};
    const auto& slot = notification_slots_[queued->slot];
    std::vector<std::uint8_t> datagram(slot.begin(), slot.begin() + queued->length);
    return Notification{ClientResponse(std::move(datagram), {}, false), queued->last};
}

std::optional<ClientCore::NotificationCopy> ClientCore::pop_notification_into(RequestHandle id,
                                                                              MutableBytes buffer) {
    auto queued = take_notification(id);
    if (!queued) return std::nullopt;
    if (queued->has_error) return NotificationCopy{unexpected(queued->error), queued->last};
    if (queued->length > buffer.size())
        return NotificationCopy{unexpected(ClientError::too_large), queued->last};
    std::copy_n(notification_slots_[queued->slot].begin(), queued->length, buffer.begin());
    return NotificationCopy{std::size_t{queued->length}, queued->last};
}

bool ClientCore::observation_open(RequestHandle id) const noexcept {
    for (const QueuedNotification& queued : notifications_)
        if (queued.id == id) return true;  // NOLINT(readability-use-anyofallof)
    for (const Exchange& exchange : exchanges_)
        if (exchange.state != State::free && exchange.observe && exchange.handle == id) return true;
    return false;
}

void ClientCore::complete_with(Exchange& exchange, const MessageView& response, TimePoint now) {
    std::vector<std::uint8_t> datagram(response.datagram().begin(), response.datagram().end());
    bool reassembled =
        exchange.block2 && is_success(response.code()) && response.has(OptionNumber::block2);
    std::vector<std::uint8_t> body;
    if (reassembled) body = exchange.received;
    complete(exchange, ClientResponse(std::move(datagram), std::move(body), reassembled), now);
}

void ClientCore::complete(Exchange& exchange, ClientResult result, TimePoint now) {
    if (exchange.observe) {
        if (result)
            end_observation(exchange, result->message().datagram(), std::nullopt, now);
        else
            end_observation(exchange, {}, result.error(), now);
        return;
    }
    completions_.push_back(Completion{exchange.handle, std::move(result)});
    exchange.state = State::free;
    --active_;
    start_queued(now);
}

void ClientCore::fail_all(ClientError error) {
    for (Exchange& exchange : exchanges_) {
        if (exchange.state == State::free) continue;
        if (exchange.observe)
            push_notification(exchange.handle, {}, error, true);
        else
            completions_.push_back(Completion{exchange.handle, unexpected(error)});
        exchange.state = State::free;
        --active_;
    }
}

void ClientCore::send_empty(MessageType type, std::uint16_t message_id) {
    std::array<std::uint8_t, 4> message{};
    auto written = encode(Message{type, Code::empty, message_id, {}, {}, {}}, message);
    if (written) queue_outgoing(Bytes(message.data(), *written));
}

void ClientCore::queue_outgoing(Bytes datagram) {
    if (outgoing_count_ == outgoing_.size() || datagram.size() > config_.buffer_size) return;
    std::size_t slot = (outgoing_head_ + outgoing_count_) % outgoing_.size();
    std::memcpy(outgoing_[slot].data(), datagram.data(), datagram.size());
    outgoing_length_[slot] = static_cast<std::uint16_t>(datagram.size());
    ++outgoing_count_;
}

Bytes ClientCore::front_outgoing() const noexcept {
    return Bytes(outgoing_[outgoing_head_].data(), outgoing_length_[outgoing_head_]);
}

void ClientCore::pop_outgoing() noexcept {
    outgoing_head_ = (outgoing_head_ + 1) % outgoing_.size();
    --outgoing_count_;
}

std::optional<Completion> ClientCore::pop_completion() {
    if (completions_.empty()) return std::nullopt;
    Completion completion = std::move(completions_.front());
    completions_.pop_front();
    return completion;
}

}  // namespace coap::detail
