// The client side of the DTLS 1.2 PSK handshake (RFC 6347 §4.2.4 Figures 1 and 2, RFC 4279
// §2) as a table of (state, input) -> action:
//
//   ClientHello -> [HelloVerifyRequest -> ClientHello with cookie]* -> ServerHello
//   full:    [ServerKeyExchange] ServerHelloDone -> ClientKeyExchange + CCS + Finished
//            CCS, Finished -> established
//   resumed: (ServerHello with our session id) CCS, Finished -> CCS + Finished, established
//
// It offers the extended master secret (RFC 7627) and an empty renegotiation_info (RFC 5746
// §3.4), and resumes a stored session when one is given.
#pragma once

#include <string>

#include "dtls/handshake_core.hpp"

namespace coap::dtls {

struct ClientHandshakeConfig {
    HandshakeTiming timing;
    bool extended_master_secret = true;  // offer RFC 7627
    std::string identity;                // PSK identity (RFC 4279 §2), at most 128 bytes
    PskKey key;
};

class ClientHandshake final : public HandshakeCore {
  public:
    /// HelloVerifyRequests answered per handshake before giving up on a server that keeps
    /// changing its cookie.
    static constexpr unsigned max_hello_verify_requests = 4;

    explicit ClientHandshake(const ClientHandshakeConfig& config) noexcept : config_(&config) {}

    /// Sends the first ClientHello, offering `resume` (may be null or unusable) for an
    /// abbreviated handshake.
    void start(const ResumableSession* resume, TimePoint now, Transmit& tx) noexcept;

  private:
    enum class State : std::uint8_t {
        await_server_hello,
        await_server_key_exchange,
        await_server_hello_done,
        await_change_cipher_spec,
        await_finished,
        await_resumed_change_cipher_spec,
        await_resumed_finished,
        done,
    };
    enum class Input : std::uint8_t {
        hello_verify_request,
        server_hello,
        server_key_exchange,
        server_hello_done,
        change_cipher_spec,
        finished,
        other,
    };
    using Action = State (ClientHandshake::*)(const HandshakeMessage*, TimePoint, Transmit&);
    struct Transition {
        State state;
        Input input;
        Action action;
    };

    void on_message(const HandshakeMessage& message, TimePoint now, Transmit& tx) noexcept override;
    void on_change_cipher_spec(TimePoint now, Transmit& tx) noexcept override;
    void dispatch(Input input, const HandshakeMessage* message, TimePoint now,
                  Transmit& tx) noexcept;
    bool add_client_hello() noexcept;

    State accept_hello_verify_request(const HandshakeMessage* message, TimePoint now,
                                      Transmit& tx) noexcept;
    State accept_server_hello(const HandshakeMessage* message, TimePoint, Transmit& tx) noexcept;
    State accept_server_key_exchange(const HandshakeMessage* message, TimePoint,
                                     Transmit& tx) noexcept;
    State accept_server_hello_done(const HandshakeMessage* message, TimePoint now,
                                   Transmit& tx) noexcept;
    State accept_change_cipher_spec(const HandshakeMessage*, TimePoint, Transmit&) noexcept;
    State accept_finished(const HandshakeMessage* message, TimePoint, Transmit& tx) noexcept;
    State accept_resumed_change_cipher_spec(const HandshakeMessage*, TimePoint, Transmit&) noexcept;
    State accept_resumed_finished(const HandshakeMessage* message, TimePoint now,
                                  Transmit& tx) noexcept;
    State fail_with(AlertDescription description, Transmit& tx) noexcept;

    const ClientHandshakeConfig* config_;
    State state_ = State::done;
    unsigned hello_verify_requests_ = 0;
    ResumableSession offered_;
    std::uint8_t cookie_size_ = 0;
    std::array<std::uint8_t, 255> cookie_{};
};

}  // namespace coap::dtls
