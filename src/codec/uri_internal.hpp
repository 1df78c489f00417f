// Internal: the URI syntax shared by splitting (uri_parse.cpp), composing (uri_compose.cpp),
// percent-encoding (uri_percent.cpp) and host checks (uri_host.cpp). RFC 3986 and RFC 6874.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "coap/expected.hpp"
#include "coap/uri.hpp"

namespace coap::uri_detail {

// string_view::substr without its out_of_range check, so that no throwing path is compiled
// in. Callers guarantee `pos <= text.size()`; `count` is clamped like substr's.
constexpr std::string_view slice(std::string_view text, std::size_t pos,
                                 std::size_t count = std::string_view::npos) noexcept {
    std::size_t available = text.size() - pos;
    return {text.data() + pos, count < available ? count : available};
}

// ---- Character classes (RFC 3986 §2.2, §2.3) ------------------------------------------------

constexpr bool is_alpha(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}
constexpr bool is_hex(char c) noexcept {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
constexpr bool is_unreserved(char c) noexcept {
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
constexpr bool is_sub_delim(char c) noexcept {
    return std::string_view("!$&'()*+,;=").find(c) != std::string_view::npos;
}
// reg-name = *( unreserved / pct-encoded / sub-delims )
constexpr bool is_reg_name_char(char c) noexcept {
    return is_unreserved(c) || is_sub_delim(c);
}
// pchar = unreserved / pct-encoded / sub-delims / ":" / "@"
constexpr bool is_pchar(char c) noexcept {
    return is_reg_name_char(c) || c == ':' || c == '@';
}
constexpr bool is_path_char(char c) noexcept {
    return is_pchar(c) || c == '/';
}
// query = *( pchar / "/" / "?" )
constexpr bool is_query_char(char c) noexcept {
    return is_pchar(c) || c == '/' || c == '?';
}
// RFC 6874: ZoneID = 1*( unreserved / pct-encoded )
constexpr bool is_zone_char(char c) noexcept {
    return is_unreserved(c);
}

constexpr std::uint8_t hex_value(char c) noexcept {
    if (is_digit(c)) return static_cast<std::uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
    return static_cast<std::uint8_t>(c - 'A' + 10);
}

constexpr char to_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline bool equals_lowercase(std::string_view text, std::string_view lower) noexcept {
    if (text.size() != lower.size()) return false;
    for (std::size_t i = 0; i < text.size(); ++i)
        if (to_lower(text[i]) != lower[i]) return false;
    return true;
}

// ---- Percent-encoding (RFC 3986 §2.1), uri_percent.cpp --------------------------------------

// Checks that `raw` has only `allowed` characters and well-formed percent-encodings, and
// returns the length it decodes to.
Expected<std::size_t, UriError> decoded_length(std::string_view raw,
                                               bool (*allowed)(char)) noexcept;

// Decodes `raw`, already checked by `decoded_length`, into `out`.
void percent_decode(std::string_view raw, std::uint8_t* out) noexcept;

// ---- Host syntax (RFC 3986 §3.2.2, RFC 6874), uri_host.cpp ----------------------------------

// dec-octet "." dec-octet "." dec-octet "." dec-octet, with no leading zeros.
bool is_ipv4(std::string_view text) noexcept;

// IPv6address: eight groups of 1-4 hex digits, at most one "::" standing for one or more zero
// groups, and optionally a trailing IPv4 address standing for the last two groups.
bool is_ipv6(std::string_view text) noexcept;

// The inside of an IP-literal's brackets: IPv6address [ "%25" ZoneID ] / IPvFuture.
bool is_ip_literal_body(std::string_view text) noexcept;

}  // namespace coap::uri_detail
