// DTLS client façade: RFC 6347 §4.1 record dispatch, §4.2.4 repeated final flight; RFC 5246
// §7.2.1 close_notify; RFC 7925 §7 resumption and §17 renegotiation refused.
#include "dtls/dtls_client.hpp"

#include <algorithm>

namespace coap::dtls {

DtlsClient::DtlsClient(DtlsClientConfig config, const Endpoint& server)
    : config_(std::move(config)),
      server_(server),
      handshake_(config_.handshake),
      out_buffer_(std::max(config_.mtu,
                           sealed_record_size(tls_psk_with_aes_128_ccm_8, max_plaintext_size))),
      open_buffer_(max_plaintext_size + record_expansion(tls_psk_with_aes_128_ccm_8)) {}

Transmit DtlsClient::transmit(DatagramSink& sink) noexcept {
    return Transmit{aead_, out_buffer_, sink, std::max(config_.mtu, min_mtu)};
}

void DtlsClient::connect(TimePoint now, DtlsEvents& events) noexcept {
    session_.wipe();
    state_ = ClientState::handshaking;
    PeerSink sink(events, server_);
    Transmit tx = transmit(sink);
    handshake_.start(config_.resume ? &resumable_ : nullptr, now, tx);
    settle(now, events);
}

void DtlsClient::on_datagram(const Endpoint& from, Bytes datagram, TimePoint now,
                             DtlsEvents& events) noexcept {
    if (from != server_) return;
    for (RecordReader reader(datagram); !reader.done();) {
        auto record = reader.next();
        if (record) on_record(*record, now, events);
    }
}

void DtlsClient::on_record(const Record& record, TimePoint now, DtlsEvents& events) noexcept {
    if (state_ == ClientState::handshaking) {
        PeerSink sink(events, server_);
        Transmit tx = transmit(sink);
        handshake_.on_record(record, now, tx);
        settle(now, events);
    } else if (state_ == ClientState::established && record.header.epoch == 1) {
        on_session_record(record, events);
    }
    // Epoch 0 after the handshake (a repeated server flight is answered through its epoch-1
    // Finished), other epochs, and anything while idle or closed are dropped (§4.1).
}

void DtlsClient::settle(TimePoint now, DtlsEvents& events) noexcept {
    switch (handshake_.status()) {
        case HandshakeStatus::in_progress:
            return;
        case HandshakeStatus::failed:
            // RFC 5246 §7.2.2: a failed handshake's session is not resumed again.
            if (handshake_.resumed() || handshake_.received_alert()) forget_resumable();
            return end(handshake_.failure(), events);
        case HandshakeStatus::established: {
            SessionSetup setup;
            handshake_.export_session(setup);
            session_.establish(server_, setup, now);
            handshake_.export_resumable(resumable_);
            state_ = ClientState::established;
            events.established(server_, session_.identity());
            return;
        }
    }
}

void DtlsClient::on_session_record(const Record& record, DtlsEvents& events) noexcept {
    auto plaintext = session_.open(aead_, record, open_buffer_);
    if (!plaintext) return;
    switch (record.header.type) {
        case ContentType::application_data:
            session_.peer_confirmed();
            events.received(server_, *plaintext);
            return;
        case ContentType::alert: {
            auto alert = Alert::parse(*plaintext);
            if (!alert) return;
            if (alert->description == AlertDescription::close_notify) {
                send_alert(Alert{AlertLevel::warning, AlertDescription::close_notify}, events);
                return end(CloseReason::peer_close_notify, events);
            }
            if (alert->is_fatal()) return end(CloseReason::peer_alert, events);
            return;
        }
        case ContentType::handshake:
            return on_session_handshake(*plaintext, events);
        case ContentType::change_cipher_spec:
            return;
    }
}

void DtlsClient::on_session_handshake(Bytes plaintext, DtlsEvents& events) noexcept {
    if (session_.is_repeated_peer_finished(plaintext)) {
        // RFC 6347 §4.2.4: in a resumed handshake the client sent the last flight.
        PeerSink sink(events, server_);
        Transmit tx = transmit(sink);
        (void)session_.send_last_flight(tx);
        return;
    }
    auto fragment = parse_handshake_fragment(plaintext);
    if (fragment && fragment->header.type == HandshakeType::hello_request)
        send_alert(Alert{AlertLevel::warning, AlertDescription::no_renegotiation}, events);
}

void DtlsClient::send_alert(Alert alert, DtlsEvents& events) noexcept {
    const auto encoded = alert.encode();
    auto size = session_.seal(aead_, ContentType::alert, encoded, out_buffer_);
    if (size) events.send(server_, Bytes(out_buffer_).first(*size));
}

Expected<std::size_t, DtlsError> DtlsClient::seal(Bytes data, DtlsEvents& events) noexcept {
    if (state_ != ClientState::established) return unexpected(DtlsError::no_session);
    if (data.size() > max_plaintext_size) return unexpected(DtlsError::too_large);
    auto size = session_.seal(aead_, ContentType::application_data, data, out_buffer_);
    if (!size) return unexpected(DtlsError::failed);
    events.send(server_, Bytes(out_buffer_).first(*size));
    return *size;
}

void DtlsClient::on_timer(TimePoint now, DtlsEvents& events) noexcept {
    if (state_ != ClientState::handshaking) return;
    PeerSink sink(events, server_);
    Transmit tx = transmit(sink);
    handshake_.on_timer(now, tx);
    settle(now, events);
}

void DtlsClient::close(DtlsEvents& events) noexcept {
    if (state_ == ClientState::established)
        send_alert(Alert{AlertLevel::warning, AlertDescription::close_notify}, events);
    if (state_ == ClientState::handshaking) handshake_.wipe();
    if (state_ != ClientState::idle && state_ != ClientState::closed)
        end(CloseReason::local_close, events);
}

void DtlsClient::end(CloseReason reason, DtlsEvents& events) noexcept {
    session_.wipe();
    state_ = ClientState::closed;
    events.closed(server_, reason);
}

}  // namespace coap::dtls
