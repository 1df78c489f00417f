// The server message layer: deduplication, piggybacked and NON responses, rejections.
#include "server_core.hpp"

#include <algorithm>
#include <cstring>

#include "coap/log.hpp"

namespace coap::detail {

namespace {

// The methods of RFC 7252 §5.8 and RFC 8132 (FETCH, PATCH, iPATCH).
bool is_known_method(Code code) noexcept {
    switch (code) {
        case Code::get:
        case Code::post:
        case Code::put:
        case Code::del:
        case Code::fetch:
        case Code::patch:
        case Code::ipatch:
            return true;
        default:
            return false;
    }
}

bool is_proxy_request(const MessageView& request) noexcept {
    return request.has(OptionNumber::proxy_uri) || request.has(OptionNumber::proxy_scheme);
}

// RFC 7252 §5.10.4: "If the preferred Content-Format cannot be returned, then a 4.06 'Not
// Acceptable' MUST be sent". Checked for 2.05 responses that declare their Content-Format.
bool violates_accept(const MessageView& request, const Response& response) noexcept {
    if (response.code() != Code::content) return false;
    auto accept = request.find_uint(OptionNumber::accept);
    if (!accept) return false;
    auto format = response.find(OptionNumber::content_format);
    if (!format) return false;
    return format->as_uint() != accept;
}

ObserverTableConfig observer_config(const ServerConfig& config) {
    ObserverTableConfig out;
    out.max_observers = config.max_observers;
    out.resource_count = config.max_observe_resources;
    out.con_interval = config.observe_con_interval;
    out.transmission = {config.ack_timeout, config.ack_random_factor, config.max_retransmit};
    out.buffer_size = config.buffer_size;
    out.block_size = config.max_block_size;
    out.max_representation_bytes = config.max_notification_bytes;
    return out;
}

std::unique_ptr<NotificationHub> hub_unless_shared(const ServerConfig& config,
                                                   const SharedServerState& shared) {
    if (shared.hub != nullptr) return nullptr;
    return std::make_unique<NotificationHub>(config.max_observe_resources,
                                             config.max_notification_bytes);
}

Refusal refusal_for(OverloadReply reply) {
    switch (reply) {
        case OverloadReply::too_many_requests:
            return Refusal::too_many_requests;
        case OverloadReply::reset:
            return Refusal::reset;
        case OverloadReply::silence:
            break;
    }
    return Refusal::silence;
}

EchoSecret echo_secret(const SharedServerState& shared) {
    return shared.echo_secret != nullptr ? *shared.echo_secret : EchoAuthority::random_secret();
}

}  // namespace

ServerCore::ServerCore(const ServerConfig& config, const Handler& handler, bool secure,
                       std::uint64_t random_seed, std::uint32_t worker_index, Clock clock,
                       SharedServerState shared)
    : handler_(handler),
      recognized_options_(config.recognized_options),
      arena_memory_(new std::byte[config.max_arena_size]),
      arena_(std::span<std::byte>(arena_memory_.get(), config.max_arena_size)),
      exchanges_(config.exchange_count, config.exchange_cache_bytes, config.exchange_lifetime),
      deferred_(worker_index, config.max_deferred, config.buffer_size,
                TransmissionParameters{config.ack_timeout, config.ack_random_factor,
                                       config.max_retransmit},
                config.deferred_answer_timeout, random_seed),
      blocks_(config, stats_),
      own_hub_(hub_unless_shared(config, shared)),
      hub_(shared.hub != nullptr ? shared.hub : own_hub_.get()),
      observers_(observer_config(config), random_seed ^ 0x6f627365727665ull),
      echo_(echo_secret(shared), config.echo_freshness),
      rate_limiter_(config.rate_limit_ip_count, config.rate_limit_tokens_per_sec,
                    config.rate_limit_burst, random_seed ^ 0x726174656c696dull),
      load_(config.load_shed_throttle_pct, config.load_shed_critical_pct,
            config.load_shed_recover_pct),
      refusal_policy_{refusal_for(config.overload_reply_con),
                      refusal_for(config.overload_reply_non)},
      receive_buffers_(config.buffer_count),
      echo_required_for_unsafe_(config.echo_required_for_unsafe),
      echo_amplification_limit_(config.echo_amplification_limit),
      deferred_busy_max_age_(config.deferred_busy_max_age),
      handler_warn_(config.handler_warn),
      clock_(config.handler_warn > Duration::zero() ? clock : nullptr),
      buffer_size_(config.buffer_size),
      next_message_id_(static_cast<std::uint16_t>(random_seed >> 16)),
      secure_(secure) {}

std::size_t ServerCore::on_datagram(const Endpoint& peer, Bytes datagram, TimePoint now,
                                    MutableBytes reply) noexcept {
    reply = reply.first(std::min<std::size_t>(reply.size(), buffer_size_));
    ++batch_datagrams_;
    auto message = parse(datagram);
    if (!message) return on_malformed(datagram, message.error(), reply);

    switch (message->type()) {
        case MessageType::ack:
        case MessageType::rst:
            on_ack_or_reset(peer, *message);
            return 0;
        case MessageType::con:
        case MessageType::non:
            break;
    }
    if (message->is_empty_message()) {
        // RFC 7252 §4.3: an empty CON is a ping, answered with RST; an empty NON is rejected
        // silently.
        if (message->type() == MessageType::non) return ++stats_.ignored, 0;
        ++stats_.resets_sent;
        return reply_empty(MessageType::rst, message->message_id(), reply);
    }
    if (!message->is_request()) {
        // A response or reserved code reaching a server: reject (§4.2 for CON, §4.3 for NON).
        if (message->type() == MessageType::non) return ++stats_.ignored, 0;
        ++stats_.resets_sent;
        return reply_empty(MessageType::rst, message->message_id(), reply);
    }
    return on_request(peer, *message, now, reply);
}

// RFC 7252 §3: unknown version is silently ignored. §4.2: a CON with a format error is
// rejected with a matching RST; §4.3: anything else is silently dropped.
std::size_t ServerCore::on_malformed(Bytes datagram, ParseError error,
                                     MutableBytes reply) noexcept {
    if (error == ParseError::bad_version) return ++stats_.ignored_version, 0;
    ++stats_.format_errors;
    std::optional<Header> header = peek_header(datagram);
    if (!header || header->type != MessageType::con) return 0;
    if (log_enabled(LogLevel::debug))
        log(LogLevel::debug, "malformed CON (%s): answering RST", describe(error).data());
    ++stats_.resets_sent;
    return reply_empty(MessageType::rst, header->message_id, reply);
}

std::size_t ServerCore::on_request(const Endpoint& peer, const MessageView& request, TimePoint now,
                                   MutableBytes reply) noexcept {
    // RFC 7252 §4.5: a duplicate CON gets the same response again without re-running the
    // handler; a duplicate NON is silently ignored.
    bool confirmable = request.type() == MessageType::con;
    if (auto hit = exchanges_.find(peer, request.message_id(), confirmable, now)) {
        ++stats_.duplicates;
        if (request.type() == MessageType::non || hit->response.empty()) return 0;
        std::memcpy(reply.data(), hit->response.data(), hit->response.size());
        return hit->response.size();
    }

    std::size_t length;
    if (!admit(peer, request, now, reply, length)) return length;  // refusals are not cached
    if (first_unrecognized_critical(request, recognized_options_)) {
        // RFC 7252 §5.4.1: 4.02 (Bad Option) for an unrecognized critical option in a CON
        // request; a NON one is rejected (§4.3), here with a matching RST so the client learns.
        ++stats_.bad_options;
        if (request.type() == MessageType::con) {
            length = respond(request, Response::bad_option(), reply);
        } else {
            ++stats_.resets_sent;
            length = reply_empty(MessageType::rst, request.message_id(), reply);
        }
    } else if (!is_known_method(request.code())) {
        // RFC 7252 §5.8: an unrecognized method code gets 4.05, whatever the path.
        length = respond(request, Response::method_not_allowed(), reply);
    } else if (is_proxy_request(request)) {
        // RFC 7252 §5.7.2: this server is not a forward-proxy.
        length = respond(request, Response::with_code(Code::proxying_not_supported), reply);
    } else {
        length = serve(peer, request, now, reply);
    }
    // Whatever was answered, block-wise replies included, is what a retransmission gets.
    exchanges_.insert(peer, request.message_id(), confirmable, Bytes(reply.data(), length), now);
    return length;
}

// The block layer (RFC 7959) answers some requests itself: 2.31 Continue for an upload block,
// a later block of a stored response, or an error. Otherwise the handler runs, once per upload
// with the reassembled body, and its response is sliced into blocks when it is large.
std::size_t ServerCore::serve(const Endpoint& peer, const MessageView& request, TimePoint now,
                              MutableBytes reply) noexcept {
    now_ = now;
    echo_state_.reset();
    if (needs_fresh_echo(peer, request)) return echo_challenge(peer, request, reply);
    OutgoingResponse out;
    BlockLayer::Plan plan = blocks_.before_handler(peer, request, now, out);
    if (plan.answered) {
        std::size_t length = encode_reply(request, out, reply);
        if (over_amplification_limit(peer, request, length))
            return echo_challenge(peer, request, reply);
        return length;
    }
    ++stats_.requests;
    deferred_granted_ = false;
    observe_resource_.reset();
    Request handler_request(request, peer, arena_, secure_);
    if (plan.body) handler_request.set_payload(*plan.body);
    handler_request.set_psk_identity(peer_identity_);
    handler_request.set_services(this);
    HandlerResult result = call_handler(handler_request);
    std::size_t length = answer(handler_request, plan, result, out, reply);
    arena_.reset();  // after encoding: the response may point into the arena
    return length;
}

HandlerResult ServerCore::call_handler(Request& request) noexcept {
    try {
        if (clock_ == nullptr) return handler_(request);
        TimePoint start = clock_();
        HandlerResult result = handler_(request);
        const Duration elapsed = clock_() - start;
        stats_.handler_ns += static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
        warn_if_slow(request, elapsed);
        return result;
    } catch (const std::exception& error) {
        report_handler_failure(request, error.what());
    } catch (...) {
        report_handler_failure(request, "unknown exception");
    }
    ++stats_.handler_failures;
    return Response::internal_server_error();
}

void ServerCore::warn_if_slow(const Request& request, Duration elapsed) noexcept {
    if (elapsed <= handler_warn_) return;
    ++stats_.slow_handlers;
    char peer[endpoint_text_size];
    std::string_view text = request.peer().format(peer);
    log(LogLevel::warn, "slow handler: %.4s from %.*s took %lld us",
        code_text(request.method()).text, static_cast<int>(text.size()), text.data(),
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()));
}

std::size_t ServerCore::answer(Request& request, BlockLayer::Plan& plan,
                               const HandlerResult& result, OutgoingResponse& out,
                               MutableBytes reply) noexcept {
    const MessageView& message = request.message();
    bool confirmable = message.type() == MessageType::con;
    if (request.deferral_requested() || !result) blocks_.finish(plan);
    if (request.deferral_requested() && !deferred_granted_) {
        // No deferral slot was free: tell the client when to try again (RFC 7252 §5.9.3.4).
        return respond(
            message, Response::with_code(Code::service_unavailable).max_age(deferred_busy_max_age_),
            reply);
    }
    if (request.deferral_requested() || !result) {
        // §5.2.2: acknowledge now, answer later; or no answer at all.
        return confirmable ? reply_empty(MessageType::ack, message.message_id(), reply) : 0;
    }
    const Response& response = violates_accept(message, *result) ? not_acceptable_ : *result;
    plan.keep_body = !observe_resource_.has_value();
    blocks_.shape(plan, request.peer(), message, response, now_, out);
    // RFC 7641 §4.1, §4.2: what goes out decides, not what the handler returned: the block
    // layer may answer 4.02 (Block2 beyond the end), and an overflowed response becomes 5.00.
    Code sent = out.overflowed() ? Code::internal_server_error : out.code;
    std::optional<std::uint32_t> observe = settle_observation(request, plan, sent);
    if (observe) out.add_uint(OptionNumber::observe, *observe);
    if (response.echo_requested()) {  // Response::echo_challenge()
        ++stats_.echo_challenges;
        add_echo(request.peer(), out);
    }
    std::size_t length = encode_reply(message, out, reply);
    bool fell_back = length >= 2 && reply[1] != static_cast<std::uint8_t>(out.code);  // 5.00
    if (observe && fell_back) observers_.remove(request.peer(), message.token());
    if (!over_amplification_limit(request.peer(), message, length)) return length;
    if (observe) observers_.remove(request.peer(), message.token());
    return echo_challenge(request.peer(), message, reply);
}

// An ACK or RST can only concern a CON or NON we sent: a separate response (RFC 7252 §4.2) or
// a notification (RFC 7641 §3.6, §4.5).
void ServerCore::on_ack_or_reset(const Endpoint& peer, const MessageView& message) noexcept {
    bool reset = message.type() == MessageType::rst;
    if (deferred_.on_ack_or_reset(peer, message.message_id(), reset)) return;
    bool matched = reset ? observers_.on_reset(peer, message.message_id())
                         : observers_.on_ack(peer, message.message_id());
    if (!matched) ++stats_.ignored;
}

std::optional<DeferredResponse> ServerCore::defer(const Request& request) noexcept {
    if (deferred_granted_) return std::nullopt;  // one deferral per request
    auto handle = deferred_.open(request.peer(), request.message(), now_);
    deferred_granted_ = handle.has_value();
    return handle;
}

void ServerCore::on_timers(TimePoint now, DatagramSink& out) noexcept {
    update_load(now);
    deferred_.poll(now, out, next_message_id_);
    blocks_.expire(now);
    observers_.poll(*hub_, now, out, next_message_id_, out.available());
}

// RFC 7252 §5.2.1: a CON request is answered piggybacked in the ACK with the same Message ID;
// §5.2.3: a NON request gets a NON response with a fresh Message ID. Both echo the token (§5.3.1).
std::size_t ServerCore::respond(const MessageView& request, const Response& response,
                                MutableBytes reply) noexcept {
    OutgoingResponse out;
    out.assign(response);
    return encode_reply(request, out, reply);
}

std::size_t ServerCore::encode_reply(const MessageView& request, const OutgoingResponse& response,
                                     MutableBytes reply) noexcept {
    bool confirmable = request.type() == MessageType::con;
    MessageType type = confirmable ? MessageType::ack : MessageType::non;
    std::uint16_t message_id = confirmable ? request.message_id() : next_message_id();
    if (!response.overflowed()) {
        Message message{
            type, response.code, message_id, request.token(), response.options(), response.payload};
        if (auto written = encode(message, reply)) return *written;
        log(LogLevel::warn, "response %.4s does not fit %zu bytes: sending 5.00",
            code_text(response.code).text, reply.size());
    } else {
        log(LogLevel::warn, "response has more options than fit: sending 5.00");
    }
    ++stats_.handler_failures;
    Message fallback{type, Code::internal_server_error, message_id, request.token(), {}, {}};
    return encode(fallback, reply).value_or(0);
}

std::size_t ServerCore::reply_empty(MessageType type, std::uint16_t message_id,
                                    MutableBytes reply) noexcept {
    return encode(Message{type, Code::empty, message_id, {}, {}, {}}, reply).value_or(0);
}

}  // namespace coap::detail
