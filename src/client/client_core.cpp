// The client engine's request side: RFC 7252 §4.2 (CON retransmission), §4.3 (NON), §4.7
// (NSTART), §5.3.1 (tokens). Responses: client_core_receive.cpp; Block1/Block2:
// client_core_blockwise.cpp; Observe: client_core_observe.cpp.
#include "client_core.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace coap::detail {

ClientCore::ClientCore(const ClientConfig& config, std::uint64_t random_seed)
    : config_(config),
      exchanges_(std::size_t{config.max_in_flight} * 2),
      outgoing_(std::size_t{config.max_in_flight} * 2 + 32),
      outgoing_length_(outgoing_.size()),
      completions_(exchanges_.size(), config.buffer_size),
      notifications_(config.max_queued_notifications, config.buffer_size),
      random_state_(random_seed | 1),
      next_message_id_(static_cast<std::uint16_t>(random_seed >> 24)) {
    // Steady state reuses these: a request whose payload fits one block, and an Echo value
    // (at most 40 bytes, RFC 9175 §2.2.1), allocate nothing.
    for (Exchange& exchange : exchanges_) {
        exchange.base.reserve(config.buffer_size);
        exchange.body.reserve(std::size_t{16} << config.block_szx);
        exchange.datagram.reserve(config.buffer_size);
        exchange.first_block.reserve(config.buffer_size);
        exchange.echo.reserve(40);
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

void ClientCore::transmit(Exchange& exchange, TimePoint now) {
    exchange.message_id = next_message_id_++;
    if (!build_datagram(exchange)) {
        complete(exchange, ClientError::too_large, now);
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
                complete(exchange, ClientError::timeout, now);  // §4.2
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
            complete(
                exchange,
                exchange.confirmable ? ClientError::no_separate_response : ClientError::timeout,
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

void ClientCore::complete(Exchange& exchange, ClientError error, TimePoint now) {
    if (exchange.observe) {
        end_observation(exchange, {}, error, now);
        return;
    }
    completions_.push_error(exchange.handle, error);
    release(exchange, now);
}

void ClientCore::release(Exchange& exchange, TimePoint now) {
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
            completions_.push_error(exchange.handle, error);
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
    auto entry = completions_.take_front();
    if (!entry) return std::nullopt;
    return Completion{entry->handle, completions_.to_result(*entry)};
}

std::optional<ClientResult> ClientCore::take_completion(RequestHandle handle) {
    auto entry = completions_.take(handle);
    if (!entry) return std::nullopt;
    return completions_.to_result(*entry);
}

std::optional<ClientCore::CompletionCopy> ClientCore::pop_completion_into(MutableBytes buffer) {
    auto entry = completions_.take_front();
    if (!entry) return std::nullopt;
    return CompletionCopy{entry->handle, completions_.copy_into(*entry, buffer)};
}

std::optional<Expected<std::size_t, ClientError>> ClientCore::take_completion_into(
    RequestHandle handle, MutableBytes buffer) {
    auto entry = completions_.take(handle);
    if (!entry) return std::nullopt;
    return completions_.copy_into(*entry, buffer);
}

}  // namespace coap::detail
