// URI helpers (RFC 7252 §6; URI syntax from RFC 3986, IPv6 zone identifiers from RFC 6874).
#include "coap/uri.hpp"

#include <optional>

#include "coap/message.hpp"

namespace coap {

std::string_view describe(UriError error) noexcept {
    switch (error) {
        case UriError::not_absolute:
            return "not an absolute URI";
        case UriError::unsupported_scheme:
            return "scheme is not coap or coaps";
        case UriError::missing_authority:
            return "missing \"//\" authority";
        case UriError::fragment:
            return "URI has a fragment";
        case UriError::empty_host:
            return "empty host";
        case UriError::unterminated_ip_literal:
            return "unterminated IP literal";
        case UriError::bad_host:
            return "invalid host";
        case UriError::bad_port:
            return "invalid port";
        case UriError::bad_percent_encoding:
            return "invalid percent-encoding";
        case UriError::bad_character:
            return "character not allowed in path or query";
        case UriError::option_too_long:
            return "URI option value longer than 255 bytes";
        case UriError::too_many_options:
            return "too many URI options for the builder";
        case UriError::storage_exhausted:
            return "URI option values exceed the builder storage";
        case UriError::bad_option:
            return "invalid Uri-Host or Uri-Port option";
        case UriError::buffer_too_small:
            return "output buffer too small";
    }
    return "unknown URI error";
}

namespace {

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

bool equals_lowercase(std::string_view text, std::string_view lower) noexcept {
    if (text.size() != lower.size()) return false;
    for (std::size_t i = 0; i < text.size(); ++i)
        if (to_lower(text[i]) != lower[i]) return false;
    return true;
}

// ---- Percent-encoding (RFC 3986 §2.1) -------------------------------------------------------

// Checks that `raw` has only `allowed` characters and well-formed percent-encodings, and
// returns the length it decodes to.
Expected<std::size_t, UriError> decoded_length(std::string_view raw,
                                               bool (*allowed)(char)) noexcept {
    std::size_t length = 0;
    for (std::size_t i = 0; i < raw.size(); ++length) {
        char c = raw[i];
        if (c == '%') {
            if (raw.size() - i < 3 || !is_hex(raw[i + 1]) || !is_hex(raw[i + 2]))
                return unexpected(UriError::bad_percent_encoding);
            i += 3;
        } else {
            if (!allowed(c)) return unexpected(UriError::bad_character);
            ++i;
        }
    }
    return length;
}

// Decodes `raw`, already checked by `decoded_length`, into `out`.
void percent_decode(std::string_view raw, std::uint8_t* out) noexcept {
    for (std::size_t i = 0; i < raw.size();) {
        if (raw[i] == '%') {
            *out++ =
                static_cast<std::uint8_t>((hex_value(raw[i + 1]) << 4) | hex_value(raw[i + 2]));
            i += 3;
        } else {
            *out++ = static_cast<std::uint8_t>(raw[i]);
            ++i;
        }
    }
}

// ---- Host syntax (RFC 3986 §3.2.2, RFC 6874) ------------------------------------------------

// dec-octet "." dec-octet "." dec-octet "." dec-octet, with no leading zeros.
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

// IPv6address: eight groups of 1-4 hex digits, at most one "::" standing for one or more zero
// groups, and optionally a trailing IPv4 address standing for the last two groups.
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

// The inside of an IP-literal's brackets: IPv6address [ "%25" ZoneID ] / IPvFuture.
bool is_ip_literal_body(std::string_view text) noexcept {
    if (is_ipv_future(text)) return true;
    std::size_t percent = text.find('%');
    if (percent == std::string_view::npos) return is_ipv6(text);
    std::string_view zone = slice(text, percent);
    if (!zone.starts_with("%25") || zone.size() == 3) return false;
    auto zone_length = decoded_length(slice(zone, 3), is_zone_char);
    return zone_length.has_value() && is_ipv6(slice(text, 0, percent));
}

struct Authority {
    std::string_view host;
    HostKind kind;
    std::uint16_t port;
};

// authority = host [ ":" port ], with no userinfo in "coap" and "coaps" URIs (RFC 7252 §6.1).
Expected<Authority, UriError> split_authority(std::string_view authority,
                                              std::uint16_t default_port_value) noexcept {
    Authority result{{}, HostKind::reg_name, default_port_value};
    std::string_view rest;
    if (authority.starts_with('[')) {
        std::size_t close = authority.find(']');
        if (close == std::string_view::npos) return unexpected(UriError::unterminated_ip_literal);
        result.host = slice(authority, 1, close - 1);
        result.kind = HostKind::ip_literal;
        if (!is_ip_literal_body(result.host)) return unexpected(UriError::bad_host);
        rest = slice(authority, close + 1);
        if (!rest.empty() && rest.front() != ':') return unexpected(UriError::bad_host);
    } else {
        std::size_t colon = authority.find(':');
        result.host = slice(authority, 0, colon);
        rest = colon == std::string_view::npos ? std::string_view{} : slice(authority, colon);
        // RFC 7252 §6.1: the host MUST NOT be empty.
        if (result.host.empty()) return unexpected(UriError::empty_host);
        if (is_ipv4(result.host)) {
            result.kind = HostKind::ipv4;
        } else {
            auto checked = decoded_length(result.host, is_reg_name_char);
            if (!checked) {
                return unexpected(checked.error() == UriError::bad_character ? UriError::bad_host
                                                                             : checked.error());
            }
        }
    }
    // RFC 7252 §6.1, §6.2: an empty or absent port means the scheme's default.
    if (rest.size() > 1) {
        std::uint32_t port = 0;
        for (char c : slice(rest, 1)) {
            if (!is_digit(c)) return unexpected(UriError::bad_port);
            port = port * 10 + static_cast<std::uint32_t>(c - '0');
            if (port > 65535) return unexpected(UriError::bad_port);
        }
        result.port = static_cast<std::uint16_t>(port);
    }
    return result;
}

}  // namespace

Expected<UriParts, UriError> split_uri(std::string_view uri) noexcept {
    // RFC 7252 §6.4 step 1: an absolute URI starts with a scheme,
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"
    std::size_t scheme_end = 0;
    while (scheme_end < uri.size() &&
           (is_alpha(uri[scheme_end]) ||
            (scheme_end > 0 && (is_digit(uri[scheme_end]) || uri[scheme_end] == '+' ||
                                uri[scheme_end] == '-' || uri[scheme_end] == '.')))) {
        ++scheme_end;
    }
    if (scheme_end == 0 || scheme_end == uri.size() || uri[scheme_end] != ':')
        return unexpected(UriError::not_absolute);

    // RFC 7252 §6.4 step 3: the scheme, in ASCII lowercase, must be "coap" or "coaps".
    UriParts parts;
    std::string_view scheme = slice(uri, 0, scheme_end);
    if (equals_lowercase(scheme, "coaps")) {
        parts.secure = true;
    } else if (!equals_lowercase(scheme, "coap")) {
        return unexpected(UriError::unsupported_scheme);
    }
    parts.port = default_port(parts.secure);

    // RFC 7252 §6.4 step 4: fail if there is a fragment.
    if (uri.find('#') != std::string_view::npos) return unexpected(UriError::fragment);

    // RFC 7252 §6.1: "coap:" "//" host [ ":" port ] path-abempty [ "?" query ]
    std::string_view rest = slice(uri, scheme_end + 1);
    if (!rest.starts_with("//")) return unexpected(UriError::missing_authority);
    rest.remove_prefix(2);

    std::size_t authority_end = rest.find_first_of("/?");
    if (authority_end == std::string_view::npos) authority_end = rest.size();
    auto authority = split_authority(slice(rest, 0, authority_end), parts.port);
    if (!authority) return unexpected(authority.error());
    parts.host = authority->host;
    parts.host_kind = authority->kind;
    parts.port = authority->port;
    rest.remove_prefix(authority_end);

    std::size_t question = rest.find('?');
    parts.path = slice(rest, 0, question);
    if (question != std::string_view::npos) {
        parts.has_query = true;
        parts.query = slice(rest, question + 1);
    }
    auto path_check = decoded_length(parts.path, is_path_char);
    if (!path_check) return unexpected(path_check.error());
    auto query_check = decoded_length(parts.query, is_query_char);
    if (!query_check) return unexpected(query_check.error());
    return parts;
}

// ---- Decomposing into options (RFC 7252 §6.4) -----------------------------------------------

Expected<std::size_t, UriError> UriOptionsBase::rollback(Mark before, UriError error) noexcept {
    count_ = before.count;
    used_ = before.used;
    return unexpected(error);
}

Expected<std::size_t, UriError> UriOptionsBase::push(OptionNumber number, std::string_view raw,
                                                     Component component) noexcept {
    bool (*allowed)(char) = component == Component::host   ? is_reg_name_char
                            : component == Component::path ? is_pchar
                                                           : is_query_char;
    auto length = decoded_length(raw, allowed);
    if (!length) {
        if (component == Component::host && length.error() == UriError::bad_character)
            return unexpected(UriError::bad_host);
        return unexpected(length.error());
    }
    // RFC 7252 §5.10: Uri-Host, Uri-Path and Uri-Query values are at most 255 bytes.
    if (*length > max_uri_option_length) return unexpected(UriError::option_too_long);
    if (count_ == options_.size()) return unexpected(UriError::too_many_options);
    if (bytes_.size() - used_ < *length) return unexpected(UriError::storage_exhausted);

    std::uint8_t* value = bytes_.data() + used_;
    percent_decode(raw, value);
    if (component == Component::host) {
        // RFC 7252 §6.4 step 5 lowercases the host and then decodes it. Lowercasing the decoded
        // bytes too makes "%45xample.com" give the same Uri-Host as "example.com", which §6.3
        // requires of equivalent URIs; bytes outside A-Z are untouched.
        for (std::size_t i = 0; i < *length; ++i)
            value[i] = static_cast<std::uint8_t>(to_lower(static_cast<char>(value[i])));
    }
    options_[count_++] = Option{number, Bytes{value, *length}};
    used_ += *length;
    return std::size_t{1};
}

Expected<std::size_t, UriError> UriOptionsBase::push_segments(std::string_view path) noexcept {
    // RFC 7252 §6.4 step 8: an empty path or "/" gives no Uri-Path; otherwise one Uri-Path per
    // segment, not including the delimiting slashes.
    if (path.empty() || path == "/") return std::size_t{0};
    if (path.front() == '/') path.remove_prefix(1);
    // RFC 7252 §6.4 step 2 resolves the URI (RFC 3986 §5.2), which removes the dot-segments
    // "." and ".." (§5.2.4). Done per segment: ".." drops the last segment this call pushed (its
    // bytes are the last ones in storage), and a final "." or ".." leaves a trailing '/', that
    // is an empty last segment.
    const std::size_t first = count_;
    while (true) {
        std::size_t slash = path.find('/');
        std::string_view segment = slice(path, 0, slash);
        bool last = slash == std::string_view::npos;
        bool dot = segment == ".";
        bool dot_dot = segment == "..";
        if (dot_dot && count_ > first) {
            --count_;
            used_ -= options_[count_].value.size();
        }
        if (!(dot || dot_dot) || last) {
            auto pushed = push(OptionNumber::uri_path,
                               dot || dot_dot ? std::string_view{} : segment, Component::path);
            if (!pushed) return pushed;
        }
        if (last) break;
        path.remove_prefix(slash + 1);
    }
    // A path that resolved to "/" (such as "/a/..") gives no Uri-Path either.
    if (count_ == first + 1 && options_[first].value.empty()) count_ = first;
    return count_ - first;
}

Expected<std::size_t, UriError> UriOptionsBase::push_arguments(std::string_view query) noexcept {
    // RFC 7252 §6.4 step 9: one Uri-Query per argument, not including the '?' and the
    // delimiting '&' characters.
    std::size_t added = 0;
    while (true) {
        std::size_t amp = query.find('&');
        auto pushed = push(OptionNumber::uri_query, slice(query, 0, amp), Component::query);
        if (!pushed) return pushed;
        ++added;
        if (amp == std::string_view::npos) return added;
        query.remove_prefix(amp + 1);
    }
}

Expected<std::size_t, UriError> UriOptionsBase::append_parts(const UriParts& parts) noexcept {
    Mark before = mark();
    std::size_t added = 0;
    // RFC 7252 §6.4 step 5: Uri-Host only for a reg-name; an IP address is the destination.
    if (parts.needs_uri_host()) {
        if (parts.host.empty()) return unexpected(UriError::empty_host);
        auto host = push(OptionNumber::uri_host, parts.host, Component::host);
        if (!host) return rollback(before, host.error());
        added += *host;
    }
    // RFC 7252 §6.4 steps 6 and 7: no Uri-Port, the request goes to `parts.port`.
    auto path = push_segments(parts.path);
    if (!path) return rollback(before, path.error());
    added += *path;
    if (parts.has_query) {
        auto query = push_arguments(parts.query);
        if (!query) return rollback(before, query.error());
        added += *query;
    }
    return added;
}

Expected<UriParts, UriError> UriOptionsBase::append_uri(std::string_view uri) noexcept {
    auto parts = split_uri(uri);
    if (!parts) return parts;
    auto added = append_parts(*parts);
    if (!added) return unexpected(added.error());
    return parts;
}

Expected<std::size_t, UriError> UriOptionsBase::append_path_and_query(
    std::string_view reference) noexcept {
    if (reference.find('#') != std::string_view::npos) return unexpected(UriError::fragment);
    std::size_t question = reference.find('?');
    Mark before = mark();
    auto path = push_segments(slice(reference, 0, question));
    if (!path) return rollback(before, path.error());
    if (question == std::string_view::npos) return path;
    auto query = push_arguments(slice(reference, question + 1));
    if (!query) return rollback(before, query.error());
    return *path + *query;
}

Expected<std::size_t, UriError> UriOptionsBase::append_path(std::string_view path) noexcept {
    Mark before = mark();
    auto added = push_segments(path);
    if (!added) return rollback(before, added.error());
    return added;
}

Expected<std::size_t, UriError> UriOptionsBase::append_query(std::string_view query) noexcept {
    if (query.empty()) return std::size_t{0};
    Mark before = mark();
    auto added = push_arguments(query);
    if (!added) return rollback(before, added.error());
    return added;
}

// ---- Composing from options (RFC 7252 §6.5) -------------------------------------------------

namespace {

// Writes as much as fits and counts everything, so that overflow is detected once at the end.
class UriWriter {
  public:
    explicit UriWriter(std::span<char> out) noexcept : out_(out) {}

    void put(char c) noexcept {
        if (length_ < out_.size()) out_[length_] = c;
        ++length_;
    }
    void put(std::string_view text) noexcept {
        for (char c : text)
            put(c);
    }
    // RFC 7252 §6.5: percent-encoding uses uppercase hexadecimal digits.
    void put_encoded(std::uint8_t byte) noexcept {
        constexpr std::string_view digits = "0123456789ABCDEF";
        put('%');
        put(digits[byte >> 4]);
        put(digits[byte & 0x0f]);
    }
    void put_decimal(std::uint16_t value) noexcept {
        char digits[5];
        std::size_t count = 0;
        do {
            digits[count++] = static_cast<char>('0' + value % 10);
            value = static_cast<std::uint16_t>(value / 10);
        } while (value != 0);
        while (count > 0)
            put(digits[--count]);
    }
    // Copies bytes for which `keep` holds and percent-encodes the rest.
    void put_value(Bytes value, bool (*keep)(char)) noexcept {
        for (std::uint8_t byte : value) {
            char c = static_cast<char>(byte);
            if (byte < 0x80 && keep(c)) {
                put(c);
            } else {
                put_encoded(byte);
            }
        }
    }

    Expected<std::size_t, UriError> finish() const noexcept {
        if (length_ > out_.size()) return unexpected(UriError::buffer_too_small);
        return length_;
    }

  private:
    std::span<char> out_;
    std::size_t length_ = 0;
};

// RFC 7252 §6.5 step 6: keep unreserved, sub-delims, ':' and '@' in a path segment.
bool keep_in_segment(char c) noexcept {
    return is_pchar(c);
}
// RFC 7252 §6.5 step 6, with one exception: a segment that is exactly "." or ".." would be a
// dot-segment, which decomposing removes (§6.4 step 2, RFC 3986 §5.2.4), so its dots are
// percent-encoded ("%2E", "%2E%2E"): the URI then decomposes back to the same Uri-Path.
void write_segment(UriWriter& writer, Bytes value) noexcept {
    std::string_view text = as_string(value);
    if (text == "." || text == "..") {
        for (std::uint8_t byte : value)
            writer.put_encoded(byte);
        return;
    }
    writer.put_value(value, keep_in_segment);
}
// RFC 7252 §6.5 step 8: in a query argument keep those but '&', plus '/' and '?'.
bool keep_in_argument(char c) noexcept {
    return c != '&' && is_query_char(c);
}

// RFC 7252 §6.5 step 2: a Uri-Host with non-ASCII bytes percent-encoded must be a valid
// reg-name, IP-literal or IPv4address. A '%' is encoded as well, so that the URI decodes back
// to exactly the option's value.
bool write_uri_host(UriWriter& writer, Bytes value) noexcept {
    std::string_view text = as_string(value);
    if (text.empty()) return false;
    if (text.front() == '[') {
        if (text.size() < 2 || text.back() != ']' ||
            !is_ip_literal_body(slice(text, 1, text.size() - 2))) {
            return false;
        }
        writer.put(text);
        return true;
    }
    for (char c : text) {
        auto byte = static_cast<std::uint8_t>(c);
        if (byte < 0x80 && c != '%' && !is_reg_name_char(c)) return false;
    }
    writer.put_value(value, is_reg_name_char);
    return true;
}

// RFC 7252 §6.5 step 2: without Uri-Host, the destination IP address; IPv6 in brackets, with a
// zone's '%' written as "%25" (RFC 6874).
Expected<bool, UriError> write_destination_host(UriWriter& writer, std::string_view host) noexcept {
    if (host.empty()) return unexpected(UriError::empty_host);
    if (host.front() == '[' || host.find(':') == std::string_view::npos) {
        if (!write_uri_host(writer, as_bytes(host))) return unexpected(UriError::bad_host);
        return true;
    }
    std::size_t percent = host.find('%');
    std::string_view address = slice(host, 0, percent);
    if (!is_ipv6(address)) return unexpected(UriError::bad_host);
    writer.put('[');
    writer.put(address);
    if (percent != std::string_view::npos) {
        std::string_view zone = slice(host, percent + 1);
        if (zone.empty()) return unexpected(UriError::bad_host);
        writer.put("%25");
        writer.put_value(as_bytes(zone), is_zone_char);
    }
    writer.put(']');
    return true;
}

// The options of a request, seen through `first(number)` and `each(number, visit)`.
struct SpanSource {
    std::span<const Option> options;

    std::optional<Option> first(OptionNumber number) const noexcept {
        for (const Option& option : options)
            if (option.number == number) return option;
        return std::nullopt;
    }
    template <class Visit>
    void each(OptionNumber number, Visit&& visit) const noexcept {
        for (const Option& option : options)
            if (option.number == number) visit(option);
    }
};

struct MessageSource {
    const MessageView& message;

    std::optional<Option> first(OptionNumber number) const noexcept { return message.find(number); }
    template <class Visit>
    void each(OptionNumber number, Visit&& visit) const noexcept {
        for (const Option& option : message.options(number))
            visit(option);
    }
};

template <class Source>
Expected<std::size_t, UriError> compose(const Source& source, const UriDestination& destination,
                                        std::span<char> out) noexcept {
    UriWriter writer(out);
    // RFC 7252 §6.5 step 1.
    writer.put(destination.secure ? "coaps://" : "coap://");

    // RFC 7252 §6.5 steps 2 and 3.
    if (auto host = source.first(OptionNumber::uri_host)) {
        if (!write_uri_host(writer, host->value)) return unexpected(UriError::bad_option);
    } else {
        auto written = write_destination_host(writer, destination.host);
        if (!written) return unexpected(written.error());
    }

    // RFC 7252 §6.5 steps 4 and 5.
    std::uint16_t port = destination.port;
    if (auto port_option = source.first(OptionNumber::uri_port)) {
        auto value = port_option->as_uint();
        if (!value || *value > 65535) return unexpected(UriError::bad_option);
        port = static_cast<std::uint16_t>(*value);
    }
    if (port != default_port(destination.secure)) {
        writer.put(':');
        writer.put_decimal(port);
    }

    // RFC 7252 §6.5 steps 6, 7 and 9: "/" and each Uri-Path; "/" alone when there is none.
    bool has_path = false;
    source.each(OptionNumber::uri_path, [&](const Option& segment) {
        writer.put('/');
        write_segment(writer, segment.value);
        has_path = true;
    });
    if (!has_path) writer.put('/');

    // RFC 7252 §6.5 step 8: '?' before the first Uri-Query, '&' before each further one.
    bool first_argument = true;
    source.each(OptionNumber::uri_query, [&](const Option& argument) {
        writer.put(first_argument ? '?' : '&');
        writer.put_value(argument.value, keep_in_argument);
        first_argument = false;
    });

    // RFC 7252 §6.5 step 10.
    return writer.finish();
}

}  // namespace

Expected<std::size_t, UriError> compose_uri(std::span<const Option> options,
                                            const UriDestination& destination,
                                            std::span<char> out) noexcept {
    return compose(SpanSource{options}, destination, out);
}

Expected<std::size_t, UriError> compose_uri(const MessageView& request,
                                            const UriDestination& destination,
                                            std::span<char> out) noexcept {
    return compose(MessageSource{request}, destination, out);
}

}  // namespace coap
