// DTLS server façade, established sessions and time: application data (RFC 6347 §4.1.2),
// alerts (RFC 5246 §7.2.1 close_notify), the repeated final flight (RFC 6347 §4.2.4),
// renegotiation refused (RFC 5246 §7.2.2 no_renegotiation, RFC 7925 §17), timers.
#include <algorithm>

#include "dtls/dtls_server.hpp"

namespace coap::dtls {

void DtlsServer::on_session_record(Session& session, const Record& record, TimePoint now,
                                   DtlsEvents& events) noexcept {
    auto plaintext = session.open(aead_, record, open_buffer_);
    if (!plaintext) {
        ++(plaintext.error() == RecordError::replayed ? stats_.records_replayed
                                                      : stats_.records_dropped);
        return;
    }
    sessions_.touch(session, now);
    switch (record.header.type) {
        case ContentType::application_data:
            session.peer_confirmed();
            events.received(session.peer(), *plaintext);
            return;
        case ContentType::alert:
            return on_session_alert(session, *plaintext, events);
        case ContentType::handshake:
            return on_session_handshake(session, *plaintext, events);
        case ContentType::change_cipher_spec:
            return;  // a repeated one inside epoch 1 carries nothing
    }
}

void DtlsServer::on_session_alert(Session& session, Bytes plaintext, DtlsEvents& events) noexcept {
    auto alert = Alert::parse(plaintext);
    if (!alert) return;
    if (alert->description == AlertDescription::close_notify) {
        // RFC 5246 §7.2.1: answer with our own close_notify and drop the session.
        send_alert(session, Alert{AlertLevel::warning, AlertDescription::close_notify}, events);
    } else if (!alert->is_fatal()) {
        return;  // other warnings (e.g. no_renegotiation) change nothing
    }
    const Endpoint peer = session.peer();
    sessions_.erase(session);
    events.closed(peer, alert->description == AlertDescription::close_notify
                            ? CloseReason::peer_close_notify
                            : CloseReason::peer_alert);
}

void DtlsServer::on_session_handshake(Session& session, Bytes plaintext,
                                      DtlsEvents& events) noexcept {
    if (session.is_repeated_peer_finished(plaintext)) {
        // RFC 6347 §4.2.4: the client did not get our final flight; send it again.
        PeerSink sink(events, session.peer());
        Transmit tx = transmit(sink);
        (void)session.send_last_flight(tx);
        return;
    }
    auto fragment = parse_handshake_fragment(plaintext);
    if (fragment && fragment->header.type == HandshakeType::client_hello) {
        // RFC 5246 §7.2.2 / RFC 7925 §17: renegotiation is disabled; the warning tells the
        // client so, and the session continues.
        ++stats_.renegotiations_refused;
        send_alert(session, Alert{AlertLevel::warning, AlertDescription::no_renegotiation}, events);
    }
}

void DtlsServer::send_alert(Session& session, Alert alert, DtlsEvents& events) noexcept {
    const auto encoded = alert.encode();
    auto size = session.seal(aead_, ContentType::alert, encoded, out_buffer_);
    if (size) events.send(session.peer(), Bytes(out_buffer_).first(*size));
}

Expected<std::size_t, DtlsError> DtlsServer::seal_to(const Endpoint& peer, Bytes data,
                                                     TimePoint now, DtlsEvents& events) noexcept {
    Session* session = sessions_.find(peer);
    if (session == nullptr) return unexpected(DtlsError::no_session);
    if (data.size() > max_plaintext_size) return unexpected(DtlsError::too_large);
    auto size = session->seal(aead_, ContentType::application_data, data, out_buffer_);
    if (!size) return unexpected(DtlsError::failed);
    sessions_.touch(*session, now);
    events.send(peer, Bytes(out_buffer_).first(*size));
    return *size;
}

void DtlsServer::close(const Endpoint& peer, DtlsEvents& events) noexcept {
    if (ServerHandshake* handshake = handshakes_.find(peer)) {
        handshakes_.release(*handshake);
        events.closed(peer, CloseReason::local_close);
    }
    if (Session* session = sessions_.find(peer)) {
        send_alert(*session, Alert{AlertLevel::warning, AlertDescription::close_notify}, events);
        sessions_.erase(*session);
        events.closed(peer, CloseReason::local_close);
    }
}

Bytes DtlsServer::identity_of(const Endpoint& peer) noexcept {
    Session* session = sessions_.find(peer);
    return session != nullptr ? session->identity() : Bytes{};
}

void DtlsServer::on_timer(TimePoint now, DtlsEvents& events) noexcept {
    handshakes_.for_each([&](const Endpoint& peer, ServerHandshake& handshake) {
        PeerSink sink(events, peer);
        Transmit tx = transmit(sink);
        handshake.on_timer(now, tx);
        settle(peer, handshake, now, events);
    });
    sessions_.expire(now, [&](const Endpoint& peer) {
        ++stats_.sessions_expired;
        events.closed(peer, CloseReason::idle_timeout);
    });
    rotate_cookie_secret(now);
}

// RFC 6347 §4.2.1: a rotating secret bounds how long a cookie can be replayed.
void DtlsServer::rotate_cookie_secret(TimePoint now) noexcept {
    if (!next_rotation_) next_rotation_ = now + config_.cookie_rotation_interval;
    if (now < *next_rotation_) return;
    CookieSecret secret{};
    if (random_bytes(secret)) (void)cookies_.rotate(secret);
    secure_wipe(secret);
    next_rotation_ = now + config_.cookie_rotation_interval;
}

std::optional<TimePoint> DtlsServer::next_deadline() const noexcept {
    std::optional<TimePoint> earliest = next_rotation_;
    auto consider = [&](std::optional<TimePoint> candidate) {
        if (candidate && (!earliest || *candidate < *earliest)) earliest = candidate;
    };
    consider(sessions_.next_expiry());
    handshakes_.for_each(
        [&](const Endpoint&, const ServerHandshake& handshake) { consider(handshake.deadline()); });
    return earliest;
}

}  // namespace coap::dtls
