// The server side of the DTLS 1.2 PSK handshake (RFC 6347 §4.2.4 Figures 1 and 2, RFC 4279 §2)
// as a table of (state, input) -> action. It starts from a ClientHello whose cookie the caller
// already verified (cookie.hpp), so it never exists for an unverified address:
//
//   full:     ClientHello -> ServerHello [+ ServerKeyExchange] + ServerHelloDone
//             ClientKeyExchange, ChangeCipherSpec, Finished -> ChangeCipherSpec + Finished
//   resumed:  ClientHello(known session id) -> ServerHello + ChangeCipherSpec + Finished
//             ChangeCipherSpec, Finished -> established
//
// The extended master secret (RFC 7627) is used when the client offers it and the
// configuration allows it; a session is only resumed when its EMS use matches the new hello's
// (§5.3; otherwise a full handshake). Renegotiation indication (RFC 5746) is echoed so that
// clients requiring it connect, but renegotiation itself is refused by the session layer.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "dtls/handshake_core.hpp"

namespace coap::dtls {

/// Finds the key for a PSK identity (compared byte by byte, RFC 7925 §4.2); nullopt when
/// unknown. Called during handshakes only; must not throw.
using PskLookup = std::function<std::optional<PskKey>(std::string_view identity)>;

struct ServerHandshakeConfig {
    HandshakeTiming timing;
    bool extended_master_secret = true;  // use RFC 7627 when the client offers it
    /// RFC 4279 §2: sent in a ServerKeyExchange; empty means no ServerKeyExchange at all.
    std::string identity_hint;
    PskLookup psk_lookup;
};

class ServerHandshake final : public HandshakeCore {
  public:
    explicit ServerHandshake(const ServerHandshakeConfig& config) noexcept : config_(&config) {}

    /// Starts on a ClientHello with a verified cookie, carried unfragmented in `record`.
    /// `cache` (may be null) is consulted for resumption. Sends the first flight.
    void start(const Record& record, const HandshakeFragment& fragment, const ClientHello& hello,
               ResumptionCache* cache, TimePoint now, Transmit& tx) noexcept;

    /// True if `hello` is the ClientHello this handshake started from (same random), i.e. a
    /// retransmission rather than a new connection attempt.
    bool same_client(const ClientHello& hello) const noexcept;

  private:
    enum class State : std::uint8_t {
        await_key_exchange,
        await_change_cipher_spec,
        await_finished,
        await_resumed_change_cipher_spec,
        await_resumed_finished,
        done,
    };
    enum class Input : std::uint8_t { client_key_exchange, change_cipher_spec, finished, other };
    using Action = State (ServerHandshake::*)(const HandshakeMessage*, TimePoint, Transmit&);
    struct Transition {
        State state;
        Input input;
        Action action;
    };

    void on_message(const HandshakeMessage& message, TimePoint now, Transmit& tx) noexcept override;
    void on_change_cipher_spec(TimePoint now, Transmit& tx) noexcept override;
    void dispatch(Input input, const HandshakeMessage* message, TimePoint now,
                  Transmit& tx) noexcept;

    std::optional<AlertDescription> check_hello(const ClientHello& hello) const noexcept;
    bool add_server_hello() noexcept;
    State start_full(TimePoint now, Transmit& tx) noexcept;
    State start_resumed(const ResumableSession& session, TimePoint now, Transmit& tx) noexcept;

    State accept_key_exchange(const HandshakeMessage* message, TimePoint, Transmit& tx) noexcept;
    State accept_change_cipher_spec(const HandshakeMessage*, TimePoint, Transmit&) noexcept;
    State accept_finished(const HandshakeMessage* message, TimePoint now, Transmit& tx) noexcept;
    State accept_resumed_change_cipher_spec(const HandshakeMessage*, TimePoint, Transmit&) noexcept;
    State accept_resumed_finished(const HandshakeMessage* message, TimePoint,
                                  Transmit& tx) noexcept;
    /// Checks the peer's Finished; false (after failing the handshake) when it is wrong.
    State fail_with(AlertDescription description, Transmit& tx) noexcept;

    const ServerHandshakeConfig* config_;
    State state_ = State::done;
    bool secure_renegotiation_ = false;
};

}  // namespace coap::dtls
