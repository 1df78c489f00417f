// Client handshake state machine: RFC 6347 §4.2.1-§4.2.6, RFC 5246 §7.3-§7.4.9, RFC 4279 §2,
// RFC 7627 §5.2-§5.3, RFC 5746 §3.4-§3.5.
#include "dtls/client_handshake.hpp"

#include <cstring>

namespace coap::dtls {

namespace {
const CipherSuite& suite = tls_psk_with_aes_128_ccm_8;
constexpr std::uint8_t offered_suites[] = {static_cast<std::uint8_t>(suite.id >> 8),
                                           static_cast<std::uint8_t>(suite.id & 0xff)};
constexpr std::uint8_t null_compression[] = {0};
}  // namespace

void ClientHandshake::start(const ResumableSession* resume, TimePoint now, Transmit& tx) noexcept {
    reset_core(Role::client, config_->timing);
    state_ = State::done;
    hello_verify_requests_ = 0;
    cookie_size_ = 0;
    offered_.wipe();
    if (resume != nullptr && resume->usable()) offered_ = *resume;
    if (!random_bytes(client_random_) || !add_client_hello()) {
        state_ = fail_with(AlertDescription::internal_error, tx);
        return;
    }
    accept_sequence_jump_ = true;  // the server's first message_seq depends on its cookie use
    send_flight(now, tx, true);
    state_ = State::await_server_hello;
}

// RFC 6347 §4.2.1: both hellos carry the same version, random, session id, suites,
// compression and extensions; only the cookie differs. The transcript starts with the last one.
bool ClientHandshake::add_client_hello() noexcept {
    ClientHello hello;
    hello.client_version = dtls_1_2;
    hello.random = client_random_;
    hello.session_id = offered_.id();
    hello.cookie = Bytes(cookie_).first(cookie_size_);
    hello.cipher_suites = offered_suites;
    hello.compression_methods = null_compression;
    hello.extensions.extended_master_secret = config_->extended_master_secret;
    hello.extensions.renegotiation_info = true;  // RFC 5746 §3.4: empty on the first handshake
    flight_.clear();
    return transcript_.reset() &&
           add_message(HandshakeType::client_hello, 0,
                       [&](MutableBytes out) { return write_client_hello(hello, out); });
}

void ClientHandshake::on_message(const HandshakeMessage& message, TimePoint now,
                                 Transmit& tx) noexcept {
    switch (message.header.type) {
        case HandshakeType::hello_verify_request:
            return dispatch(Input::hello_verify_request, &message, now, tx);
        case HandshakeType::server_hello:
            return dispatch(Input::server_hello, &message, now, tx);
        case HandshakeType::server_key_exchange:
            return dispatch(Input::server_key_exchange, &message, now, tx);
        case HandshakeType::server_hello_done:
            return dispatch(Input::server_hello_done, &message, now, tx);
        case HandshakeType::finished:
            return dispatch(Input::finished, &message, now, tx);
        case HandshakeType::hello_request:
            return;  // RFC 5246 §7.4.1.1: ignored while negotiating
        default:
            return dispatch(Input::other, &message, now, tx);
    }
}

void ClientHandshake::on_change_cipher_spec(TimePoint now, Transmit& tx) noexcept {
    dispatch(Input::change_cipher_spec, nullptr, now, tx);
}

void ClientHandshake::dispatch(Input input, const HandshakeMessage* message, TimePoint now,
                               Transmit& tx) noexcept {
    static constexpr Transition table[] = {
        {State::await_server_hello, Input::hello_verify_request,
         &ClientHandshake::accept_hello_verify_request},
        {State::await_server_hello, Input::server_hello, &ClientHandshake::accept_server_hello},
        {State::await_server_key_exchange, Input::server_key_exchange,
         &ClientHandshake::accept_server_key_exchange},
        {State::await_server_key_exchange, Input::server_hello_done,
         &ClientHandshake::accept_server_hello_done},
        {State::await_server_hello_done, Input::server_hello_done,
         &ClientHandshake::accept_server_hello_done},
        {State::await_change_cipher_spec, Input::change_cipher_spec,
         &ClientHandshake::accept_change_cipher_spec},
        {State::await_finished, Input::finished, &ClientHandshake::accept_finished},
        {State::await_resumed_change_cipher_spec, Input::change_cipher_spec,
         &ClientHandshake::accept_resumed_change_cipher_spec},
        {State::await_resumed_finished, Input::finished, &ClientHandshake::accept_resumed_finished},
    };
    for (const Transition& row : table) {
        if (row.state == state_ && row.input == input) {
            state_ = (this->*row.action)(message, now, tx);
            return;
        }
    }
    // An early ChangeCipherSpec (RFC 6347 §4.2.5) or a late HelloVerifyRequest is dropped;
    // any other message out of place is fatal (RFC 5246 §7.2.2).
    if (input != Input::change_cipher_spec && input != Input::hello_verify_request)
        state_ = fail_with(AlertDescription::unexpected_message, tx);
}

ClientHandshake::State ClientHandshake::accept_hello_verify_request(const HandshakeMessage* message,
                                                                    TimePoint now,
                                                                    Transmit& tx) noexcept {
    auto request = parse_hello_verify_request(message->body);
    if (!request) return fail_with(AlertDescription::decode_error, tx);
    if (++hello_verify_requests_ > max_hello_verify_requests)
        return fail_with(AlertDescription::handshake_failure, tx);
    cookie_size_ = static_cast<std::uint8_t>(request->cookie.size());
    if (cookie_size_ > 0) std::memcpy(cookie_.data(), request->cookie.data(), cookie_size_);
    if (!add_client_hello()) return fail_with(AlertDescription::internal_error, tx);
    accept_sequence_jump_ = true;
    send_flight(now, tx, true);
    return State::await_server_hello;
}

ClientHandshake::State ClientHandshake::accept_server_hello(const HandshakeMessage* message,
                                                            TimePoint, Transmit& tx) noexcept {
    auto hello = parse_server_hello(message->body);
    if (!hello) return fail_with(AlertDescription::decode_error, tx);
    if (hello->server_version != dtls_1_2) return fail_with(AlertDescription::protocol_version, tx);
    if (hello->cipher_suite != suite.id || hello->compression_method != 0)
        return fail_with(AlertDescription::illegal_parameter, tx);
    // RFC 5246 §7.4.1.4: only extensions we offered may come back.
    const HelloExtensions& extensions = hello->extensions;
    if (extensions.unknown_extensions ||
        (extensions.extended_master_secret && !config_->extended_master_secret))
        return fail_with(AlertDescription::unsupported_extension, tx);
    if (extensions.renegotiation_info && !extensions.renegotiated_connection.empty())
        return fail_with(AlertDescription::handshake_failure, tx);  // RFC 5746 §3.4
    std::memcpy(server_random_.data(), hello->random.data(), random_size);

    const Bytes offered = offered_.id();
    const bool resuming =
        !offered.empty() && hello->session_id.size() == offered.size() &&
        std::memcmp(hello->session_id.data(), offered.data(), offered.size()) == 0;
    if (!resuming) {
        set_session_id(hello->session_id);
        extended_master_secret_ = extensions.extended_master_secret;
        return State::await_server_key_exchange;
    }
    // RFC 7627 §5.3: the abbreviated handshake must keep the session's EMS use.
    if (extensions.extended_master_secret != offered_.extended_master_secret)
        return fail_with(AlertDescription::handshake_failure, tx);
    import_resumable(offered_);
    resumed_ = true;
    if (!derive_traffic_keys()) return fail_with(AlertDescription::internal_error, tx);
    return State::await_resumed_change_cipher_spec;
}

// RFC 4279 §2: the hint may help choose an identity; with one configured identity it is unused.
ClientHandshake::State ClientHandshake::accept_server_key_exchange(const HandshakeMessage* message,
                                                                   TimePoint,
                                                                   Transmit& tx) noexcept {
    if (!parse_psk_server_key_exchange(message->body))
        return fail_with(AlertDescription::decode_error, tx);
    return State::await_server_hello_done;
}

ClientHandshake::State ClientHandshake::accept_server_hello_done(const HandshakeMessage* message,
                                                                 TimePoint now,
                                                                 Transmit& tx) noexcept {
    if (!parse_server_hello_done(message->body))
        return fail_with(AlertDescription::decode_error, tx);
    const Bytes identity = as_bytes(config_->identity);
    if (identity.size() > max_identity_size) return fail_with(AlertDescription::internal_error, tx);
    set_identity(identity);
    flight_.clear();
    const bool built =
        add_message(HandshakeType::client_key_exchange, 0,
                    [&](MutableBytes out) {
                        return write_psk_client_key_exchange(PskClientKeyExchange{identity}, out);
                    }) &&
        derive_from_psk(config_->key.view()) && add_change_cipher_spec() && add_finished();
    if (!built) return fail_with(AlertDescription::internal_error, tx);
    repeat_trigger_ = RepeatTrigger{message->header.message_seq,  // §4.2.4: a repeated flight 4
                                    HandshakeType::server_hello_done};
    send_flight(now, tx, true);
    return State::await_change_cipher_spec;
}

ClientHandshake::State ClientHandshake::accept_change_cipher_spec(const HandshakeMessage*,
                                                                  TimePoint, Transmit&) noexcept {
    start_reading_epoch_1();
    return State::await_finished;
}

ClientHandshake::State ClientHandshake::accept_finished(const HandshakeMessage* message, TimePoint,
                                                        Transmit& tx) noexcept {
    if (message->epoch != 1) return state_;  // must be protected; plaintext ones are dropped
    if (!finished_ok(*message, tx)) return State::done;
    complete();
    return State::done;
}

ClientHandshake::State ClientHandshake::accept_resumed_change_cipher_spec(const HandshakeMessage*,
                                                                          TimePoint,
                                                                          Transmit&) noexcept {
    start_reading_epoch_1();
    return State::await_resumed_finished;
}

// RFC 5246 §7.3 Figure 2: the client sends the last flight of an abbreviated handshake.
ClientHandshake::State ClientHandshake::accept_resumed_finished(const HandshakeMessage* message,
                                                                TimePoint now,
                                                                Transmit& tx) noexcept {
    if (message->epoch != 1) return state_;
    if (!finished_ok(*message, tx)) return State::done;
    flight_.clear();
    if (!add_change_cipher_spec() || !add_finished())
        return fail_with(AlertDescription::internal_error, tx);
    sends_last_flight_ = true;  // §4.2.4: the session answers a repeated server Finished
    send_flight(now, tx, false);
    complete();
    return State::done;
}

ClientHandshake::State ClientHandshake::fail_with(AlertDescription description,
                                                  Transmit& tx) noexcept {
    fail(description, tx);
    return State::done;
}

}  // namespace coap::dtls
