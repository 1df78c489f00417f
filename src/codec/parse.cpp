// Message parsing and the option iterator (RFC 7252 §3, §3.1, §4.1; RFC 8974 §2.1).
#include "coap/message.hpp"

#include "option_wire.hpp"

namespace coap {

namespace {

using detail::NibbleStatus;

struct TokenSpan {
    std::uint32_t offset;
    std::uint32_t length;
};

// RFC 7252 §3 allows TKL 0-8; RFC 8974 §2.1 gives TKL 13 and 14 extended lengths.
Expected<TokenSpan, ParseError> read_token(Bytes datagram, unsigned tkl,
                                           std::size_t token_limit) noexcept {
    const std::uint8_t* pos = datagram.data() + 4;
    const std::uint8_t* end = datagram.data() + datagram.size();
    std::uint32_t length = tkl;
    if (tkl > max_token_length) {
        bool extended_allowed = token_limit > max_token_length;
        if (!extended_allowed || tkl == detail::nibble_reserved || tkl < detail::nibble_one_byte) {
            return unexpected(ParseError::bad_token_length);
        }
        if (detail::read_extended(tkl, pos, end, length) != NibbleStatus::ok)
            return unexpected(ParseError::truncated_token);
        if (length > token_limit) return unexpected(ParseError::bad_token_length);
    }
    auto offset = static_cast<std::uint32_t>(pos - datagram.data());
    if (datagram.size() - offset < length) return unexpected(ParseError::truncated_token);
    return TokenSpan{offset, length};
}

ParseError nibble_error(NibbleStatus status) noexcept {
    return status == NibbleStatus::reserved ? ParseError::reserved_option_nibble
                                            : ParseError::truncated_option;
}

struct OptionsSpan {
    std::uint32_t end;             // one past the last option byte
    std::uint32_t payload_offset;  // == datagram size when there is no payload
};

// Walks every option once so that later iteration needs no checks.
Expected<OptionsSpan, ParseError> validate_options(Bytes datagram, std::uint32_t offset) noexcept {
    const std::uint8_t* base = datagram.data();
    const std::uint8_t* pos = base + offset;
    const std::uint8_t* end = base + datagram.size();
    std::uint32_t number = 0;
    while (pos < end) {
        std::uint8_t first = *pos;
        if (first == payload_marker) {
            auto options_end = static_cast<std::uint32_t>(pos - base);
            if (pos + 1 == end) return unexpected(ParseError::empty_payload);
            return OptionsSpan{options_end, options_end + 1};
        }
        ++pos;
        std::uint32_t delta = 0;
        std::uint32_t length = 0;
        NibbleStatus status = detail::read_extended(first >> 4, pos, end, delta);
        if (status != NibbleStatus::ok) return unexpected(nibble_error(status));
        status = detail::read_extended(first & 0x0fu, pos, end, length);
        if (status != NibbleStatus::ok) return unexpected(nibble_error(status));
        number += delta;
        if (number > 0xffff) return unexpected(ParseError::option_number_overflow);
        if (static_cast<std::size_t>(end - pos) < length)
            return unexpected(ParseError::truncated_option);
        pos += length;
    }
    auto size = static_cast<std::uint32_t>(datagram.size());
    return OptionsSpan{size, size};
}

}  // namespace

std::optional<Header> peek_header(Bytes datagram) noexcept {
    if (datagram.size() < 4) return std::nullopt;
    return Header{
        .version = static_cast<std::uint8_t>(datagram[0] >> 6),
        .type = static_cast<MessageType>((datagram[0] >> 4) & 0x3u),
        .token_length_nibble = static_cast<std::uint8_t>(datagram[0] & 0x0fu),
        .code = static_cast<Code>(datagram[1]),
        .message_id = static_cast<std::uint16_t>((datagram[2] << 8) | datagram[3]),
    };
}

Expected<MessageView, ParseError> parse(Bytes datagram, std::size_t token_limit) noexcept {
    std::optional<Header> header = peek_header(datagram);
    if (!header) return unexpected(ParseError::too_short);
    if (header->version != protocol_version) return unexpected(ParseError::bad_version);
    // RFC 7252 §4.1: an Empty message is exactly the 4-byte header.
    if (header->code == Code::empty && datagram.size() != 4)
        return unexpected(ParseError::nonempty_empty_message);
    if (header->code == Code::empty && header->token_length_nibble != 0)
        return unexpected(ParseError::nonempty_empty_message);

    auto token = read_token(datagram, header->token_length_nibble, token_limit);
    if (!token) return unexpected(token.error());
    auto options = validate_options(datagram, token->offset + token->length);
    if (!options) return unexpected(options.error());

    MessageView view;
    view.data_ = datagram.data();
    view.size_ = static_cast<std::uint32_t>(datagram.size());
    view.token_offset_ = token->offset;
    view.token_length_ = token->length;
    view.options_offset_ = token->offset + token->length;
    view.options_end_ = options->end;
    view.payload_offset_ = options->payload_offset;
    view.message_id_ = header->message_id;
    view.type_ = header->type;
    view.code_ = header->code;
    return view;
}

OptionIterator::OptionIterator(const std::uint8_t* next, const std::uint8_t* end,
                               std::optional<OptionNumber> only) noexcept
    : next_(next), end_(end), only_(only), at_end_(false) {
    decode_next();
}

OptionIterator& OptionIterator::operator++() noexcept {
    decode_next();
    return *this;
}

// The parser has validated every option, so decoding here cannot fail.
void OptionIterator::decode_next() noexcept {
    while (next_ < end_) {
        std::uint8_t first = *next_++;
        std::uint32_t delta = 0;
        std::uint32_t length = 0;
        detail::read_extended(first >> 4, next_, end_, delta);
        detail::read_extended(first & 0x0fu, next_, end_, length);
        number_ += delta;
        current_ = Option{static_cast<OptionNumber>(number_), Bytes{next_, length}};
        next_ += length;
        if (!only_) return;
        std::uint32_t wanted = to_int(*only_);
        if (number_ == wanted) return;
        if (number_ > wanted) break;
    }
    at_end_ = true;
}

std::optional<Option> MessageView::find(OptionNumber number) const noexcept {
    OptionRange range = options(number);
    auto it = range.begin();
    if (it == range.end()) return std::nullopt;
    return *it;
}

std::optional<std::uint32_t> MessageView::find_uint(OptionNumber number) const noexcept {
    std::optional<Option> option = find(number);
    if (!option) return std::nullopt;
    return option->as_uint();
}

std::size_t MessageView::count(OptionNumber number) const noexcept {
    std::size_t n = 0;
    for ([[maybe_unused]] const Option& option : options(number))
        ++n;
    return n;
}

std::string_view describe(ParseError error) noexcept {
    switch (error) {
        case ParseError::too_short:
            return "datagram shorter than the 4-byte header";
        case ParseError::bad_version:
            return "unknown protocol version";
        case ParseError::bad_token_length:
            return "reserved token length";
        case ParseError::truncated_token:
            return "datagram ends inside the token";
        case ParseError::reserved_option_nibble:
            return "reserved option delta or length 15";
        case ParseError::truncated_option:
            return "datagram ends inside an option";
        case ParseError::option_number_overflow:
            return "option number above 65535";
        case ParseError::empty_payload:
            return "payload marker with an empty payload";
        case ParseError::nonempty_empty_message:
            return "empty message (0.00) with content";
    }
    return "unknown parse error";
}

}  // namespace coap
