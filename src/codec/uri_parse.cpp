// Splitting "coap" and "coaps" URIs into their parts and into Uri-Host, Uri-Path and Uri-Query
// options (RFC 7252 §6.1, §6.2, §6.4; URI syntax from RFC 3986).
#include "coap/uri.hpp"

#include "codec/uri_internal.hpp"

namespace coap {

using namespace uri_detail;

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

}  // namespace coap
