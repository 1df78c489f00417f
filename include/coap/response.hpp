// What a handler returns: a code, options and a payload, with no heap allocation.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "coap/bytes.hpp"
#include "coap/codes.hpp"
#include "coap/content_format.hpp"
#include "coap/option.hpp"

namespace coap {

/// A response built by a handler. Payloads and option values passed by view must outlive the
/// handler call (static data, the request, or the request's arena). Small values (uints,
/// ETags up to 8 bytes, short Location-Path segments) can be copied into the response itself
/// with the `*_copy` setters and the uint helpers, so a response is safe to return by value.
///
/// Adding more than `max_options` options, or more than `inline_bytes` of copied values, marks
/// the response as overflowed; the server then answers 5.00 instead of a truncated response.
class Response {
  public:
    static constexpr std::size_t max_options = 16;
    static constexpr std::size_t inline_bytes = 96;

    constexpr Response() noexcept = default;
    constexpr explicit Response(Code code, Bytes payload = {}) noexcept
        : code_(code), payload_(payload) {}

    // 2.xx
    /// 2.05 Content with a payload (no Content-Format).
    static Response ok(Bytes payload = {}) noexcept { return Response(Code::content, payload); }
    static Response ok(std::string_view text) noexcept { return ok(as_bytes(text)); }
    /// 2.05 Content with a Content-Format option.
    static Response content(ContentFormat format, Bytes payload) noexcept;
    static Response content(ContentFormat format, std::string_view text) noexcept {
        return content(format, as_bytes(text));
    }
    static Response created() noexcept { return Response(Code::created); }
    static Response deleted() noexcept { return Response(Code::deleted); }
    static Response valid() noexcept { return Response(Code::valid); }
    static Response changed() noexcept { return Response(Code::changed); }
    // 4.xx
    static Response bad_request() noexcept { return Response(Code::bad_request); }
    static Response unauthorized() noexcept { return Response(Code::unauthorized); }
    static Response bad_option() noexcept { return Response(Code::bad_option); }
    static Response forbidden() noexcept { return Response(Code::forbidden); }
    static Response not_found() noexcept { return Response(Code::not_found); }
    static Response method_not_allowed() noexcept { return Response(Code::method_not_allowed); }
    static Response not_acceptable() noexcept { return Response(Code::not_acceptable); }
    static Response precondition_failed() noexcept { return Response(Code::precondition_failed); }
    static Response request_entity_too_large() noexcept {
        return Response(Code::request_entity_too_large);
    }
    static Response unsupported_content_format() noexcept {
        return Response(Code::unsupported_content_format);
    }
    // 5.xx
    static Response internal_server_error() noexcept {
        return Response(Code::internal_server_error);
    }
    /// Any code, e.g. `Response::with_code(Code::gateway_timeout)`.
    static Response with_code(Code code) noexcept { return Response(code); }

    /// Adds an option whose value is borrowed (it must outlive the handler call).
    Response& option(OptionNumber number, Bytes value) noexcept;
    Response& option(OptionNumber number, std::string_view value) noexcept {
        return option(number, as_bytes(value));
    }
    /// Adds an option whose value is copied into the response.
    Response& option_copy(OptionNumber number, Bytes value) noexcept;
    /// Adds a uint option in its shortest encoding (copied).
    Response& uint_option(OptionNumber number, std::uint32_t value) noexcept;

    Response& content_format(ContentFormat format) noexcept {
        return uint_option(OptionNumber::content_format, to_int(format));
    }
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
    Response& payload(Bytes bytes) noexcept {
        payload_ = bytes;
        return *this;
    }
    Response& payload(std::string_view text) noexcept { return payload(as_bytes(text)); }
    Response& code(Code value) noexcept {
        code_ = value;
        return *this;
    }

    Code code() const noexcept { return code_; }
    Bytes payload() const noexcept { return payload_; }
    std::size_t option_count() const noexcept { return option_count_; }
    /// The i-th option in the order added; the value may point into this response.
    Option option_at(std::size_t index) const noexcept;
    /// The first option with `number`, if any.
    std::optional<Option> find(OptionNumber number) const noexcept;
    /// True when an option or copied value did not fit (see the class comment).
    bool overflowed() const noexcept { return overflowed_; }

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
    std::uint8_t option_count_ = 0;
    std::uint8_t inline_used_ = 0;
    Bytes payload_{};
    std::array<Slot, max_options> slots_{};
    std::array<std::uint8_t, inline_bytes> inline_{};
};

}  // namespace coap
