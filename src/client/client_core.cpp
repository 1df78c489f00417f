// The client engine: RFC 7252 §4.2 (CON retransmission), §4.3 (NON), §4.7 (NSTART), §5.2
// (piggybacked and separate responses), §5.3.2 (token matching); RFC 7959 §2.4, §2.5, §2.6
// (Block2, Block1, Block2 in notifications); RFC 9175 §2.3 (Echo retry); RFC 7641 (Observe).
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

// RFC 7959 §2.6: the reassembled notification: the first block's header and options (Observe,
// ETag, Content-Format, ...) without Block2, and the whole representation as its payload.
std::size_t write_whole(MutableBytes out, const MessageView& first, Bytes body) {
    MessageWriter writer(out);
    writer.header(first.type(), first.code(), first.message_id(), first.token());
    for (const Option& option : first.options())
        if (option.number != OptionNumber::block2) writer.option(option.number, option.value);
    writer.payload(body);
    auto written = writer.finish();
    return written ? *written : 0;
}

}  // namespace

ClientCore::ClientCore(const ClientConfig& config, std::uint64_t random_seed)
    : config_(config),
      exchanges_(std::size_t{config.max_in_flight} * 2),
      outgoing_(std::size_t{config.max_in_flight} * 2 + 32),
      outgoing_length_(outgoing_.size()),
      notifications_(config.max_queued_notifications, config.buffer_size),
      random_state_(random_seed | 1),
      next_message_id_(static_cast<std::uint16_t>(random_seed >> 24)) {
    for (Exchange& exchange : exchanges_) {
        exchange.base.reserve(config.buffer_size);
        exchange.datagram.reserve(config.buffer_size);
        exchange.first_block.reserve(config.buffer_size);
    }
    for (auto& buffer : outgoing_)
        buffer.resize(config.buffer_size);
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
    // The exchange is still queued here, so find_by_token only sees the others.
    if (exchange.chosen_token) return;
    exchange.token_length = config_.token_length;
    draw_token(exchange.token);
}

void ClientCore::draw_token(std::array<std::uint8_t, max_token_length>& token) noexcept {
    // RFC 7252 §5.3.1: tokens distinguish concurrent requests; random ones also resist spoofing.
    // start_queued only calls this while tokens_in_use() leaves a free value.
    do {
        std::uint64_t value = next_random();
        std::memcpy(token.data(), &value, config_.token_length);
    } while (find_by_token(Bytes(token.data(), config_.token_length)) != nullptr);
}

bool ClientCore::holds_token(State state) noexcept {
    // The states in which an exchange's token matches responses and notifications.
    return state == State::awaiting_ack || state == State::awaiting_response ||
           state == State::observing || state == State::fetch_waiting;
}

Bytes ClientCore::wire_token(const Exchange& exchange) const noexcept {
    if (exchange.fetching) return Bytes(exchange.fetch_token.data(), config_.token_length);
    return Bytes(exchange.token.data(), exchange.token_length);
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
        if (!holds_token(exchange.state)) continue;
        if (std::ranges::equal(token, Bytes(exchange.token.data(), exchange.token_length)) ||
            (exchange.fetching && std::ranges::equal(token, wire_token(exchange))))
            return &exchange;
    }
    return nullptr;
}

std::size_t ClientCore::tokens_in_use() const noexcept {
    std::size_t count = 0;
    for (const Exchange& e : exchanges_)
        if (holds_token(e.state)) count += e.fetching ? 2 : 1;
    return count;
}

std::size_t ClientCore::requests_outstanding() const noexcept {
    auto requests = std::count_if(exchanges_.begin(), exchanges_.end(), [](const Exchange& e) {
        return e.state != State::free && !e.observe;
    });
    return static_cast<std::size_t>(requests) + completions_.size();
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
    // In flight, queued and completed-but-not-taken requests stay within in flight + queue: a
    // caller that submits without polling gets `busy` rather than an ever longer queue.
    if (!observe && requests_outstanding() >= std::size_t{config_.max_in_flight} * 2)
        return unexpected(ClientError::busy);
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
            same = same || (other.fetching && std::ranges::equal(token, wire_token(other)));
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
    exchange->fetching = false;
    exchange->fetch_ends = false;
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
        // RFC 7959 §2.6: the rest of a notification is fetched "without undue delay": first.
        auto fetch = std::find_if(exchanges_.begin(), exchanges_.end(), [](const Exchange& e) {
            return e.state == State::fetch_waiting;
        });
        if (fetch != exchanges_.end()) {
            start_fetch(*fetch, now);
            continue;
        }
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
    writer.header(type, exchange.method, exchange.message_id, wire_token(exchange));
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
            // A CON got its empty ACK (§5.2.2) but no separate response; a NON got nothing.
            complete(exchange,
                     unexpected(exchange.confirmable ? ClientError::no_separate_response
                                                     : ClientError::timeout),
                     now);
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
            if (!std::ranges::equal(message->token(), wire_token(*exchange))) {
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
        remember_etag(exchange, response);
    } else {
        bool same = etag.has_value() == exchange.has_etag &&
                    (!etag || std::ranges::equal(
                                  etag->value, Bytes(exchange.etag.data(), exchange.etag_length)));
        if (!same && exchange.fetching) {
            // RFC 7959 §2.6 with RFC 7641 §3.3.1, §4.5: the resource changed after the
            // notification, and the server notifies the newer state. Fetching that one once
            // beats restarting this one (and racing the newer notification for its blocks).
            drop_fetch(exchange, now);
            return true;
        }
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

void ClientCore::remember_etag(Exchange& exchange, const MessageView& response) noexcept {
    auto etag = response.find(OptionNumber::etag);
    exchange.has_etag = etag.has_value() && etag->value.size() <= exchange.etag.size();
    if (!exchange.has_etag) return;
    exchange.etag_length = static_cast<std::uint8_t>(etag->value.size());
    std::copy(etag->value.begin(), etag->value.end(), exchange.etag.begin());
}

// RFC 7959 §2.6: "The client retrieves the rest of the representation as if it had caused this
// first response by a GET request". The follow-ups wait for NSTART like any request.
void ClientCore::prepare_fetch(Exchange& exchange, const MessageView& first, bool ends,
                               TimePoint now) {
    if (first.payload().size() > config_.max_body_size) {
        complete(exchange, unexpected(ClientError::too_large), now);
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
        complete(exchange, unexpected(ClientError::malformed_response), now);
        return;
    }
    bool last = exchange.fetch_ends;
    std::size_t capacity = exchange.first_block.size() + exchange.received.size() + 1;
    notifications_.push_with(exchange.handle, capacity, std::nullopt, last, [&](MutableBytes out) {
        return write_whole(out, *first, exchange.received);
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
        complete(exchange, unexpected(ClientError::inconsistent_blocks), now);
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
                break;
            default:
                if (registered_fetch) break;  // the rest of a notification is no longer wanted
                // The registration (or a deregistration) is in flight: its answer ends the
                // observation, and RFC 7641 §3.6 lets the client reject later notifications
                // with RST rather than leave an observation nobody reads. So does the answer
                // completing a final, block-wise response.
                exchange.deregistering = true;
                return true;
        }
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
            notifications_.push(exchange.handle, {}, error, true);
        else
            completions_.push_back(Completion{exchange.handle, unexpected(error)});
        exchange.state = State::free;
        exchange.fetching = false;
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

std::optional<ClientResult> ClientCore::take_completion(RequestHandle handle) {
    auto it = std::find_if(completions_.begin(), completions_.end(),
                           [handle](const Completion& c) { return c.handle == handle; });
    if (it == completions_.end()) return std::nullopt;
    ClientResult result = std::move(it->result);
    completions_.erase(it);
    return result;
}

}  // namespace coap::detail
