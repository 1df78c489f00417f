// Option numbers, the option registry and option value helpers
// (RFC 7252 §5.4, §5.10, §12.2; RFC 7641, 7959, 7967, 8768, 9175, 9177, 8613).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "coap/bytes.hpp"
#include "coap/export.hpp"

namespace coap {

/// An option number. Any 16-bit value is valid; the named ones are registered.
enum class OptionNumber : std::uint16_t {
    if_match = 1,
    uri_host = 3,
    etag = 4,
    if_none_match = 5,
    observe = 6,  ///< RFC 7641
    uri_port = 7,
    location_path = 8,
    oscore = 9,  ///< RFC 8613; recognised as a number only, not processed
    uri_path = 11,
    content_format = 12,
    max_age = 14,
    uri_query = 15,
    hop_limit = 16,  ///< RFC 8768
    accept = 17,
    q_block1 = 19,  ///< RFC 9177; registered, not processed
    location_query = 20,
    block2 = 23,    ///< RFC 7959
    block1 = 27,    ///< RFC 7959
    size2 = 28,     ///< RFC 7959
    q_block2 = 31,  ///< RFC 9177; registered, not processed
    proxy_uri = 35,
    proxy_scheme = 39,
    size1 = 60,
    echo = 252,         ///< RFC 9175
    no_response = 258,  ///< RFC 7967
    request_tag = 292,  ///< RFC 9175
};

/// The option number as an integer.
constexpr std::uint16_t to_int(OptionNumber number) noexcept {
    return static_cast<std::uint16_t>(number);
}

// RFC 7252 §5.4.6: the properties are encoded in the option number itself.
/// A critical option (odd number) must be understood or the message rejected (RFC 7252 §5.4.1).
constexpr bool is_critical(OptionNumber number) noexcept {
    return (to_int(number) & 0x01) != 0;
}
/// An unsafe option must be understood by a proxy that forwards it (RFC 7252 §5.4.2).
constexpr bool is_unsafe(OptionNumber number) noexcept {
    return (to_int(number) & 0x02) != 0;
}
/// A NoCacheKey option is not part of the cache key (RFC 7252 §5.4.6).
constexpr bool is_no_cache_key(OptionNumber number) noexcept {
    return (to_int(number) & 0x1e) == 0x1c;
}

/// How an option value is encoded (RFC 7252 §3.2).
enum class OptionFormat : std::uint8_t { empty, opaque, uint, string };

/// One row of the option registry.
struct OptionDef {
    OptionNumber number;       ///< The registered number.
    std::string_view name;     ///< As registered, e.g. "Uri-Path".
    OptionFormat format;       ///< How the value is encoded.
    std::uint16_t min_length;  ///< Shortest valid value in bytes (RFC 7252 §5.4.3).
    std::uint16_t max_length;  ///< Longest valid value in bytes.
    bool repeatable;           ///< May appear more than once (RFC 7252 §5.4.5).
    /// False for options this library registers but does not act on (OSCORE, Q-Block1/2).
    /// A critical option that is not processed must be rejected, so these count as
    /// unrecognized in `first_unrecognized_critical`.
    bool processed;
};

/// The registry row for `number`, or nullptr when the number is not registered.
COAP_API const OptionDef* find_option_def(OptionNumber number) noexcept;
/// Every registered option, in ascending number order.
COAP_API std::span<const OptionDef> option_registry() noexcept;

/// One option: its number and a view of its value inside a datagram or caller storage.
struct COAP_API Option {
    OptionNumber number;  ///< Which option.
    Bytes value;          ///< The value bytes, borrowed.

    /// The value viewed as characters (no copy, no validation).
    std::string_view as_string() const noexcept { return coap::as_string(value); }
    /// The value read as a uint (RFC 7252 §3.2), or nullopt if it is longer than 4 bytes.
    std::optional<std::uint32_t> as_uint() const noexcept;
};

/// A uint option value in its shortest encoding (RFC 7252 §3.2), held inline.
/// `bytes()` views this object: keep it alive as long as an `Option` points at it.
struct UintValue {
    std::array<std::uint8_t, 4> storage{};  ///< The encoded bytes, big-endian, first `length` used.
    std::uint8_t length = 0;                ///< 0-4 bytes; 0 encodes the value 0.

    /// Encodes `value` in the fewest bytes.
    constexpr explicit UintValue(std::uint32_t value) noexcept {
        std::uint8_t n = 0;
        for (std::uint32_t v = value; v != 0; v >>= 8)
            ++n;
        length = n;
        for (std::uint8_t i = 0; i < n; ++i)
            storage[i] = static_cast<std::uint8_t>(value >> (8 * (n - 1 - i)));
    }
    /// The encoded value, viewing this object.
    constexpr Bytes bytes() const noexcept { return {storage.data(), length}; }
};

/// Decodes a uint option value; nullopt when it is longer than 4 bytes.
COAP_API std::optional<std::uint32_t> decode_uint(Bytes value) noexcept;

/// The value of a Block1 or Block2 option (RFC 7959 §2.2).
struct BlockValue {
    std::uint32_t num = 0;  ///< Block number, 0 to 2^20-1.
    bool more = false;      ///< M bit.
    std::uint8_t szx = 6;   ///< Size exponent: the block is 2^(szx+4) bytes, szx 0-6.

    /// The block size in bytes, 16 to 1024.
    constexpr std::uint32_t size() const noexcept { return 16u << szx; }
    /// The byte offset of this block in the whole body.
    constexpr std::uint64_t offset() const noexcept {
        return static_cast<std::uint64_t>(num) * size();
    }
    /// Equal when number, M bit and size are equal.
    friend constexpr bool operator==(const BlockValue&, const BlockValue&) = default;
};

/// Largest block number that fits the 20-bit NUM field.
inline constexpr std::uint32_t max_block_num = (1u << 20) - 1;

/// Decodes a Block option; nullopt when longer than 3 bytes or SZX is the reserved 7.
COAP_API std::optional<BlockValue> decode_block(Bytes value) noexcept;
/// Encodes a Block option in its shortest form. Precondition: num <= max_block_num, szx <= 6.
COAP_API UintValue encode_block(BlockValue block) noexcept;

/// Block size exponent for a size in bytes, rounded down to a power of two within 16-1024.
COAP_API std::uint8_t szx_for_size(std::size_t size) noexcept;

class MessageView;

/// Finds the first option that RFC 7252 §5.4.1 says must be rejected: a critical option that is
/// not registered (and not in `also_recognized`), or registered but not processed, or whose
/// length is out of bounds (§5.4.3), or a repeated non-repeatable option (§5.4.5).
/// Elective options in those situations are skipped silently, as the RFC says.
COAP_API std::optional<OptionNumber> first_unrecognized_critical(
    const MessageView& message, std::span<const std::uint16_t> also_recognized = {}) noexcept;

}  // namespace coap
