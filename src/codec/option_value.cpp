// Option value helpers: uint (RFC 7252 §3.2) and Block (RFC 7959 §2.2).
#include <bit>

#include "coap/option.hpp"

namespace coap {

std::optional<std::uint32_t> decode_uint(Bytes value) noexcept {
    if (value.size() > 4) return std::nullopt;
    std::uint32_t result = 0;
    for (std::uint8_t byte : value)
        result = (result << 8) | byte;
    return result;
}

std::optional<std::uint32_t> Option::as_uint() const noexcept {
    return decode_uint(value);
}

std::optional<BlockValue> decode_block(Bytes value) noexcept {
    if (value.size() > 3) return std::nullopt;
    std::uint32_t raw = *decode_uint(value);
    auto szx = static_cast<std::uint8_t>(raw & 0x7u);
    if (szx == 7) return std::nullopt;  // RFC 7959 §2.2: SZX 7 is reserved
    return BlockValue{.num = raw >> 4, .more = (raw & 0x8u) != 0, .szx = szx};
}

UintValue encode_block(BlockValue block) noexcept {
    std::uint32_t raw = (block.num << 4) | (block.more ? 0x8u : 0u) | (block.szx & 0x7u);
    return UintValue(raw);
}

std::uint8_t szx_for_size(std::size_t size) noexcept {
    if (size < 32) return 0;
    if (size >= 1024) return 6;
    return static_cast<std::uint8_t>(std::bit_width(size) - 1 - 4);
}

}  // namespace coap
