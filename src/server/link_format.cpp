// CoRE Link Format (RFC 6690): generation, parsing and query filtering (§2, §3, §4.1).
#include "server/link_format.hpp"

#include <cstring>
#include <limits>
#include <stdexcept>

namespace coap::links {

namespace {

constexpr bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}
constexpr bool is_alpha(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@".
constexpr bool is_pchar(char c) noexcept {
    if (is_alpha(c) || is_digit(c)) return true;
    switch (c) {
        case '-':
        case '.':
        case '_':
        case '~':  // unreserved
        case '!':
        case '$':
        case '&':
        case '\'':
        case '(':
        case ')':  // sub-delims
        case '*':
        case '+':
        case ',':
        case ';':
        case '=':
        case ':':
        case '@':
            return true;
        default:
            return false;
    }
}

int hex_value(char c) noexcept {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// RFC 2616 §2.2: a quoted-string escapes '"' and '\' with a backslash (quoted-pair).
void append_quoted(std::string& out, std::string_view value) {
    out += '"';
    for (char c : value) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

// `cardinal *( 1*SP cardinal )`, the form of sz (RFC 6690 §3.3) and of a ct list
// (RFC 7252 §7.2.1); leading zeros are tolerated.
bool is_number_list(std::string_view text, bool allow_list) noexcept {
    bool in_number = false;
    bool any = false;
    for (char c : text) {
        if (is_digit(c)) {
            in_number = true;
            any = true;
        } else if (c == ' ' && allow_list && in_number) {
            in_number = false;
        } else {
            return false;
        }
    }
    return any && in_number;
}

// Characters that end a parmname or a ptoken (RFC 6690 §2 `ptokenchar` excludes them).
constexpr bool ends_token(char c) noexcept {
    return c == ';' || c == ',' || c == '"' || c == '\\' || is_space(c);
}

// How a target value is encoded in the document, so that it can be compared decoded.
enum class Encoding { plain, quoted, percent };

// Compares the decoded `target` with the filter value (RFC 6690 §4.1): bitwise equality for a
// Complete Value String, bitwise prefix for a Prefix Value String.
bool value_matches(std::string_view target, Encoding encoding, const Filter& filter) noexcept {
    std::size_t matched = 0;
    for (std::size_t i = 0; i < target.size(); ++i) {
        char c = target[i];
        if (encoding == Encoding::quoted && c == '\\' && i + 1 < target.size()) {
            c = target[++i];
        } else if (encoding == Encoding::percent && c == '%' && i + 2 < target.size() &&
                   hex_value(target[i + 1]) >= 0 && hex_value(target[i + 2]) >= 0) {
            c = static_cast<char>(hex_value(target[i + 1]) * 16 + hex_value(target[i + 2]));
            i += 2;
        }
        if (matched == filter.value.size()) return filter.prefix;
        if (filter.value[matched] != c) return false;
        ++matched;
    }
    return matched == filter.value.size();
}

// Attributes whose value is a space-separated list, each item matched on its own:
// relation-types (RFC 6690 §2, §4.1: rel, rev, rt, if) and ct (RFC 7252 §7.2.1).
bool is_list_attribute(std::string_view name) noexcept {
    return name == "rt" || name == "if" || name == "rel" || name == "rev" || name == "ct";
}

bool attribute_matches(std::string_view value, bool quoted, bool list,
                       const Filter& filter) noexcept {
    Encoding encoding = quoted ? Encoding::quoted : Encoding::plain;
    if (!list) return value_matches(value, encoding, filter);
    // RFC 6690 §4.1: "each value MUST be treated as a separate target attribute when matching".
    bool any_item = false;
    std::size_t start = 0;
    while (start <= value.size()) {
        std::size_t end = value.find(' ', start);
        if (end == std::string_view::npos) end = value.size();
        if (end > start) {
            any_item = true;
            if (value_matches(value.substr(start, end - start), encoding, filter)) return true;
        }
        start = end + 1;
    }
    // An empty value (rt="") is still an attribute that exists: only an empty value matches it.
    return !any_item && value_matches({}, encoding, filter);
}

}  // namespace

std::string encode_href(std::string_view path) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(path.size());
    for (char c : path) {
        if (c == '/' || is_pchar(c)) {
            out += c;
        } else {
            auto byte = static_cast<unsigned char>(c);
            out += '%';
            out += digits[byte >> 4];
            out += digits[byte & 0x0f];
        }
    }
    return out;
}

std::string serialize(std::string_view href, const LinkAttributes& attributes) {
    std::string out;
    out += '<';
    out += href;
    out += '>';
    if (!attributes.rt.empty()) {
        out += ";rt=";
        append_quoted(out, attributes.rt);
    }
    if (!attributes.if_.empty()) {
        out += ";if=";
        append_quoted(out, attributes.if_);
    }
    if (!attributes.ct.empty()) {
        if (!is_number_list(attributes.ct, true))
            throw std::invalid_argument("link attribute ct is not a Content-Format number list");
        out += ";ct=";
        // RFC 7252 §7.2.1: several Content-Formats are a quoted, space-separated list.
        if (attributes.ct.find(' ') != std::string::npos) {
            append_quoted(out, attributes.ct);
        } else {
            out += attributes.ct;
        }
    }
    if (!attributes.sz.empty()) {
        if (!is_number_list(attributes.sz, false))
            throw std::invalid_argument("link attribute sz is not a number");
        out += ";sz=";
        out += attributes.sz;  // RFC 6690 §3.3: `"sz" "=" cardinal`
    }
    if (!attributes.title.empty()) {
        out += ";title=";
        append_quoted(out, attributes.title);
    }
    if (attributes.obs) out += ";obs";  // RFC 7641 §6: a flag without a value
    if (!attributes.extra.empty()) {
        std::string_view extra = attributes.extra;
        if (extra.front() != ';') out += ';';
        out += extra;
        // The extra params must parse, and must not smuggle in another link.
        bool valid = false;
        try {
            valid = Document(out).size() == 1;
        } catch (const std::invalid_argument&) {
        }
        if (!valid)
            throw std::invalid_argument("link attribute extra is not a list of link-params");
    }
    return out;
}

std::string serialize(std::span<const Entry> entries) {
    std::string out;
    for (const Entry& entry : entries) {
        if (!out.empty()) out += ',';
        out += serialize(entry.href, *entry.attributes);
    }
    return out;
}

Filter parse_filter(std::string_view argument) noexcept {
    Filter filter;
    std::size_t equals = argument.find('=');
    if (equals == std::string_view::npos) {
        // "?obs": no value; taken as "?obs=*", which matches when the attribute exists.
        filter.name = argument;
        filter.prefix = true;
        return filter;
    }
    filter.name = argument.substr(0, equals);
    filter.value = argument.substr(equals + 1);
    // RFC 6690 §4.1: a value ending in "*" is a Prefix Value String. The Uri-Query option
    // holds the value already percent-decoded, so "%2A" arrives as "*" too.
    if (!filter.value.empty() && filter.value.back() == '*') {
        filter.prefix = true;
        filter.value.remove_suffix(1);
    }
    return filter;
}

// RFC 6690 §2: Link = [ link-value *[ "," link-value ] ],
// link-value = "<" URI-Reference ">" *( ";" link-param ),
// link-param = parmname [ "=" ( ptoken / quoted-string ) ].
// Linear whitespace around the separators is skipped, as documents are often written with
// line breaks (RFC 6690 §5).
Document::Document(std::string text) : text_(std::move(text)) {
    if (text_.size() > std::numeric_limits<std::uint32_t>::max())
        throw std::invalid_argument("link-format document too large");
    const std::size_t end = text_.size();
    std::size_t pos = 0;
    auto skip_space = [&] {
        while (pos < end && is_space(text_[pos]))
            ++pos;
    };
    auto span = [](std::size_t from, std::size_t to) {
        return Span{static_cast<std::uint32_t>(from), static_cast<std::uint32_t>(to - from)};
    };
    auto fail = [](const char* what) { throw std::invalid_argument(what); };

    skip_space();
    if (pos == end) return;  // RFC 6690 §4: no links is a zero-length document
    for (;;) {
        Link link;
        std::size_t link_start = pos;
        if (text_[pos] != '<') fail("link-format: a link must start with '<'");
        std::size_t close = text_.find('>', pos + 1);
        if (close == std::string::npos) fail("link-format: '<' without '>'");
        link.href = span(pos + 1, close);
        pos = close + 1;
        std::size_t link_end = pos;
        link.first_param = static_cast<std::uint32_t>(params_.size());
        for (;;) {
            skip_space();
            if (pos == end || text_[pos] != ';') break;
            ++pos;
            skip_space();
            Param param;
            std::size_t name_start = pos;
            while (pos < end && !ends_token(text_[pos]) && text_[pos] != '=')
                ++pos;
            if (pos == name_start) fail("link-format: empty parameter name");
            param.name = span(name_start, pos);
            link_end = pos;
            skip_space();
            if (pos < end && text_[pos] == '=') {
                ++pos;
                skip_space();
                param.has_value = true;
                if (pos < end && text_[pos] == '"') {
                    std::size_t value_start = ++pos;
                    while (pos < end && text_[pos] != '"')
                        pos += text_[pos] == '\\' ? 2 : 1;
                    if (pos >= end) fail("link-format: unterminated quoted-string");
                    param.value = span(value_start, pos);
                    param.quoted = true;
                    ++pos;
                } else {
                    std::size_t value_start = pos;
                    while (pos < end && !ends_token(text_[pos]))
                        ++pos;
                    if (pos == value_start) fail("link-format: empty parameter value");
                    param.value = span(value_start, pos);
                }
                link_end = pos;
            }
            params_.push_back(param);
        }
        link.param_count = static_cast<std::uint32_t>(params_.size()) - link.first_param;
        link.text = span(link_start, link_end);
        links_.push_back(link);
        if (pos == end) return;
        if (text_[pos] != ',') fail("link-format: links must be separated by ','");
        ++pos;
        skip_space();
        if (pos == end) fail("link-format: ',' after the last link");
    }
}

std::string_view Document::link(std::size_t index) const noexcept {
    return view(links_[index].text);
}

std::string_view Document::href(std::size_t index) const noexcept {
    return view(links_[index].href);
}

// RFC 6690 §4.1: "href" matches the URI-reference between '<' and '>'; any other name matches
// the target attributes of that name, and "Both Value Strings match a target attribute only if
// it exists". Quoted values are compared unescaped, and the href percent-decoded, because the
// filter value arrives percent-decoded.
bool Document::matches(std::size_t index, const Filter& filter) const noexcept {
    const Link& link = links_[index];
    if (filter.name == "href") return value_matches(view(link.href), Encoding::percent, filter);
    bool list = is_list_attribute(filter.name);
    for (std::uint32_t i = 0; i < link.param_count; ++i) {
        const Param& param = params_[link.first_param + i];
        if (view(param.name) != filter.name) continue;
        // A flag such as `obs` exists with an empty value.
        std::string_view value = param.has_value ? view(param.value) : std::string_view{};
        if (attribute_matches(value, param.quoted, list, filter)) return true;
    }
    return false;
}

bool Document::link_matches(const Link& link, std::span<const Filter> filters) const noexcept {
    auto index = static_cast<std::size_t>(&link - links_.data());
    for (const Filter& filter : filters)
        if (!matches(index, filter)) return false;
    return true;
}

std::optional<std::string_view> Document::filter(std::span<const Filter> filters,
                                                 Arena& arena) const noexcept {
    if (filters.empty()) return text();
    std::size_t size = 0;
    bool first = true;
    for (const Link& link : links_) {
        if (!link_matches(link, filters)) continue;
        size += link.text.length + (first ? 0 : 1);
        first = false;
    }
    if (size == 0) return std::string_view{};
    std::span<std::uint8_t> out = arena.bytes(size);
    if (out.size() != size) return std::nullopt;  // never truncate: the caller answers 5.00
    auto* data = reinterpret_cast<char*>(out.data());
    std::size_t used = 0;
    for (const Link& link : links_) {
        if (!link_matches(link, filters)) continue;
        if (used != 0) data[used++] = ',';
        std::memcpy(data + used, text_.data() + link.text.offset, link.text.length);
        used += link.text.length;
    }
    return std::string_view(data, used);
}

}  // namespace coap::links
