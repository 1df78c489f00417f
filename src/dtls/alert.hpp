// Alert messages (RFC 5246 §7.2): a level and a description, two bytes on the wire. Only the
// descriptions this stack sends or acts on are named; any other value parses too.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "coap/bytes.hpp"

namespace coap::dtls {

enum class AlertLevel : std::uint8_t { warning = 1, fatal = 2 };

enum class AlertDescription : std::uint8_t {
    close_notify = 0,
    unexpected_message = 10,
    bad_record_mac = 20,
    handshake_failure = 40,
    illegal_parameter = 47,
    decode_error = 50,
    decrypt_error = 51,
    protocol_version = 70,
    internal_error = 80,
    no_renegotiation = 100,       // RFC 5246 §7.2.2: always a warning
    unsupported_extension = 110,  // RFC 5246 §7.4.1.4
    unknown_psk_identity = 115,   // RFC 4279 §2
};

struct Alert {
    AlertLevel level = AlertLevel::fatal;
    AlertDescription description = AlertDescription::internal_error;

    std::array<std::uint8_t, 2> encode() const noexcept {
        return {static_cast<std::uint8_t>(level), static_cast<std::uint8_t>(description)};
    }
    /// A record's alert fragment: exactly two bytes (RFC 5246 §7.2).
    static std::optional<Alert> parse(Bytes fragment) noexcept {
        if (fragment.size() != 2) return std::nullopt;
        return Alert{static_cast<AlertLevel>(fragment[0]),
                     static_cast<AlertDescription>(fragment[1])};
    }
    bool is_fatal() const noexcept { return level != AlertLevel::warning; }
    friend bool operator==(const Alert&, const Alert&) = default;
};

inline constexpr Alert fatal_alert(AlertDescription description) noexcept {
    return {AlertLevel::fatal, description};
}

}  // namespace coap::dtls
