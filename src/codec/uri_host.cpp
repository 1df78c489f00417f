// Host syntax of URIs (RFC 3986 §3.2.2, IPv6 zone identifiers from RFC 6874): IPv4 addresses
// and the inside of IP literals, for splitting and composing alike.
#include "codec/uri_internal.hpp"

namespace coap::uri_detail {

namespace {

// IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
bool is_ipv_future(std::string_view text) noexcept {
    if (text.size() < 4 || to_lower(text[0]) != 'v') return false;
    std::size_t dot = text.find('.');
    if (dot == std::string_view::npos || dot < 2 || dot + 1 == text.size()) return false;
    for (std::size_t i = 1; i < dot; ++i)
        if (!is_hex(text[i])) return false;
    for (std::size_t i = dot + 1; i < text.size(); ++i)
        if (!is_reg_name_char(text[i]) && text[i] != ':') return false;
    return true;
}

}  // namespace

bool is_ipv4(std::string_view text) noexcept {
    int octets = 0;
    std::size_t i = 0;
    while (true) {
        std::size_t start = i;
        unsigned value = 0;
        while (i < text.size() && is_digit(text[i]) && i - start < 3) {
            value = value * 10 + static_cast<unsigned>(text[i] - '0');
            ++i;
        }
        std::size_t digits = i - start;
        if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0')) return false;
        if (++octets == 4) return i == text.size();
        if (i == text.size() || text[i] != '.') return false;
        ++i;
    }
}

bool is_ipv6(std::string_view text) noexcept {
    std::size_t groups = 0;
    bool compressed = false;
    std::size_t i = 0;
    if (text.starts_with("::")) {
        compressed = true;
        i = 2;
    } else if (text.starts_with(":")) {
        return false;
    }
    while (i < text.size()) {
        std::size_t end = text.find(':', i);
        if (end == std::string_view::npos) end = text.size();
        std::string_view token = slice(text, i, end - i);
        if (end == text.size() && token.find('.') != std::string_view::npos) {
            if (!is_ipv4(token)) return false;
            groups += 2;
            break;
        }
        if (token.empty() || token.size() > 4) return false;
        for (char c : token)
            if (!is_hex(c)) return false;
        ++groups;
        if (end == text.size()) break;
        if (end + 1 < text.size() && text[end + 1] == ':') {
            if (compressed) return false;
            compressed = true;
            i = end + 2;
        } else {
            i = end + 1;
            if (i == text.size()) return false;  // a single trailing ':'
        }
    }
    return compressed ? groups <= 7 : groups == 8;
}

bool is_ip_literal_body(std::string_view text) noexcept {
    if (is_ipv_future(text)) return true;
    std::size_t percent = text.find('%');
    if (percent == std::string_view::npos) return is_ipv6(text);
    std::string_view zone = slice(text, percent);
    if (!zone.starts_with("%25") || zone.size() == 3) return false;
    auto zone_length = decoded_length(slice(zone, 3), is_zone_char);
    return zone_length.has_value() && is_ipv6(slice(text, 0, percent));
}

}  // namespace coap::uri_detail
