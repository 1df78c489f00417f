// What a handler receives: a parsed request, its peer and per-request scratch memory.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "coap/arena.hpp"
#include "coap/content_format.hpp"
#include "coap/deferred.hpp"
#include "coap/endpoint.hpp"
#include "coap/export.hpp"
#include "coap/message.hpp"
#include "coap/observe.hpp"

namespace coap {

class Request;

namespace detail {
/// What the server core lends a request so that handlers can reach per-request services.
class COAP_API RequestServices {
  public:
    virtual std::optional<DeferredResponse> defer(const Request& request) noexcept = 0;
    virtual bool observe(const Request& request, ResourceId resource) noexcept = 0;
    virtual bool echo_verified(const Request& request) noexcept = 0;

  protected:
    ~RequestServices() = default;
};
}  // namespace detail

/// A route parameter captured by the router: `/sensor/:id` matched against `/sensor/7` gives
/// name "id" and value "7".
struct RouteParam {
    std::string_view name;   ///< The name in the pattern, without the ':'.
    std::string_view value;  ///< The path segment it matched.
};

/// A request as a handler sees it. Everything it returns views the datagram or the arena and is
/// valid only during the handler call.
class COAP_API Request {
  public:
    /// Route parameters a request can hold; the router refuses patterns with more.
    static constexpr std::size_t max_params = 8;

    /// Made by the server core for each request; handlers receive it by reference.
    Request(const MessageView& message, const Endpoint& peer, Arena& arena,
            bool secure = false) noexcept
        : message_(&message), peer_(&peer), arena_(&arena), secure_(secure) {}

    /// The method code: Code::get, Code::post, ...
    Code method() const noexcept { return message_->code(); }
    /// The request body. For a block-wise upload (RFC 7959 Block1) the server has reassembled,
    /// this is the whole body, while message() is the datagram of the last block.
    Bytes payload() const noexcept { return body_ ? *body_ : message_->payload(); }
    /// Uri-Path segments, in order.
    OptionRange path() const noexcept { return message_->options(OptionNumber::uri_path); }
    /// Uri-Query arguments, in order.
    OptionRange query() const noexcept { return message_->options(OptionNumber::uri_query); }
    /// The value of query argument `name` ("name=value" gives "value", "name" alone gives "").
    std::optional<std::string_view> query_value(std::string_view name) const noexcept;
    /// A route parameter captured by the router, by name.
    std::optional<std::string_view> param(std::string_view name) const noexcept;

    /// The first option with `number`, if any.
    std::optional<Option> option(OptionNumber number) const noexcept {
        return message_->find(number);
    }
    /// Every option with `number`, in order.
    OptionRange options(OptionNumber number) const noexcept { return message_->options(number); }
    /// If-Match values (RFC 7252 §5.10.8.1); an empty value matches any existing representation.
    OptionRange if_match() const noexcept { return options(OptionNumber::if_match); }
    /// True with an If-None-Match option (RFC 7252 §5.10.8.2): act only if nothing exists yet.
    bool if_none_match() const noexcept { return message_->has(OptionNumber::if_none_match); }
    /// ETags the client already holds (RFC 7252 §5.10.6.2).
    OptionRange etags() const noexcept { return options(OptionNumber::etag); }
    /// The Accept option (RFC 7252 §5.10.4): the Content-Format the client wants back.
    std::optional<ContentFormat> accept() const noexcept;
    /// The Content-Format of the payload (RFC 7252 §5.10.3).
    std::optional<ContentFormat> content_format() const noexcept;

    /// The client's address and port.
    const Endpoint& peer() const noexcept { return *peer_; }
    /// True when the request came over DTLS (coaps://).
    bool is_secure() const noexcept { return secure_; }
    /// The PSK identity the peer's DTLS session was established with (RFC 4279 §2), for
    /// authorizing it; empty for coap://.
    std::string_view psk_identity() const noexcept { return psk_identity_; }
    /// Used by the server core: the identity of the peer's session.
    void set_psk_identity(std::string_view identity) noexcept { psk_identity_ = identity; }
    /// Scratch memory for this request, reset after the response is encoded: a response may
    /// point into it.
    Arena& arena() const noexcept { return *arena_; }
    /// Defers the response (RFC 7252 §5.2.2): the server acknowledges a CON request at once with
    /// an empty ACK, and the answer given later to `Server::respond` goes out as a separate
    /// response (CON with retransmission for a CON request, NON for a NON request). Return
    /// nullopt from the handler after deferring. When every deferral slot is busy this gives
    /// nullopt and the server answers 5.03 Service Unavailable with Max-Age instead, whatever
    /// the handler returns.
    std::optional<DeferredResponse> defer() noexcept {
        deferral_requested_ = true;
        return services_ ? services_->defer(*this) : std::nullopt;
    }
    /// Makes this request's resource observable (RFC 7641): call it from the handler of every
    /// GET (or FETCH) of `resource`. A request with Observe=0 then registers the client, if the
    /// response is 2.xx and an observer slot is free: the response gets an Observe option and
    /// every later Server::notify(resource, ...) reaches the client. Returns true for such a
    /// registration. A request with Observe=1 ends the client's observation (the server does
    /// that whether or not the handler calls this). Registrations of a deferred request are
    /// not kept.
    bool observe(ResourceId resource) noexcept {
        return services_ != nullptr && services_->observe(*this, resource);
    }
    /// True when the request carries an Echo option (RFC 9175 §2) that this server made for this
    /// client within ServerConfig::echo_freshness: the request is fresh and the client proved
    /// it receives at its address. A handler that needs that answers
    /// `Response::echo_challenge()` otherwise, and the client repeats the request with the
    /// Echo value.
    bool echo_verified() const noexcept {
        return services_ != nullptr && services_->echo_verified(*this);
    }
    /// True once defer() was called for this request, whether or not a slot was free.
    bool deferral_requested() const noexcept { return deferral_requested_; }
    /// Used by the server core to offer its services to handlers.
    void set_services(detail::RequestServices* services) noexcept { services_ = services; }
    /// Used by the server core: the reassembled body of a block-wise upload, given by payload().
    void set_payload(Bytes body) noexcept { body_ = body; }

    /// The whole parsed message, for anything the accessors above do not cover.
    const MessageView& message() const noexcept { return *message_; }

    /// Used by the router to record captured parameters.
    bool add_param(std::string_view name, std::string_view value) noexcept;
    /// Used by the router before trying the next route.
    void clear_params() noexcept { param_count_ = 0; }

  private:
    const MessageView* message_;
    std::optional<Bytes> body_{};
    const Endpoint* peer_;
    Arena* arena_;
    bool secure_;
    bool deferral_requested_ = false;
    std::string_view psk_identity_{};
    detail::RequestServices* services_ = nullptr;
    std::uint8_t param_count_ = 0;
    std::array<RouteParam, max_params> params_{};
};

}  // namespace coap
