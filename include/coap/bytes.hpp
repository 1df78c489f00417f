// Byte views used across the public API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace coap {

/// A read-only view of bytes (a datagram, an option value, a payload). Never owns.
using Bytes = std::span<const std::uint8_t>;
/// A writable view of bytes supplied by the caller (an output buffer).
using MutableBytes = std::span<std::uint8_t>;

/// Views the characters of a string as bytes, without copying.
inline Bytes as_bytes(std::string_view text) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

/// Views bytes as characters, without copying or validating.
inline std::string_view as_string(Bytes bytes) noexcept {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace coap
