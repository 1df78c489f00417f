// Percent-encoding of URI components (RFC 3986 §2.1): checking and decoding.
#include "codec/uri_internal.hpp"

namespace coap::uri_detail {

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

}  // namespace coap::uri_detail
