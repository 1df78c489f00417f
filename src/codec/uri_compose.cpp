// Composing a "coap" or "coaps" URI from a request's options (RFC 7252 §6.5).
#include "coap/uri.hpp"

#include <optional>

#include "coap/message.hpp"
#include "codec/uri_internal.hpp"

namespace coap {

using namespace uri_detail;

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
