// Message encoding into caller-supplied buffers (RFC 7252 §3, §3.1, §3.2).
#include <cstring>

#include "coap/message.hpp"
#include "option_wire.hpp"

namespace coap {

namespace {

// RFC 7252 §3.2: a uint is sent in the fewest bytes, so leading zero bytes are dropped.
Bytes normalized_value(const Option& option) noexcept {
    if (option.value.empty() || option.value.front() != 0) return option.value;  // the usual case
    const OptionDef* def = find_option_def(option.number);
    if (def == nullptr || def->format != OptionFormat::uint) return option.value;
    Bytes value = option.value;
    while (!value.empty() && value.front() == 0)
        value = value.subspan(1);
    return value;
}

bool precedes(const Option& a, std::size_t a_index, const Option& b, std::size_t b_index) noexcept {
    if (a.number != b.number) return to_int(a.number) < to_int(b.number);
    return a_index < b_index;
}

// Calls `visit` on every option in ascending number order, keeping the caller's order among
// equal numbers. Selection without scratch memory: O(n) when already sorted, O(n^2) otherwise,
// which is fine for the handful of options a message carries.
template <class Visit>
void for_each_sorted(std::span<const Option> options, Visit&& visit) noexcept {
    bool sorted = true;
    for (std::size_t i = 1; i < options.size() && sorted; ++i)
        sorted = to_int(options[i - 1].number) <= to_int(options[i].number);
    if (sorted) {
        for (const Option& option : options)
            visit(option);
        return;
    }
    std::size_t previous = options.size();  // none yet
    for (std::size_t emitted = 0; emitted < options.size(); ++emitted) {
        std::size_t best = options.size();
        for (std::size_t i = 0; i < options.size(); ++i) {
            bool after_previous =
                previous == options.size() || precedes(options[previous], previous, options[i], i);
            if (after_previous &&
                (best == options.size() || precedes(options[i], i, options[best], best)))
                best = i;
        }
        visit(options[best]);
        previous = best;
    }
}

}  // namespace

MessageWriter& MessageWriter::header(MessageType type, Code code, std::uint16_t message_id,
                                     Bytes token) noexcept {
    if (error_) return *this;
    if (has_header_) return fail(EncodeError::out_of_sequence);
    if (token.size() > max_token_length) return fail(EncodeError::token_too_long);
    if (code == Code::empty && !token.empty()) return fail(EncodeError::invalid_empty_message);
    if (!reserve(4 + token.size())) return *this;
    std::uint8_t* pos = out_.data();
    pos[0] = static_cast<std::uint8_t>((protocol_version << 6) |
                                       (static_cast<unsigned>(type) << 4) | token.size());
    pos[1] = static_cast<std::uint8_t>(code);
    pos[2] = static_cast<std::uint8_t>(message_id >> 8);
    pos[3] = static_cast<std::uint8_t>(message_id);
    if (!token.empty()) std::memcpy(pos + 4, token.data(), token.size());
    used_ = 4 + token.size();
    has_header_ = true;
    empty_code_ = code == Code::empty;
    return *this;
}

MessageWriter& MessageWriter::option(OptionNumber number, Bytes value) noexcept {
    if (error_) return *this;
    if (!has_header_ || has_payload_) return fail(EncodeError::out_of_sequence);
    if (empty_code_) return fail(EncodeError::invalid_empty_message);
    std::uint32_t n = to_int(number);
    if (n < last_number_) return fail(EncodeError::options_out_of_order);
    if (value.size() > detail::max_extended_value) return fail(EncodeError::option_too_long);
    auto delta = n - last_number_;
    auto length = static_cast<std::uint32_t>(value.size());
    std::size_t header_size = detail::option_header_size(delta, length);
    if (!reserve(header_size + value.size())) return *this;
    std::uint8_t* pos = out_.data() + used_;
    *pos++ =
        static_cast<std::uint8_t>((detail::nibble_for(delta) << 4) | detail::nibble_for(length));
    pos = detail::write_extended(pos, delta);
    pos = detail::write_extended(pos, length);
    if (!value.empty()) std::memcpy(pos, value.data(), value.size());
    used_ += header_size + value.size();
    last_number_ = n;
    return *this;
}

MessageWriter& MessageWriter::payload(Bytes payload) noexcept {
    if (error_ || payload.empty()) return *this;
    if (!has_header_ || has_payload_) return fail(EncodeError::out_of_sequence);
    if (empty_code_) return fail(EncodeError::invalid_empty_message);
    if (!reserve(1 + payload.size())) return *this;
    out_[used_] = payload_marker;
    std::memcpy(out_.data() + used_ + 1, payload.data(), payload.size());
    used_ += 1 + payload.size();
    has_payload_ = true;
    return *this;
}

Expected<std::size_t, EncodeError> MessageWriter::finish() const noexcept {
    if (error_) return unexpected(*error_);
    if (!has_header_) return unexpected(EncodeError::out_of_sequence);
    return used_;
}

MessageWriter& MessageWriter::fail(EncodeError error) noexcept {
    if (!error_) error_ = error;
    return *this;
}

bool MessageWriter::reserve(std::size_t count) noexcept {
    if (out_.size() - used_ >= count) return true;
    fail(EncodeError::buffer_too_small);
    return false;
}

Expected<std::size_t, EncodeError> encode(const Message& message, MutableBytes out) noexcept {
    MessageWriter writer(out);
    writer.header(message.type, message.code, message.message_id, message.token);
    for_each_sorted(message.options, [&](const Option& option) {
        writer.option(option.number, normalized_value(option));
    });
    writer.payload(message.payload);
    return writer.finish();
}

std::size_t encoded_size(const Message& message) noexcept {
    std::size_t size = 4 + message.token.size();
    std::uint32_t last = 0;
    for_each_sorted(message.options, [&](const Option& option) {
        std::uint32_t n = to_int(option.number);
        auto length = static_cast<std::uint32_t>(normalized_value(option).size());
        size += detail::option_header_size(n - last, length) + length;
        last = n;
    });
    if (!message.payload.empty()) size += 1 + message.payload.size();
    return size;
}

std::string_view describe(EncodeError error) noexcept {
    switch (error) {
        case EncodeError::buffer_too_small:
            return "output buffer too small for the message";
        case EncodeError::token_too_long:
            return "token longer than 8 bytes";
        case EncodeError::option_too_long:
            return "option value longer than 65804 bytes";
        case EncodeError::options_out_of_order:
            return "option numbers must not decrease";
        case EncodeError::invalid_empty_message:
            return "empty message (0.00) with content";
        case EncodeError::out_of_sequence:
            return "header, options and payload out of sequence";
    }
    return "unknown encode error";
}

}  // namespace coap
