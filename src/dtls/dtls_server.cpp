// DTLS server façade, receive side: record dispatch (RFC 6347 §4.1), the stateless cookie
// exchange (§4.2.1) and handshake slots (§4.2.8: an existing session survives a new handshake
// from the same endpoint until that one completes).
#include "dtls/dtls_server.hpp"

#include <algorithm>

namespace coap::dtls {

namespace {

bool starts_client_hello(Bytes fragment) noexcept {
    return !fragment.empty() &&
           fragment[0] == static_cast<std::uint8_t>(HandshakeType::client_hello);
}

}  // namespace

DtlsServer::DtlsServer(DtlsServerConfig config)
    : config_(std::move(config)),
      cookies_(CookieSecret{}, config_.cookie_size),
      sessions_(config_.session_count, config_.session_idle_timeout),
      handshakes_(config_.handshake_count, config_.handshake),
      resumption_(config_.resumption_cache_size),
      out_buffer_(std::max(config_.mtu,
                           sealed_record_size(tls_psk_with_aes_128_ccm_8, max_plaintext_size))),
      open_buffer_(max_plaintext_size + record_expansion(tls_psk_with_aes_128_ccm_8)) {
    // Two rotations replace the placeholder secret as both current and previous key.
    CookieSecret secret{};
    for (int i = 0; i < 2; ++i)
        cookie_secret_ok_ = random_bytes(secret) && cookies_.rotate(secret) && cookie_secret_ok_;
    secure_wipe(secret);
}

bool DtlsServer::valid() const noexcept {
    return aead_.valid() && cookies_.valid() && cookie_secret_ok_ && handshakes_.valid();
}

Transmit DtlsServer::transmit(DatagramSink& sink) noexcept {
    return Transmit{aead_, out_buffer_, sink, std::max(config_.mtu, min_mtu)};
}

void DtlsServer::on_datagram(const Endpoint& peer, Bytes datagram, TimePoint now,
                             DtlsEvents& events) noexcept {
    if (!next_rotation_) next_rotation_ = now + config_.cookie_rotation_interval;
    // RFC 6347 §4.1.1: a datagram may carry several records; bad ones are dropped (§4.1.2.7).
    for (RecordReader reader(datagram); !reader.done();) {
        auto record = reader.next();
        if (!record) {
            ++stats_.records_dropped;
            continue;
        }
        on_record(peer, *record, datagram.size(), now, events);
    }
}

void DtlsServer::on_record(const Endpoint& peer, const Record& record, std::size_t datagram_size,
                           TimePoint now, DtlsEvents& events) noexcept {
    const RecordHeader& header = record.header;
    ServerHandshake* handshake = handshakes_.find(peer);
    if (header.epoch == 0) {
        if (header.type == ContentType::handshake && starts_client_hello(record.fragment))
            return on_client_hello(peer, record, datagram_size, now, events);
        // Epoch 0 of an established session (a repeated final flight, answered through its
        // Finished in epoch 1; or an unauthenticated alert) is ignored.
        if (handshake != nullptr) return feed_handshake(peer, *handshake, record, now, events);
    } else if (header.epoch == 1) {
        // The handshake takes its Finished once it reads epoch 1; everything else in epoch 1
        // belongs to the session (RFC 6347 §4.2.8: an old one may still exist).
        const bool for_handshake = handshake != nullptr && handshake->reads_epoch_1() &&
                                   header.type != ContentType::application_data;
        if (for_handshake) return feed_handshake(peer, *handshake, record, now, events);
        if (Session* session = sessions_.find(peer))
            return on_session_record(*session, record, now, events);
    }
    ++stats_.records_dropped;  // other epochs, or nobody to take it (§4.1: discard)
}

void DtlsServer::on_client_hello(const Endpoint& peer, const Record& record,
                                 std::size_t datagram_size, TimePoint now,
                                 DtlsEvents& events) noexcept {
    // A stateless server cannot reassemble: the hello must be one whole message (as OpenSSL's
    // DTLSv1_listen requires too).
    auto fragment = parse_handshake_fragment(record.fragment);
    if (!fragment || !fragment->is_whole_message()) {
        ++stats_.records_dropped;
        return;
    }
    auto hello = parse_client_hello(fragment->body);
    if (!hello) {
        ++stats_.records_dropped;
        return;
    }
    ServerHandshake* handshake = handshakes_.find(peer);
    if (handshake != nullptr && handshake->same_client(*hello))
        return feed_handshake(peer, *handshake, record, now, events);  // a retransmission
    // §4.2.1: no or an invalid cookie is answered the same way, without keeping state.
    if (!cookies_.verify(peer, *hello))
        return send_hello_verify_request(peer, record, *fragment, *hello, datagram_size, events);
    if (handshake == nullptr) handshake = handshakes_.acquire(peer);
    if (handshake == nullptr) {
        ++stats_.handshakes_refused;
        return;
    }
    ++stats_.handshakes_started;
    PeerSink sink(events, peer);
    Transmit tx = transmit(sink);
    handshake->start(record, *fragment, *hello, &resumption_, now, tx);
    settle(peer, *handshake, now, events);
}

void DtlsServer::send_hello_verify_request(const Endpoint& peer, const Record& record,
                                           const HandshakeFragment& fragment,
                                           const ClientHello& hello, std::size_t datagram_size,
                                           DtlsEvents& events) noexcept {
    std::array<std::uint8_t, max_cookie_size> cookie{};
    const std::size_t cookie_size = cookies_.make(peer, hello, cookie);
    if (cookie_size == 0) return;
    // §4.2.1: server_version 1.0; the record reuses the ClientHello's sequence number; the
    // message continues the client's message_seq (a stateless server keeps none of its own).
    std::array<std::uint8_t, record_header_size + handshake_header_size + 3 + max_cookie_size>
        datagram{};
    MutableBytes body = MutableBytes(datagram).subspan(record_header_size + handshake_header_size);
    auto body_size = write_hello_verify_request(
        HelloVerifyRequest{dtls_1_0, Bytes(cookie).first(cookie_size)}, body);
    if (!body_size) return;
    const auto length = static_cast<std::uint32_t>(*body_size);
    const HandshakeHeader message{HandshakeType::hello_verify_request, length,
                                  fragment.header.message_seq, 0, length};
    const std::size_t total = record_header_size + handshake_header_size + *body_size;
    RecordHeader header{ContentType::handshake, dtls_1_0, 0, record.header.sequence,
                        static_cast<std::uint16_t>(total - record_header_size)};
    // No amplification: the answer is never larger than the hello that caused it.
    if (total > datagram_size) return;
    if (!write_handshake_header(message, MutableBytes(datagram).subspan(record_header_size)) ||
        !write_record_header(header, datagram))
        return;
    ++stats_.hello_verify_requests;
    events.send(peer, Bytes(datagram).first(total));
}

void DtlsServer::feed_handshake(const Endpoint& peer, ServerHandshake& handshake,
                                const Record& record, TimePoint now, DtlsEvents& events) noexcept {
    PeerSink sink(events, peer);
    Transmit tx = transmit(sink);
    handshake.on_record(record, now, tx);
    settle(peer, handshake, now, events);
}

void DtlsServer::settle(const Endpoint& peer, ServerHandshake& handshake, TimePoint now,
                        DtlsEvents& events) noexcept {
    switch (handshake.status()) {
        case HandshakeStatus::in_progress:
            return;
        case HandshakeStatus::established:
            return promote(peer, handshake, now, events);
        case HandshakeStatus::failed: {
            // RFC 5246 §7.2.2: a session whose handshake failed is not resumable.
            if (handshake.resumed()) {
                ResumableSession failed;
                handshake.export_resumable(failed);
                resumption_.erase(failed.id());
            }
            ++stats_.handshakes_failed;
            const Endpoint copy = peer;  // `peer` may live in the slot being released
            const CloseReason reason = handshake.failure();
            handshakes_.release(handshake);
            events.closed(copy, reason);
            return;
        }
    }
}

void DtlsServer::promote(const Endpoint& peer_ref, ServerHandshake& handshake, TimePoint now,
                         DtlsEvents& events) noexcept {
    const Endpoint peer = peer_ref;
    SessionSetup setup;
    handshake.export_session(setup);
    if (Session* old = sessions_.find(peer)) {
        sessions_.erase(*old);  // §4.2.8: the new association replaces the old one
        events.closed(peer, CloseReason::replaced);
    }
    Session& session = sessions_.insert(peer, now, [&](const Endpoint& evicted) {
        ++stats_.sessions_evicted;
        events.closed(evicted, CloseReason::evicted);
    });
    session.establish(peer, setup, now);
    if (handshake.resumed()) {
        ++stats_.handshakes_resumed;
    } else {
        ResumableSession resumable;
        handshake.export_resumable(resumable);
        resumption_.insert(resumable);
    }
    ++stats_.handshakes_completed;
    handshakes_.release(handshake);
    events.established(peer, session.identity());
}

}  // namespace coap::dtls
