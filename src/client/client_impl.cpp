// Driving the client: the engine's datagrams out through the socket (sealed for coaps://,
// RFC 7252 §9.1), datagrams and timers in.
#include "client/client_impl.hpp"

#include <algorithm>
#include <cerrno>
#include <random>
#include <utility>

namespace coap {

namespace {

TimePoint now() {
    return std::chrono::steady_clock::now();
}

std::uint64_t random_seed() {
    std::random_device device;
    return (std::uint64_t{device()} << 32) | device();
}

// Room for a whole datagram of buffer_size plus its record header, nonce and tag (29 bytes),
// and for handshake flights from servers with a larger MTU; one more byte tells truncation.
std::size_t receive_size(const ClientConfig& config) {
    if (!config.dtls) return config.buffer_size + 1;
    return std::max<std::size_t>(config.buffer_size + 64, 1500) + 1;
}

}  // namespace

Client::Impl::Impl(const ClientConfig& settings)
    : config(settings),
      socket(settings.host, settings.port),
      core(settings, random_seed()),
      receive_buffer(receive_size(settings)) {
    dtls::DatagramSink& sealed_out = *this;
    if (settings.dtls) secure = std::make_unique<detail::SecureChannel>(*settings.dtls, sealed_out);
}

Client::Impl::~Impl() {
    if (secure) secure->close();  // close_notify (RFC 5246 §7.2.1)
}

void Client::Impl::send(Bytes datagram) noexcept {
    if (int error = socket.send(datagram); error != 0) send_error_ = error;
}

void Client::Impl::flush() {
    if (!secure) {
        while (core.has_outgoing()) {
            int error = socket.send(core.front_outgoing());
            core.pop_outgoing();
            if (error == ECONNREFUSED) core.fail_all(ClientError::network);
        }
        return;
    }
    if (!core.has_outgoing()) return;
    if (!secure->established()) {
        secure->start(now());  // the datagrams wait in the engine until the session is up
    } else {
        while (core.has_outgoing()) {
            secure->seal(core.front_outgoing());
            core.pop_outgoing();
        }
    }
    settle();
}

// While a handshake runs, the engine's retransmission timers wait: its datagrams cannot leave
// yet, and the handshake has timeouts of its own.
bool Client::Impl::core_timers_run() const noexcept {
    return !secure || !secure->handshaking();
}

void Client::Impl::drive(TimePoint deadline) {
    flush();
    TimePoint wake = deadline;
    if (core_timers_run())
        if (auto timer = core.next_deadline()) wake = std::min(wake, *timer);
    if (secure)
        if (auto timer = secure->next_deadline()) wake = std::min(wake, *timer);
    if (socket.wait_readable(wake - now())) receive_all();
    const TimePoint at = now();
    if (secure) {
        secure->on_timer(at);
        settle();
    }
    if (core_timers_run()) core.on_timer(at);
    flush();
}

void Client::Impl::receive_all() {
    for (;;) {
        ssize_t n = socket.receive(receive_buffer);
        if (n == 0) return;
        if (n < 0) {
            if (-n == ECONNREFUSED) unreachable();
            return;
        }
        if (static_cast<std::size_t>(n) >= receive_buffer.size()) continue;  // truncated
        const Bytes datagram(receive_buffer.data(), static_cast<std::size_t>(n));
        const TimePoint at = now();
        if (!secure) {
            core.on_datagram(datagram, at);
            continue;
        }
        auto to_core = [this, at](Bytes plaintext) { core.on_datagram(plaintext, at); };
        secure->on_datagram(datagram, at, to_core);
        settle();
    }
}

// Acts on what the channel reported: a send that found no listener, a failed handshake, a
// session the server ended.
void Client::Impl::settle() {
    if (std::exchange(send_error_, 0) == ECONNREFUSED) unreachable();
    switch (secure->take_outcome()) {
        case detail::SecureChannel::Outcome::none:
            return;
        case detail::SecureChannel::Outcome::handshake_failed:
            handshake_error_ = ClientError::handshake_failed;
            return fail_outstanding(ClientError::handshake_failed);
        case detail::SecureChannel::Outcome::session_closed:
            return fail_outstanding(ClientError::session_closed);
    }
}

// ICMP port unreachable (RFC 1122 §4.1.3.3 hands it to the socket): nobody listens.
void Client::Impl::unreachable() {
    if (!secure) return core.fail_all(ClientError::network);
    if (secure->handshaking()) {
        secure->abort_unreachable();
        (void)secure->take_outcome();
        handshake_error_ = ClientError::network;
    }
    fail_outstanding(ClientError::network);
}

// Requests waiting for the session fail, and their datagrams are not sent later.
void Client::Impl::fail_outstanding(ClientError error) {
    core.fail_all(error);
    while (core.has_outgoing())
        core.pop_outgoing();
}

ClientResult Client::Impl::wait_for(RequestHandle handle) {
    for (;;) {
        if (auto result = core.take_completion(handle)) return std::move(*result);
        drive(now() + std::chrono::seconds(1));
    }
}

Expected<std::size_t, ClientError> Client::Impl::wait_into(RequestHandle handle,
                                                           MutableBytes buffer) {
    for (;;) {
        if (auto length = core.take_completion_into(handle, buffer)) return *length;
        drive(now() + std::chrono::seconds(1));
    }
}

std::optional<ClientError> Client::Impl::connect() {
    if (!secure || secure->established()) return std::nullopt;
    handshake_error_.reset();
    secure->start(now());
    settle();
    while (secure->handshaking())
        drive(now() + std::chrono::seconds(1));
    if (secure->established()) return std::nullopt;
    return handshake_error_.value_or(ClientError::handshake_failed);
}

void Client::Impl::disconnect() {
    if (!secure) return;
    secure->close();
    fail_outstanding(ClientError::session_closed);
}

std::optional<ClientError> Client::Impl::send_datagram(Bytes datagram) {
    if (!secure) {
        int error = socket.send(datagram);
        if (error == 0) return std::nullopt;
        return error == EMSGSIZE ? ClientError::too_large : ClientError::network;
    }
    if (auto error = connect()) return error;
    send_error_ = 0;
    if (!secure->seal(datagram)) return ClientError::too_large;
    int error = std::exchange(send_error_, 0);
    if (error == 0) return std::nullopt;
    return error == EMSGSIZE ? ClientError::too_large : ClientError::network;
}

Expected<std::vector<std::uint8_t>, ClientError> Client::Impl::receive_datagram(Duration timeout) {
    const TimePoint deadline = now() + timeout;
    std::optional<std::vector<std::uint8_t>> first;
    // With DTLS, the first application-data record of the datagram; the others are dropped.
    auto keep_first = [&first](Bytes plaintext) {
        if (!first) first.emplace(plaintext.begin(), plaintext.end());
    };
    do {
        TimePoint wake = deadline;
        if (secure)
            if (auto timer = secure->next_deadline()) wake = std::min(wake, *timer);
        if (socket.wait_readable(wake - now())) {
            ssize_t n = socket.receive(receive_buffer);
            if (n < 0) return unexpected(ClientError::network);
            if (n > 0 && static_cast<std::size_t>(n) < receive_buffer.size()) {
                const Bytes datagram(receive_buffer.data(), static_cast<std::size_t>(n));
                if (!secure) return std::vector<std::uint8_t>(datagram.begin(), datagram.end());
                secure->on_datagram(datagram, now(), keep_first);
                settle();
                if (first) return std::move(*first);
            }
        }
        if (secure) {
            secure->on_timer(now());
            settle();
        }
    } while (now() < deadline);
    return unexpected(ClientError::timeout);
}

}  // namespace coap
