// Notification tails: RFC 7641 §4.2 (Observe in 2.xx, none otherwise) and RFC 7959 §2.6 (the
// first block of a large representation).
#include "notification_tail.hpp"

#include <cstring>

namespace coap::detail {

namespace {

constexpr std::uint32_t header_size = 4;

// Options the tail writes itself; a representation carrying them would duplicate them.
bool replaced(OptionNumber number) noexcept {
    return number == OptionNumber::observe || number == OptionNumber::block2 ||
           number == OptionNumber::size2;
}

}  // namespace

struct NotificationTail::Extra {
    OptionNumber number;
    Bytes value;
};

bool NotificationTail::build_section(Section& section, std::uint32_t offset,
                                     const MessageView& representation,
                                     std::span<const Extra> extras, bool with_payload) noexcept {
    if (offset + header_size > storage_.size()) return false;
    // The writer wants a header first: a dummy one goes just before the section.
    MessageWriter writer(storage_.subspan(offset));
    writer.header(MessageType::non, representation.code(), 0);
    std::size_t next_extra = 0;
    auto position = [&] {
        return offset + static_cast<std::uint32_t>(writer.finish().value_or(0));
    };
    auto emit_extra = [&](const Extra& extra) {
        std::uint32_t before = position();
        writer.option(extra.number, extra.value);
        if (extra.number == OptionNumber::observe) {
            section.observe_begin = before;
            section.observe_end = position();
        } else if (extra.number == OptionNumber::block2) {
            section.block2_value = position() - 1;
        }
    };
    section.observe_begin = section.observe_end = 0;
    for (const Option& option : representation.options()) {
        if (replaced(option.number)) continue;
        while (next_extra < extras.size() &&
               to_int(extras[next_extra].number) < to_int(option.number))
            emit_extra(extras[next_extra++]);
        writer.option(option.number, option.value);
    }
    while (next_extra < extras.size())
        emit_extra(extras[next_extra++]);
    if (with_payload) writer.payload(representation.payload());
    auto written = writer.finish();
    if (!written) return false;
    section.begin = offset + header_size;
    section.end = offset + static_cast<std::uint32_t>(*written);
    if (section.observe_end == 0) section.observe_begin = section.observe_end = section.begin;
    return true;
}

bool NotificationTail::build(Bytes representation, std::uint32_t sequence) noexcept {
    built_ = false;
    auto message = parse(representation);
    if (!message) return false;
    code_ = message->code();
    confirmable_ = message->type() == MessageType::con;
    Bytes payload = message->payload();
    payload_size_ = static_cast<std::uint32_t>(payload.size());

    // RFC 7641 §4.2: a 2.xx notification carries Observe; a non-2.xx one must not.
    UintValue observe(sequence & 0xffffff);
    bool success = is_success(code_);
    Extra full_extras[] = {{OptionNumber::observe, observe.bytes()}};
    if (!build_section(full_, 0, *message, std::span(full_extras, success ? 1 : 0), true))
        return false;
    payload_begin_ = full_.end - payload_size_;

    // RFC 7959 §2.6: the first block, with NUM 0 and M 1 (the SZX byte is patched per observer),
    // Size2 and an ETag (the representation's own, else the block layer's hash of the body, §2.4).
    has_first_block_ = payload_size_ > 16;  // larger than the smallest block
    if (has_first_block_) {
        auto etag = body_etag(payload);
        UintValue block2 = encode_block(BlockValue{0, true, 0});
        UintValue size2(payload_size_);
        Extra extras[4];
        std::size_t count = 0;
        if (!message->has(OptionNumber::etag))
            extras[count++] = {OptionNumber::etag, Bytes(etag.data(), etag.size())};
        if (success) extras[count++] = {OptionNumber::observe, observe.bytes()};
        extras[count++] = {OptionNumber::block2, block2.bytes()};
        extras[count++] = {OptionNumber::size2, size2.bytes()};
        if (!build_section(first_block_, full_.end, *message, std::span(extras, count), false))
            return false;
    }
    built_ = true;
    return true;
}

std::size_t NotificationTail::write(MutableBytes out, MessageType type, std::uint16_t message_id,
                                    Bytes token, std::uint8_t szx,
                                    std::optional<std::uint32_t> sequence) const noexcept {
    if (!built_ || token.size() > max_token_length) return 0;
    std::uint32_t block_size = 16u << szx;
    bool block = has_first_block_ && payload_size_ > block_size;
    const Section& section = block ? first_block_ : full_;
    const std::uint8_t* tail = storage_.data();

    UintValue observe((sequence.value_or(0)) & 0xffffff);
    std::size_t old_observe = section.observe_end - section.observe_begin;
    bool rewrite = sequence.has_value() && old_observe != 0;
    std::size_t new_observe = rewrite ? 1 + observe.length : old_observe;
    std::size_t section_size = section.end - section.begin - old_observe + new_observe;
    std::size_t total = header_size + token.size() + section_size + (block ? 1 + block_size : 0);
    if (total > out.size()) return 0;

    std::uint8_t* pos = out.data();
    *pos++ = static_cast<std::uint8_t>((protocol_version << 6) |
                                       (static_cast<unsigned>(type) << 4) | token.size());
    *pos++ = static_cast<std::uint8_t>(code_);
    *pos++ = static_cast<std::uint8_t>(message_id >> 8);
    *pos++ = static_cast<std::uint8_t>(message_id);
    if (!token.empty()) std::memcpy(pos, token.data(), token.size());
    pos += token.size();

    std::uint8_t* section_start = pos;
    if (!rewrite) {
        std::memcpy(pos, tail + section.begin, section.end - section.begin);
        pos += section.end - section.begin;
    } else {
        std::memcpy(pos, tail + section.begin, section.observe_begin - section.begin);
        pos += section.observe_begin - section.begin;
        // Observe's delta is at most 6, so the header is one byte: keep its delta nibble.
        *pos++ = static_cast<std::uint8_t>((tail[section.observe_begin] & 0xf0) | observe.length);
        std::memcpy(pos, observe.storage.data(), observe.length);
        pos += observe.length;
        std::memcpy(pos, tail + section.observe_end, section.end - section.observe_end);
        pos += section.end - section.observe_end;
    }
    if (block) {
        // Block2 (23) comes after Observe (6), so it moved by the Observe size difference.
        std::size_t at = section.block2_value - section.begin + new_observe - old_observe;
        section_start[at] = encode_block(BlockValue{0, true, szx}).storage[0];
        *pos++ = payload_marker;
        std::memcpy(pos, tail + payload_begin_, block_size);
        pos += block_size;
    }
    return static_cast<std::size_t>(pos - out.data());
}

}  // namespace coap::detail
