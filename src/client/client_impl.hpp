// The public Client's state: the sans-I/O engine, the connected UDP socket and, for coaps://,
// the DTLS channel between them. It drives them: sends what the engine queued (sealed, once a
// session is up), waits for datagrams and timers, and feeds what arrives back in.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "client/client_core.hpp"
#include "client/secure_channel.hpp"
#include "coap/client.hpp"
#include "dtls/datagram_sink.hpp"
#include "io/udp_client.hpp"

namespace coap {

struct Client::Impl final : private dtls::DatagramSink {
    explicit Impl(const ClientConfig& settings);
    ~Impl();
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    /// Sends what the engine queued. With DTLS and no session, starts the handshake and keeps
    /// the datagrams queued until it completes.
    void flush();
    /// Sends what is queued, waits for a datagram or a timer until `deadline`, handles it.
    void drive(TimePoint deadline);
    /// Drives until `handle` completes; other completions stay queued for poll.
    ClientResult wait_for(RequestHandle handle);
    /// wait_for without allocation: the response is copied into `buffer` (ClientCore::
    /// take_completion_into); its length or the request's error.
    Expected<std::size_t, ClientError> wait_into(RequestHandle handle, MutableBytes buffer);

    /// DTLS: runs a handshake to its end unless a session is up.
    std::optional<ClientError> connect();
    /// DTLS: close_notify; what is outstanding fails with `session_closed`.
    void disconnect();
    /// One datagram, sealed with DTLS (after a handshake if needed).
    std::optional<ClientError> send_datagram(Bytes datagram);
    /// The next datagram (with DTLS: the next application-data record), for recv_raw.
    Expected<std::vector<std::uint8_t>, ClientError> receive_datagram(Duration timeout);

    ClientConfig config;
    io::UdpClientSocket socket;
    detail::ClientCore core;
    std::vector<std::uint8_t> receive_buffer;
    std::unique_ptr<detail::SecureChannel> secure;  // null: plain CoAP

  private:
    void send(Bytes datagram) noexcept override;  // the channel's sealed datagrams
    bool core_timers_run() const noexcept;
    void receive_all();
    void settle();
    void unreachable();
    void fail_outstanding(ClientError error);

    int send_error_ = 0;  // errno of the last failed send of a sealed datagram
    std::optional<ClientError> handshake_error_;
};

}  // namespace coap
