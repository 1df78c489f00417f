// What the server sends for a message it refuses because its sender is rate limited or the
// server is shedding load, and the encoding of that reply. Pure functions, no state.
#pragma once

#include <cstddef>
#include <cstdint>

#include "coap/bytes.hpp"
#include "coap/message.hpp"

namespace coap::detail {

enum class Refusal : std::uint8_t {
    reset,              ///< RST with the message's Message ID (RFC 7252 §4.2, §4.3).
    too_many_requests,  ///< 4.29 with Max-Age (RFC 8516 §3); piggybacked in the ACK for a CON.
    silence,            ///< Nothing: the message is dropped.
};

/// What to send per message type. The defaults tell a CON sender when to come back (RFC 8516 §3)
/// and stay silent to NON senders, which RFC 7252 §4.3 allows ("may ... silently ignore") and
/// which reflects nothing towards the spoofed sources of a flood.
struct RefusalPolicy {
    Refusal confirmable = Refusal::too_many_requests;
    Refusal non_confirmable = Refusal::silence;
};

/// Longest refusal with a token of up to 8 bytes: header 4, token 8, Max-Age (option 14: a
/// header byte, an extended delta byte, up to 4 value bytes) 6.
inline constexpr std::size_t max_refusal_size = 4 + 8 + 6;

/// The refusal for a message with `header`, following `policy`:
///  - ACK and RST are never answered (RFC 7252 §4.2, §4.3: rejected by silently ignoring them);
///  - 4.29 answers only requests: an empty CON (a ping) or a CON response gets RST instead, and
///    a NON that is no request gets silence.
Refusal choose_refusal(const RefusalPolicy& policy, const Header& header) noexcept;

/// Writes the reply for `refusal` to the message with `header` and `token` into `out`:
///  - reset: an RST echoing the Message ID, without token (an empty message, RFC 7252 §4.1);
///  - too_many_requests: 4.29 with the request's token and Max-Age `retry_after_seconds`; for a
///    CON, piggybacked in an ACK with the request's Message ID (RFC 7252 §5.2.1); for a NON, a
///    NON with `reply_message_id`, which the caller takes from its own Message ID sequence
///    (§5.2.3, §4.4). No payload: the reply stays about as small as the request, so refusing a
///    spoofed request amplifies nothing.
/// Returns the bytes written; 0 means send nothing (silence, a refusal that does not apply to the
/// message's type, or `out` too small).
std::size_t encode_refusal(Refusal refusal, const Header& header, Bytes token,
                           std::uint32_t retry_after_seconds, std::uint16_t reply_message_id,
                           MutableBytes out) noexcept;

}  // namespace coap::detail
