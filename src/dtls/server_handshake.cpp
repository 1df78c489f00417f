// Server handshake state machine: RFC 6347 §4.2.1-§4.2.6, RFC 5246 §7.3-§7.4.9, RFC 4279 §2,
// RFC 7627 §5.2-§5.3, RFC 5746 §3.6.
#include "dtls/server_handshake.hpp"

#include <cstring>

namespace coap::dtls {

namespace {
constexpr std::uint16_t renegotiation_scsv = 0x00ff;  // RFC 5746 §3.3
const CipherSuite& suite = tls_psk_with_aes_128_ccm_8;

Expected<std::size_t, CodecError> empty_body(MutableBytes) noexcept {
    return std::size_t{0};
}
}  // namespace

bool ServerHandshake::same_client(const ClientHello& hello) const noexcept {
    return hello.random.size() == random_size &&
           std::memcmp(hello.random.data(), client_random_.data(), random_size) == 0;
}

// RFC 5246 §7.4.1.2-§7.4.1.3 and RFC 5746 §3.6: what makes a hello unacceptable.
std::optional<AlertDescription> ServerHandshake::check_hello(
    const ClientHello& hello) const noexcept {
    // DTLS versions count down: 1.2 is {254, 253}; anything older has a larger minor.
    if (hello.client_version.major != dtls_1_2.major || hello.client_version.minor > dtls_1_2.minor)
        return AlertDescription::protocol_version;
    if (!hello.offers_cipher_suite(suite.id)) return AlertDescription::handshake_failure;
    if (!hello.offers_null_compression()) return AlertDescription::illegal_parameter;
    if (hello.extensions.renegotiation_info && !hello.extensions.renegotiated_connection.empty())
        return AlertDescription::handshake_failure;
    return std::nullopt;
}

void ServerHandshake::start(const Record& record, const HandshakeFragment& fragment,
                            const ClientHello& hello, ResumptionCache* cache, TimePoint now,
                            Transmit& tx) noexcept {
    reset_core(Role::server, config_->timing);
    state_ = State::done;
    std::memcpy(client_random_.data(), hello.random.data(), random_size);
    // §4.2.1: a stateless server answers with the ClientHello's record sequence number and,
    // for the messages, continues from the ClientHello's message_seq.
    const std::uint16_t hello_seq = fragment.header.message_seq;
    next_receive_seq_ = static_cast<std::uint16_t>(hello_seq + 1);
    next_send_seq_ = hello_seq;
    repeat_trigger_ = RepeatTrigger{hello_seq, HandshakeType::client_hello};
    continue_after_hello_record(record.header.sequence);
    if (auto alert = check_hello(hello)) {
        state_ = fail_with(*alert, tx);
        return;
    }
    std::array<std::uint8_t, handshake_header_size> header{};
    (void)write_handshake_header(fragment.header, header);
    if (!transcript_.update(header) || !transcript_.update(fragment.body) ||
        !random_bytes(server_random_)) {
        state_ = fail_with(AlertDescription::internal_error, tx);
        return;
    }
    secure_renegotiation_ =
        hello.extensions.renegotiation_info || hello.offers_cipher_suite(renegotiation_scsv);
    extended_master_secret_ =
        hello.extensions.extended_master_secret && config_->extended_master_secret;
    // RFC 7627 §5.3: resume only when the old session's EMS use matches the new hello's.
    const ResumableSession* known = cache != nullptr ? cache->find(hello.session_id) : nullptr;
    if (known != nullptr && known->extended_master_secret == extended_master_secret_) {
        state_ = start_resumed(*known, now, tx);
        return;
    }
    if (cache != nullptr && cache->capacity() > 0) {
        std::array<std::uint8_t, max_session_id_size> id{};
        if (random_bytes(id)) set_session_id(id);
    }
    if (!add_server_hello()) {
        state_ = fail_with(AlertDescription::internal_error, tx);
        return;
    }
    state_ = start_full(now, tx);
}

bool ServerHandshake::add_server_hello() noexcept {
    ServerHello reply;
    reply.random = server_random_;
    reply.session_id = Bytes(session_id_).first(session_id_size_);
    reply.cipher_suite = suite.id;
    reply.compression_method = 0;
    reply.extensions.extended_master_secret = extended_master_secret_;
    reply.extensions.renegotiation_info = secure_renegotiation_;
    return add_message(HandshakeType::server_hello, 0,
                       [&](MutableBytes out) { return write_server_hello(reply, out); });
}

ServerHandshake::State ServerHandshake::start_full(TimePoint now, Transmit& tx) noexcept {
    const std::string& hint = config_->identity_hint;
    if (!hint.empty() && !add_message(HandshakeType::server_key_exchange, 0, [&](MutableBytes out) {
            return write_psk_server_key_exchange(PskServerKeyExchange{as_bytes(hint)}, out);
        }))
        return fail_with(AlertDescription::internal_error, tx);
    if (!add_message(HandshakeType::server_hello_done, 0, empty_body))
        return fail_with(AlertDescription::internal_error, tx);
    send_flight(now, tx, true);
    return State::await_key_exchange;
}

// RFC 5246 §7.3 Figure 2: ServerHello, ChangeCipherSpec and Finished from the cached master.
ServerHandshake::State ServerHandshake::start_resumed(const ResumableSession& session,
                                                      TimePoint now, Transmit& tx) noexcept {
    import_resumable(session);
    resumed_ = true;
    if (!derive_traffic_keys() || !add_server_hello() || !add_change_cipher_spec() ||
        !add_finished())
        return fail_with(AlertDescription::internal_error, tx);
    send_flight(now, tx, true);
    return State::await_resumed_change_cipher_spec;
}

void ServerHandshake::on_message(const HandshakeMessage& message, TimePoint now,
                                 Transmit& tx) noexcept {
    switch (message.header.type) {
        case HandshakeType::client_key_exchange:
            return dispatch(Input::client_key_exchange, &message, now, tx);
        case HandshakeType::finished:
            return dispatch(Input::finished, &message, now, tx);
        case HandshakeType::client_hello:
            return;  // a new hello in sequence: not a renegotiation we take part in; ignored
        default:
            return dispatch(Input::other, &message, now, tx);
    }
}

void ServerHandshake::on_change_cipher_spec(TimePoint now, Transmit& tx) noexcept {
    dispatch(Input::change_cipher_spec, nullptr, now, tx);
}

void ServerHandshake::dispatch(Input input, const HandshakeMessage* message, TimePoint now,
                               Transmit& tx) noexcept {
    static constexpr Transition table[] = {
        {State::await_key_exchange, Input::client_key_exchange,
         &ServerHandshake::accept_key_exchange},
        {State::await_change_cipher_spec, Input::change_cipher_spec,
         &ServerHandshake::accept_change_cipher_spec},
        {State::await_finished, Input::finished, &ServerHandshake::accept_finished},
        {State::await_resumed_change_cipher_spec, Input::change_cipher_spec,
         &ServerHandshake::accept_resumed_change_cipher_spec},
        {State::await_resumed_finished, Input::finished, &ServerHandshake::accept_resumed_finished},
    };
    for (const Transition& row : table) {
        if (row.state == state_ && row.input == input) {
            state_ = (this->*row.action)(message, now, tx);
            return;
        }
    }
    // RFC 6347 §4.2.5: a ChangeCipherSpec ahead of the messages it follows means those were
    // lost; drop it and let the peer retransmit. A handshake message out of place is fatal
    // (RFC 5246 §7.2.2 unexpected_message).
    if (input != Input::change_cipher_spec)
        state_ = fail_with(AlertDescription::unexpected_message, tx);
}

// RFC 4279 §2: the identity selects the key; an unknown identity is fatal.
ServerHandshake::State ServerHandshake::accept_key_exchange(const HandshakeMessage* message,
                                                            TimePoint, Transmit& tx) noexcept {
    auto exchange = parse_psk_client_key_exchange(message->body);
    if (!exchange) return fail_with(AlertDescription::decode_error, tx);
    const Bytes identity = exchange->identity;
    if (identity.empty() || identity.size() > max_identity_size || !config_->psk_lookup)
        return fail_with(AlertDescription::unknown_psk_identity, tx);
    std::optional<PskKey> key = config_->psk_lookup(as_string(identity));
    if (!key || key->size == 0) return fail_with(AlertDescription::unknown_psk_identity, tx);
    set_identity(identity);
    if (!derive_from_psk(key->view())) return fail_with(AlertDescription::internal_error, tx);
    return State::await_change_cipher_spec;
}

ServerHandshake::State ServerHandshake::accept_change_cipher_spec(const HandshakeMessage*,
                                                                  TimePoint, Transmit&) noexcept {
    start_reading_epoch_1();
    return State::await_finished;
}

ServerHandshake::State ServerHandshake::accept_finished(const HandshakeMessage* message,
                                                        TimePoint now, Transmit& tx) noexcept {
    // Finished must arrive protected (epoch 1); a plaintext one is a forgery: dropped.
    if (message->epoch != 1) return state_;
    if (!finished_ok(*message, tx)) return State::done;
    flight_.clear();
    if (!add_change_cipher_spec() || !add_finished())
        return fail_with(AlertDescription::internal_error, tx);
    sends_last_flight_ = true;  // §4.2.4: the session answers a repeated client Finished
    send_flight(now, tx, false);
    complete();
    return State::done;
}

ServerHandshake::State ServerHandshake::accept_resumed_change_cipher_spec(const HandshakeMessage*,
                                                                          TimePoint,
                                                                          Transmit&) noexcept {
    start_reading_epoch_1();
    return State::await_resumed_finished;
}

ServerHandshake::State ServerHandshake::accept_resumed_finished(const HandshakeMessage* message,
                                                                TimePoint, Transmit& tx) noexcept {
    if (message->epoch != 1) return state_;
    if (!finished_ok(*message, tx)) return State::done;
    complete();
    return State::done;
}

ServerHandshake::State ServerHandshake::fail_with(AlertDescription description,
                                                  Transmit& tx) noexcept {
    fail(description, tx);
    return State::done;
}

}  // namespace coap::dtls
