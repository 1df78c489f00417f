// Internal: the option header encoding shared by the parser, the iterator and the writer
// (RFC 7252 §3.1).
#pragma once

#include <cstddef>
#include <cstdint>

namespace coap::detail {

inline constexpr std::uint32_t nibble_one_byte = 13;   // value - 13 in one extra byte
inline constexpr std::uint32_t nibble_two_bytes = 14;  // value - 269 in two extra bytes
inline constexpr std::uint32_t nibble_reserved = 15;
inline constexpr std::uint32_t one_byte_base = 13;
inline constexpr std::uint32_t two_byte_base = 269;
inline constexpr std::uint32_t max_extended_value = two_byte_base + 0xffff;

enum class NibbleStatus { ok, reserved, truncated };

/// Reads the extended bytes that follow a delta or length nibble, advancing `pos`.
inline NibbleStatus read_extended(std::uint32_t nibble, const std::uint8_t*& pos,
                                  const std::uint8_t* end, std::uint32_t& value) noexcept {
    if (nibble < nibble_one_byte) {
        value = nibble;
        return NibbleStatus::ok;
    }
    if (nibble == nibble_one_byte) {
        if (end - pos < 1) return NibbleStatus::truncated;
        value = one_byte_base + pos[0];
        pos += 1;
        return NibbleStatus::ok;
    }
    if (nibble == nibble_two_bytes) {
        if (end - pos < 2) return NibbleStatus::truncated;
        value = two_byte_base + ((std::uint32_t{pos[0]} << 8) | pos[1]);
        pos += 2;
        return NibbleStatus::ok;
    }
    return NibbleStatus::reserved;
}

/// The nibble that encodes `value` and how many extended bytes follow it.
inline std::uint32_t nibble_for(std::uint32_t value) noexcept {
    if (value < one_byte_base) return value;
    if (value < two_byte_base) return nibble_one_byte;
    return nibble_two_bytes;
}
inline std::size_t extended_size(std::uint32_t value) noexcept {
    if (value < one_byte_base) return 0;
    if (value < two_byte_base) return 1;
    return 2;
}

/// Writes the extended bytes for `value`, returning the new write position.
inline std::uint8_t* write_extended(std::uint8_t* pos, std::uint32_t value) noexcept {
    if (value >= two_byte_base) {
        std::uint32_t rest = value - two_byte_base;
        *pos++ = static_cast<std::uint8_t>(rest >> 8);
        *pos++ = static_cast<std::uint8_t>(rest);
    } else if (value >= one_byte_base) {
        *pos++ = static_cast<std::uint8_t>(value - one_byte_base);
    }
    return pos;
}

/// Bytes needed to write one option header (the nibble byte and extended bytes).
inline std::size_t option_header_size(std::uint32_t delta, std::uint32_t length) noexcept {
    return 1 + extended_size(delta) + extended_size(length);
}

}  // namespace coap::detail
