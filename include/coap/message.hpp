// Zero-copy message parsing and encoding (RFC 7252 §3).
//
// `parse` validates a datagram once and returns a `MessageView` whose token, option values and
// payload point into the caller's buffer. `encode` and `MessageWriter` write into a buffer the
// caller supplies. Nothing here allocates, throws, reads a clock or touches a socket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string_view>

#include "coap/bytes.hpp"
#include "coap/codes.hpp"
#include "coap/expected.hpp"
#include "coap/export.hpp"
#include "coap/option.hpp"

namespace coap {

/// The version every message carries (RFC 7252 §3).
inline constexpr std::uint8_t protocol_version = 1;
/// Longest token without RFC 8974 extended tokens.
inline constexpr std::size_t max_token_length = 8;
/// Longest token RFC 8974 can express (TKL 14: 269 + 65535).
inline constexpr std::size_t max_extended_token_length = 65804;
/// The byte that separates options from the payload.
inline constexpr std::uint8_t payload_marker = 0xff;

/// Why a datagram is not a well-formed message. The message layer maps these to the RFC's
/// answer: `bad_version` is silently ignored (§3); every other error is a message format error,
/// answered with RST for CON and dropped otherwise (§4.2, §4.3).
enum class ParseError : std::uint8_t {
    too_short,               ///< Fewer than the 4 header bytes.
    bad_version,             ///< Version field is not 1.
    bad_token_length,        ///< TKL 9-15 (or 15 alone when extended tokens are allowed).
    truncated_token,         ///< The datagram ends inside the token.
    reserved_option_nibble,  ///< Option delta or length nibble 15 outside the payload marker.
    truncated_option,        ///< The datagram ends inside an option header or value.
    option_number_overflow,  ///< The running option number exceeds 65535.
    empty_payload,           ///< A payload marker followed by nothing (§3).
    nonempty_empty_message,  ///< Code 0.00 with a token, options or payload (§4.1).
};

/// A short English description of a parse error, for logs.
COAP_API std::string_view describe(ParseError error) noexcept;

/// The fixed 4-byte header.
struct Header {
    std::uint8_t version;              ///< The Ver field; 1 for RFC 7252.
    MessageType type;                  ///< The T field.
    std::uint8_t token_length_nibble;  ///< The raw TKL field.
    Code code;                         ///< The request method or response code.
    std::uint16_t message_id;          ///< The Message ID, for deduplication and matching ACKs.
};

/// Reads the 4-byte header without validating anything else, so that a message layer can
/// answer a malformed CON with an RST carrying its Message ID. nullopt if shorter than 4 bytes.
COAP_API std::optional<Header> peek_header(Bytes datagram) noexcept;

class MessageView;

/// Parses and validates a datagram (RFC 7252 §3). On success every option has been checked to be
/// well-formed, so iterating the view cannot fail. `token_limit` above 8 enables RFC 8974
/// extended token lengths (TKL 13 and 14) up to that many bytes; longer tokens are an error.
COAP_API Expected<MessageView, ParseError> parse(
    Bytes datagram, std::size_t token_limit = max_token_length) noexcept;

/// Forward iterator over the options of a parsed message. Yields options in wire order, which
/// is ascending by number. Reads straight from the datagram; cheap to copy.
class COAP_API OptionIterator {
  public:
    using iterator_category = std::forward_iterator_tag;  ///< Iterator trait.
    using value_type = Option;                            ///< Iterator trait.
    using difference_type = std::ptrdiff_t;               ///< Iterator trait.
    using pointer = const Option*;                        ///< Iterator trait.
    using reference = const Option&;                      ///< Iterator trait.

    OptionIterator() noexcept = default;

    /// The current option; its value views the datagram.
    const Option& operator*() const noexcept { return current_; }
    /// The current option's members.
    const Option* operator->() const noexcept { return &current_; }
    /// Moves to the next option (with the selected number, if one was chosen).
    OptionIterator& operator++() noexcept;
    /// Moves to the next option and returns the position before.
    OptionIterator operator++(int) noexcept {
        OptionIterator copy = *this;
        ++*this;
        return copy;
    }
    /// Equal at the same position, or both at the end.
    friend bool operator==(const OptionIterator& a, const OptionIterator& b) noexcept {
        return a.at_end_ == b.at_end_ && (a.at_end_ || a.next_ == b.next_);
    }

  private:
    friend class OptionRange;
    OptionIterator(const std::uint8_t* next, const std::uint8_t* end,
                   std::optional<OptionNumber> only) noexcept;
    void decode_next() noexcept;

    const std::uint8_t* next_ = nullptr;
    const std::uint8_t* end_ = nullptr;
    std::uint32_t number_ = 0;
    Option current_{};
    std::optional<OptionNumber> only_{};
    bool at_end_ = true;
};

/// The options of a message, all of them or only those with one number.
class OptionRange {
  public:
    /// The first option of the range.
    OptionIterator begin() const noexcept { return OptionIterator(begin_, end_, only_); }
    /// Past the last option.
    OptionIterator end() const noexcept { return OptionIterator(); }
    /// True when the range has no option.
    bool empty() const noexcept { return begin() == end(); }

  private:
    friend class MessageView;
    OptionRange(const std::uint8_t* begin, const std::uint8_t* end,
                std::optional<OptionNumber> only) noexcept
        : begin_(begin), end_(end), only_(only) {}
    const std::uint8_t* begin_;
    const std::uint8_t* end_;
    std::optional<OptionNumber> only_;
};

/// A validated message whose parts are views into the datagram it was parsed from.
/// The datagram must outlive the view.
class COAP_API MessageView {
  public:
    /// CON, NON, ACK or RST.
    MessageType type() const noexcept { return type_; }
    /// The request method, response code, or 0.00 for an empty message.
    Code code() const noexcept { return code_; }
    /// The Message ID.
    std::uint16_t message_id() const noexcept { return message_id_; }
    /// The token (0-8 bytes, more with RFC 8974), viewing the datagram.
    Bytes token() const noexcept { return {data_ + token_offset_, token_length_}; }
    /// The payload after the marker, empty when there is none.
    Bytes payload() const noexcept { return {data_ + payload_offset_, size_ - payload_offset_}; }
    /// The whole datagram the view was parsed from.
    Bytes datagram() const noexcept { return {data_, size_}; }

    /// All options in ascending number order.
    OptionRange options() const noexcept {
        return {data_ + options_offset_, data_ + options_end_, std::nullopt};
    }
    /// Only the options with `number`, in wire order (for repeatable options like Uri-Path).
    OptionRange options(OptionNumber number) const noexcept {
        return {data_ + options_offset_, data_ + options_end_, number};
    }
    /// The first option with `number`, if present.
    std::optional<Option> find(OptionNumber number) const noexcept;
    /// The first option with `number` read as a uint; nullopt if absent or longer than 4 bytes.
    std::optional<std::uint32_t> find_uint(OptionNumber number) const noexcept;
    /// True when an option with `number` is present.
    bool has(OptionNumber number) const noexcept { return find(number).has_value(); }
    /// How many options with `number` are present.
    std::size_t count(OptionNumber number) const noexcept;

    /// Code 0.00: an empty ACK, RST or ping (RFC 7252 §4.1).
    bool is_empty_message() const noexcept { return code_ == Code::empty; }
    /// The code is a method.
    bool is_request() const noexcept { return coap::is_request(code_); }
    /// The code is a 2.xx, 4.xx or 5.xx response code.
    bool is_response() const noexcept { return coap::is_response(code_); }

  private:
    friend Expected<MessageView, ParseError> parse(Bytes, std::size_t) noexcept;
    const std::uint8_t* data_ = nullptr;
    std::uint32_t size_ = 0;
    std::uint32_t token_offset_ = 0;
    std::uint32_t token_length_ = 0;
    std::uint32_t options_offset_ = 0;
    std::uint32_t options_end_ = 0;
    std::uint32_t payload_offset_ = 0;
    std::uint16_t message_id_ = 0;
    MessageType type_ = MessageType::con;
    Code code_ = Code::empty;
};

/// Why a message could not be encoded.
enum class EncodeError : std::uint8_t {
    buffer_too_small,       ///< The output buffer cannot hold the message.
    token_too_long,         ///< More than 8 token bytes.
    option_too_long,        ///< An option value over 65804 bytes.
    options_out_of_order,   ///< MessageWriter: an option number below the previous one.
    invalid_empty_message,  ///< Code 0.00 with a token, options or payload (§4.1).
    out_of_sequence,        ///< MessageWriter: header missing, or written after the payload.
};

/// A short English description of an encode error, for logs.
COAP_API std::string_view describe(EncodeError error) noexcept;

/// A message to encode. All views are borrowed; options may be in any order (they are written
/// sorted by number, keeping the given order among equal numbers).
struct Message {
    MessageType type = MessageType::con;  ///< CON, NON, ACK or RST.
    Code code = Code::empty;              ///< Method, response code, or 0.00.
    std::uint16_t message_id = 0;         ///< The Message ID.
    Bytes token{};                        ///< 0-8 bytes.
    std::span<const Option> options{};    ///< In any order; written sorted by number.
    Bytes payload{};                      ///< Written after a 0xFF marker when not empty.
};

/// Encodes `message` into `out` and returns the number of bytes written. Values of uint-format
/// options are written in their shortest form (leading zero bytes dropped, RFC 7252 §3.2).
COAP_API Expected<std::size_t, EncodeError> encode(const Message& message,
                                                   MutableBytes out) noexcept;

/// The exact number of bytes `encode` would write.
COAP_API std::size_t encoded_size(const Message& message) noexcept;

/// Writes a message piece by piece into a caller's buffer: header, then options in
/// non-decreasing number order, then an optional payload. The first error is sticky and is
/// returned by `finish`, so calls can be chained without checking each one.
class COAP_API MessageWriter {
  public:
    /// A writer that fills `out` from its start.
    explicit MessageWriter(MutableBytes out) noexcept : out_(out) {}

    /// Writes the 4-byte header and the token; must come first, once.
    MessageWriter& header(MessageType type, Code code, std::uint16_t message_id,
                          Bytes token = {}) noexcept;
    /// Writes one option; numbers must not decrease from one call to the next.
    MessageWriter& option(OptionNumber number, Bytes value) noexcept;
    /// Writes one option with a text value.
    MessageWriter& option(OptionNumber number, std::string_view value) noexcept {
        return option(number, as_bytes(value));
    }
    /// Writes a uint option in its shortest encoding.
    MessageWriter& uint_option(OptionNumber number, std::uint32_t value) noexcept {
        UintValue encoded(value);
        return option(number, encoded.bytes());
    }
    /// Writes the payload marker and payload; does nothing for an empty payload.
    MessageWriter& payload(Bytes payload) noexcept;
    /// Writes a text payload; does nothing for an empty one.
    MessageWriter& payload(std::string_view text) noexcept { return payload(as_bytes(text)); }

    /// Bytes written so far, or the first error.
    Expected<std::size_t, EncodeError> finish() const noexcept;

  private:
    MessageWriter& fail(EncodeError error) noexcept;
    bool reserve(std::size_t count) noexcept;

    MutableBytes out_;
    std::size_t used_ = 0;
    std::uint32_t last_number_ = 0;
    std::optional<EncodeError> error_{};
    bool has_header_ = false;
    bool has_payload_ = false;
    bool empty_code_ = false;
};

}  // namespace coap
