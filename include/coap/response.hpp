// What a handler returns: a code, options and a payload, with no heap allocation.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "coap/bytes.hpp"
#include "coap/codes.hpp"
#include "coap/content_format.hpp"
#include "coap/export.hpp"
#include "coap/option.hpp"

namespace coap {

/// A response built by a handler. Payloads and option values passed by view must outlive the
/// handler call (static data, the request, or the request's arena). Small values (uints,
/// ETags up to 8 bytes, short Location-Path segments) can be copied into the response itself
/// with the `*_copy` setters and the uint helpers, so a response is safe to return by value.
///
/// Adding more than `max_options` options, or more than `inline_bytes` of copied values, marks
/// the response as overflowed; the server then answers 5.00 instead of a truncated response.
class COAP_API Response {
  public:
    /// The most options one response holds.
    static constexpr std::size_t max_options = 16;
    /// Room for option values copied into the response.
    static constexpr std::size_t inline_bytes = 96;

    /// 2.05 Content with no payload and no options.
    constexpr Response() noexcept = default;
    /// A response with `code` and a borrowed payload.
    constexpr explicit Response(Code code, Bytes payload = {}) noexcept
        : code_(code), payload_(payload) {}

    // 2.xx
    /// 2.05 Content with a payload (no Content-Format).
    static Response ok(Bytes payload = {}) noexcept { return Response(Code::content, payload); }
    /// 2.05 Content with a text payload (no Content-Format).
    static Response ok(std::string_view text) noexcept { return ok(as_bytes(text)); }
    /// 2.05 Content with a Content-Format option.
    static Response content(ContentFormat format, Bytes payload) noexcept;
    /// 2.05 Content with a Content-Format option and a text payload.
    static Response content(ContentFormat format, std::string_view text) noexcept {
        return content(format, as_bytes(text));
    }
    /// 2.01 Created, no payload.
    static Response created() noexcept { return Response(Code::created); }
    /// 2.02 Deleted, no payload.
    static Response deleted() noexcept { return Response(Code::deleted); }
    /// 2.03 Valid, no payload.
    static Response valid() noexcept { return Response(Code::valid); }
    /// 2.04 Changed, no payload.
    static Response changed() noexcept { return Response(Code::changed); }
    // 4.xx
    /// 4.00 Bad Request, no payload.
    static Response bad_request() noexcept { return Response(Code::bad_request); }
    /// 4.01 Unauthorized, no payload.
    static Response unauthorized() noexcept { return Response(Code::unauthorized); }
    /// 4.02 Bad Option, no payload.
    static Response bad_option() noexcept { return Response(Code::bad_option); }
    /// 4.03 Forbidden, no payload.
    static Response forbidden() noexcept { return Response(Code::forbidden); }
    /// 4.04 Not Found, no payload.
    static Response not_found() noexcept { return Response(Code::not_found); }
    /// 4.05 Method Not Allowed, no payload.
    static Response method_not_allowed() noexcept { return Response(Code::method_not_allowed); }
    /// 4.06 Not Acceptable, no payload.
    static Response not_acceptable() noexcept { return Response(Code::not_acceptable); }
    /// 4.12 Precondition Failed, no payload.
    static Response precondition_failed() noexcept { return Response(Code::precondition_failed); }
    /// 4.13 Request Entity Too Large, no payload.
    static Response request_entity_too_large() noexcept {
        return Response(Code::request_entity_too_large);
    }
    /// 4.15 Unsupported Content-Format, no payload.
    static Response unsupported_content_format() noexcept {
        return Response(Code::unsupported_content_format);
    }
    // 5.xx
    /// 5.00 Internal Server Error, no payload.
    static Response internal_server_error() noexcept {
        return Response(Code::internal_server_error);
    }
    /// 4.01 Unauthorized with a fresh Echo option (RFC 9175 §2.3), which the server adds: the
    /// client repeats the request with that value, and Request::echo_verified() is then true.
    static Response echo_challenge() noexcept {
        Response response(Code::unauthorized);
        response.echo_requested_ = true;
        return response;
    }
    /// Any code, e.g. `Response::with_code(Code::gateway_timeout)`.
    static Response with_code(Code code) noexcept { return Response(code); }

    /// Adds an option whose value is borrowed (it must outlive the handler call).
    Response& option(OptionNumber number, Bytes value) noexcept;
    /// Adds an option whose text value is borrowed.
    Response& option(OptionNumber number, std::string_view value) noexcept {
        return option(number, as_bytes(value));
    }
    /// Adds an option whose value is copied into the response.
    Response& option_copy(OptionNumber number, Bytes value) noexcept;
    /// Adds a uint option in its shortest encoding (copied).
    Response& uint_option(OptionNumber number, std::uint32_t value) noexcept;

    /// Adds a Content-Format option (copied).
    Response& content_format(ContentFormat format) noexcept {
        return uint_option(OptionNumber::content_format, to_int(format));
    }
    /// Adds a Max-Age option in seconds (copied, RFC 7252 §5.10.5).
    Response& max_age(std::uint32_t seconds) noexcept {
        return uint_option(OptionNumber::max_age, seconds);
    }
    /// Adds an ETag (1-8 bytes, copied).
    Response& etag(Bytes tag) noexcept { return option_copy(OptionNumber::etag, tag); }
    /// Adds one Location-Path segment (borrowed); call once per segment.
    Response& location_path(std::string_view segment) noexcept {
        return option(OptionNumber::location_path, segment);
    }
    /// Adds one Location-Query argument (borrowed).
    Response& location_query(std::string_view argument) noexcept {
        return option(OptionNumber::location_query, argument);
    }
    /// Sets the payload (borrowed).
    Response& payload(Bytes bytes) noexcept {
        payload_ = bytes;
        return *this;
    }
    /// Sets a text payload (borrowed).
    Response& payload(std::string_view text) noexcept { return payload(as_bytes(text)); }
    /// Replaces the code.
    Response& code(Code value) noexcept {
        code_ = value;
        return *this;
    }

    /// The response code.
    Code code() const noexcept { return code_; }
    /// The payload, empty when none was set.
    Bytes payload() const noexcept { return payload_; }
    /// How many options were added.
    std::size_t option_count() const noexcept { return option_count_; }
    /// The i-th option in the order added; the value may point into this response.
    Option option_at(std::size_t index) const noexcept;
    /// The first option with `number`, if any.
    std::optional<Option> find(OptionNumber number) const noexcept;
    /// True when an option or copied value did not fit (see the class comment).
    bool overflowed() const noexcept { return overflowed_; }
    /// True for echo_challenge(): the server adds an Echo option.
    bool echo_requested() const noexcept { return echo_requested_; }

  private:
    struct Slot {
        OptionNumber number;
        bool inline_value;
        std::uint16_t length;
        std::uint16_t offset;      // into inline_ when inline_value
        const std::uint8_t* data;  // borrowed value otherwise
    };

    Code code_ = Code::content;
    bool overflowed_ = false;
    bool echo_requested_ = false;
    std::uint8_t option_count_ = 0;
    std::uint8_t inline_used_ = 0;
    Bytes payload_{};
    std::array<Slot, max_options> slots_{};
    std::array<std::uint8_t, inline_bytes> inline_{};
};

}  // namespace coap
