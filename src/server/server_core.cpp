// The server message layer: deduplication, piggybacked and NON responses, rejections.
#include "server_core.hpp"

#include <cstring>

#include "coap/log.hpp"

namespace coap::detail {

namespace {

bool is_proxy_request(const MessageView& request) noexcept {
    return request.has(OptionNumber::proxy_uri) || request.has(OptionNumber::proxy_scheme);
}

}  // namespace

ServerCore::ServerCore(const ServerConfig& config, const Handler& handler, bool secure,
                       std::uint16_t initial_message_id)
    : handler_(handler),
      recognized_options_(config.recognized_options),
      arena_memory_(new std::byte[config.max_arena_size]),
      arena_(std::span<std::byte>(arena_memory_.get(), config.max_arena_size)),
      exchanges_(config.exchange_count, config.exchange_cache_bytes, config.exchange_lifetime),
      buffer_size_(config.buffer_size),
      next_message_id_(initial_message_id),
      secure_(secure) {}

std::size_t ServerCore::on_datagram(const Endpoint& peer, Bytes datagram, TimePoint now,
                                    MutableBytes reply) noexcept {
    reply = reply.first(std::min<std::size_t>(reply.size(), buffer_size_));
    auto message = parse(datagram);
    if (!message) return on_malformed(datagram, message.error(), reply);

    switch (message->type()) {
        case MessageType::ack:
        case MessageType::rst:
            // No exchanges of ours await these yet (separate responses and observe will).
            ++stats_.ignored;
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
    if (auto hit = exchanges_.find(peer, request.message_id(), now)) {
        ++stats_.duplicates;
        if (request.type() == MessageType::non || hit->response.empty()) return 0;
        std::memcpy(reply.data(), hit->response.data(), hit->response.size());
        return hit->response.size();
    }

    std::size_t length;
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
    } else if (is_proxy_request(request)) {
        // RFC 7252 §5.7.2: this server is not a forward-proxy.
        length = respond(request, Response::with_code(Code::proxying_not_supported), reply);
    } else {
        ++stats_.requests;
        HandlerResult result = call_handler(peer, request);
        if (result) {
            length = respond(request, *result, reply);
        } else if (request.type() == MessageType::con) {
            length = reply_empty(MessageType::ack, request.message_id(), reply);
        } else {
            length = 0;
        }
        arena_.reset();  // after encoding: the response may point into the arena
    }
    exchanges_.insert(peer, request.message_id(), Bytes(reply.data(), length), now);
    return length;
}

HandlerResult ServerCore::call_handler(const Endpoint& peer, const MessageView& request) noexcept {
    Request handler_request(request, peer, arena_, secure_);
    try {
        return handler_(handler_request);
    } catch (const std::exception& error) {
        report_handler_failure(handler_request, error.what());
    } catch (...) {
        report_handler_failure(handler_request, "unknown exception");
    }
    ++stats_.handler_failures;
    return Response::internal_server_error();
}

// RFC 7252 §5.2.1: a CON request is answered piggybacked in the ACK with the same Message ID;
// §5.2.3: a NON request gets a NON response with a fresh Message ID. Both echo the token (§5.3.1).
std::size_t ServerCore::respond(const MessageView& request, const Response& response,
                                MutableBytes reply) noexcept {
    bool confirmable = request.type() == MessageType::con;
    MessageType type = confirmable ? MessageType::ack : MessageType::non;
    std::uint16_t message_id = confirmable ? request.message_id() : next_message_id();
    if (!response.overflowed()) {
        std::array<Option, Response::max_options> options;
        for (std::size_t i = 0; i < response.option_count(); ++i)
            options[i] = response.option_at(i);
        Message message{type,
                        response.code(),
                        message_id,
                        request.token(),
                        std::span(options.data(), response.option_count()),
                        response.payload()};
        if (auto written = encode(message, reply)) return *written;
        log(LogLevel::warn, "response %.4s does not fit %zu bytes: sending 5.00",
            code_text(response.code()).text, reply.size());
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
