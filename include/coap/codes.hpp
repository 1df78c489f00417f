// Message types, method codes and response codes (RFC 7252 §3, §5.8, §5.9, §12.1).
#pragma once

#include <cstdint>
#include <string_view>

#include "coap/export.hpp"

namespace coap {

/// The 2-bit message type (RFC 7252 §3, §4).
enum class MessageType : std::uint8_t {
    con = 0,  ///< Confirmable: acknowledged, retransmitted until then.
    non = 1,  ///< Non-confirmable.
    ack = 2,  ///< Acknowledgement of a CON message.
    rst = 3,  ///< Reset: "I got your message but cannot process it".
};

/// Short upper-case name: "CON", "NON", "ACK" or "RST".
COAP_API std::string_view type_name(MessageType type) noexcept;

/// The 8-bit code, class (3 bits) and detail (5 bits), written "c.dd" (RFC 7252 §3).
/// Any byte value is a valid `Code`; the named ones are those registered by the RFCs.
enum class Code : std::uint8_t {
    empty = 0x00,  ///< 0.00, RFC 7252 §4.1

    // Methods (RFC 7252 §12.1.1, RFC 8132 §6)
    get = 0x01,
    post = 0x02,
    put = 0x03,
    del = 0x04,  ///< DELETE (`delete` is a C++ keyword)
    fetch = 0x05,
    patch = 0x06,
    ipatch = 0x07,

    // 2.xx Success (RFC 7252 §5.9.1, RFC 7959 §2.9.1)
    created = 0x41,
    deleted = 0x42,
    valid = 0x43,
    changed = 0x44,
    content = 0x45,
    continue_ = 0x5f,  ///< 2.31 Continue (RFC 7959)

    // 4.xx Client Error (RFC 7252 §5.9.2, RFC 7959, RFC 8132, RFC 8516)
    bad_request = 0x80,
    unauthorized = 0x81,
    bad_option = 0x82,
    forbidden = 0x83,
    not_found = 0x84,
    method_not_allowed = 0x85,
    not_acceptable = 0x86,
    request_entity_incomplete = 0x88,  ///< 4.08 (RFC 7959)
    conflict = 0x89,                   ///< 4.09 (RFC 8132)
    precondition_failed = 0x8c,
    request_entity_too_large = 0x8d,
    unsupported_content_format = 0x8f,
    unprocessable_entity = 0x96,  ///< 4.22 (RFC 8132)
    too_many_requests = 0x9d,     ///< 4.29 (RFC 8516)

    // 5.xx Server Error (RFC 7252 §5.9.3, RFC 8768)
    internal_server_error = 0xa0,
    not_implemented = 0xa1,
    bad_gateway = 0xa2,
    service_unavailable = 0xa3,
    gateway_timeout = 0xa4,
    proxying_not_supported = 0xa5,
    hop_limit_reached = 0xa8,  ///< 5.08 (RFC 8768)

    // 7.xx Signaling, reliable transports only (RFC 8323 §5)
    csm = 0xe1,
    ping = 0xe2,
    pong = 0xe3,
    release = 0xe4,
    abort = 0xe5,
};

/// Builds a code from its class (0-7) and detail (0-31): `make_code(2, 5) == Code::content`.
constexpr Code make_code(unsigned code_class, unsigned detail) noexcept {
    return static_cast<Code>(((code_class & 0x7u) << 5) | (detail & 0x1fu));
}
/// The class of a code, the `c` of "c.dd" (0-7).
constexpr unsigned code_class(Code code) noexcept {
    return static_cast<std::uint8_t>(code) >> 5;
}
/// The detail of a code, the `dd` of "c.dd" (0-31).
constexpr unsigned code_detail(Code code) noexcept {
    return static_cast<std::uint8_t>(code) & 0x1fu;
}

/// A request carries a method code: class 0, detail 1-31 (RFC 7252 §5.8).
constexpr bool is_request(Code code) noexcept {
    return code_class(code) == 0 && code != Code::empty;
}
/// A response carries a code of class 2, 4 or 5 (RFC 7252 §5.9).
constexpr bool is_response(Code code) noexcept {
    unsigned c = code_class(code);
    return c == 2 || c == 4 || c == 5;
}
/// A 2.xx Success response code (RFC 7252 §5.9.1).
constexpr bool is_success(Code code) noexcept {
    return code_class(code) == 2;
}
/// A 4.xx Client Error or 5.xx Server Error response code (RFC 7252 §5.9.2, §5.9.3).
constexpr bool is_error(Code code) noexcept {
    return code_class(code) == 4 || code_class(code) == 5;
}
/// Classes 1, 3 and 6 are reserved (RFC 7252 §12.1); class 7 is signaling (RFC 8323).
constexpr bool is_reserved_class(Code code) noexcept {
    unsigned c = code_class(code);
    return c == 1 || c == 3 || c == 6;
}

/// The registered name ("Content", "GET", "Too Many Requests"), or "" for an unregistered code.
COAP_API std::string_view code_name(Code code) noexcept;

/// The dotted form "c.dd" of a code, held inline so it needs no allocation.
struct CodeText {
    char text[4];  ///< Exactly four characters, not NUL-terminated.
    /// The four characters as a view into this object.
    constexpr std::string_view view() const noexcept { return {text, 4}; }
};
/// The dotted form of `code`: `code_text(Code::content).view() == "2.05"`.
constexpr CodeText code_text(Code code) noexcept {
    unsigned detail = code_detail(code);
    return CodeText{{static_cast<char>('0' + code_class(code)), '.',
                     static_cast<char>('0' + detail / 10), static_cast<char>('0' + detail % 10)}};
}

}  // namespace coap
