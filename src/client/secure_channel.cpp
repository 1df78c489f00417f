// The client's DTLS layer: RFC 6347 §4.2.4 handshake timer settings, RFC 5246 §7.2 alerts in
// failure reports, RFC 5246 §7.2.1 close_notify.
#include "client/secure_channel.hpp"

#include <string>

namespace coap {

namespace {

// RFC 5246 §7.2 (and RFC 4279 §2, RFC 5746 §3.4) alert descriptions.
std::string_view alert_name(std::uint8_t alert) noexcept {
    switch (alert) {
        case 0:
            return "close_notify";
        case 10:
            return "unexpected_message";
        case 20:
            return "bad_record_mac";
        case 21:
            return "decryption_failed";
        case 22:
            return "record_overflow";
        case 40:
            return "handshake_failure";
        case 47:
            return "illegal_parameter";
        case 49:
            return "access_denied";
        case 50:
            return "decode_error";
        case 51:
            return "decrypt_error";
        case 70:
            return "protocol_version";
        case 71:
            return "insufficient_security";
        case 80:
            return "internal_error";
        case 90:
            return "user_canceled";
        case 100:
            return "no_renegotiation";
        case 110:
            return "unsupported_extension";
        case 115:
            return "unknown_psk_identity";
        default:
            return "alert";
    }
}

std::string alert_text(std::uint8_t alert) {
    return std::string(alert_name(alert)) + " (" + std::to_string(alert) + ")";
}

}  // namespace

std::string describe(const DtlsHandshakeFailure& failure) {
    switch (failure.cause) {
        case DtlsHandshakeFailure::Cause::timeout:
            return "no answer to the DTLS handshake in time (no DTLS server there, or a wrong "
                   "pre-shared key: servers drop records they cannot authenticate)";
        case DtlsHandshakeFailure::Cause::server_alert:
            if (failure.alert == 115)
                return "the server sent a fatal alert: " + alert_text(failure.alert) +
                       ", it does not know the PSK identity";
            if (failure.alert == 20 || failure.alert == 51)
                return "the server sent a fatal alert: " + alert_text(failure.alert) +
                       ", probably a wrong pre-shared key";
            return "the server sent a fatal alert: " + alert_text(failure.alert);
        case DtlsHandshakeFailure::Cause::client_alert:
            if (failure.alert == 51)
                return "the server's Finished did not verify (" + alert_text(failure.alert) +
                       "): probably a wrong pre-shared key";
            return "the handshake broke off, we sent a fatal alert: " + alert_text(failure.alert);
        case DtlsHandshakeFailure::Cause::network:
            return "the server cannot be reached (ICMP port unreachable)";
    }
    return "DTLS handshake failed";
}

namespace detail {

dtls::DtlsClientConfig dtls_client_config(const ClientDtlsConfig& config) {
    dtls::DtlsClientConfig out;
    out.handshake.timing.initial_timeout = config.handshake_initial_timeout;
    out.handshake.timing.max_retransmissions = config.handshake_retransmissions;
    out.handshake.extended_master_secret = config.extended_master_secret;
    out.handshake.identity = config.credentials.identity;
    out.handshake.key = dtls::PskKey(Bytes(config.credentials.key));
    out.resume = config.resume;
    return out;
}

SecureChannel::SecureChannel(const ClientDtlsConfig& config, dtls::DatagramSink& out)
    : out_(out), dtls_(dtls_client_config(config), server_) {}

void SecureChannel::start(TimePoint now) noexcept {
    if (established() || handshaking()) return;
    dtls_.connect(now, *this);
}

bool SecureChannel::seal(Bytes plaintext) noexcept {
    return dtls_.seal(plaintext, *this).has_value();
}

void SecureChannel::close() noexcept {
    closing_ = true;
    dtls_.close(*this);
    closing_ = false;
}

void SecureChannel::abort_unreachable() noexcept {
    if (!handshaking()) return;
    close();
    record_failure({DtlsHandshakeFailure::Cause::network, 0});
}

SecureChannel::Outcome SecureChannel::take_outcome() noexcept {
    Outcome outcome = outcome_;
    outcome_ = Outcome::none;
    return outcome;
}

void SecureChannel::send(const Endpoint&, Bytes datagram) noexcept {
    out_.send(datagram);
}

void SecureChannel::received(const Endpoint&, Bytes application_data) noexcept {
    if (deliver_ != nullptr) deliver_(deliver_context_, application_data);
}

void SecureChannel::established(const Endpoint&, Bytes) noexcept {
    status_.established = true;
    status_.resumed = dtls_.handshake().resumed();
    ++(status_.resumed ? status_.resumed_handshakes : status_.full_handshakes);
}

void SecureChannel::closed(const Endpoint&, dtls::CloseReason reason) noexcept {
    const bool was_established = status_.established;
    status_.established = false;
    if (closing_) return;
    if (was_established) {
        outcome_ = Outcome::session_closed;
        return;
    }
    const dtls::ClientHandshake& handshake = dtls_.handshake();
    DtlsHandshakeFailure failure;
    if (reason == dtls::CloseReason::peer_alert && handshake.received_alert()) {
        failure.cause = DtlsHandshakeFailure::Cause::server_alert;
        failure.alert = static_cast<std::uint8_t>(handshake.received_alert()->description);
    } else if (reason == dtls::CloseReason::local_alert && handshake.sent_alert()) {
        failure.cause = DtlsHandshakeFailure::Cause::client_alert;
        failure.alert = static_cast<std::uint8_t>(handshake.sent_alert()->description);
    }
    record_failure(failure);
}

void SecureChannel::record_failure(DtlsHandshakeFailure failure) noexcept {
    ++status_.failed_handshakes;
    status_.last_failure = failure;
    outcome_ = Outcome::handshake_failed;
}

}  // namespace detail
}  // namespace coap
