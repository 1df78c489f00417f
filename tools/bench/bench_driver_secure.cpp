// The core engine over coaps:// (RFC 7252 §9.1): each endpoint handshakes before its first
// request goes out, requests and ACKs leave sealed, and what arrives is opened before the
// engine sees it. The engine's datagrams wait while the handshake runs, and so do its
// retransmission timers; a failed handshake or a session the server ended fails what the
// endpoint had outstanding (counted as errors), and its next request handshakes again.
#include "bench/bench_driver_endpoint.hpp"
#include "bench/measure_window.hpp"

namespace coap::bench {

void CoreDriver::deliver(Endpoint& endpoint, Bytes datagram, std::uint64_t now) {
    const TimePoint at = to_time_point(now);
    if (!endpoint.secure) {
        endpoint.core.on_datagram(datagram, at);
        return;
    }
    auto to_engine = [&endpoint, at](Bytes plaintext) { endpoint.core.on_datagram(plaintext, at); };
    endpoint.secure->channel().on_datagram(datagram, at, to_engine);
    settle(endpoint);
}

bool CoreDriver::session_ready(Endpoint& endpoint, std::uint64_t now) {
    if (!endpoint.secure) return true;
    detail::SecureChannel& channel = endpoint.secure->channel();
    if (channel.established()) return true;
    if (endpoint.core.has_outgoing()) {
        channel.start(to_time_point(now));
        settle(endpoint);
    }
    return false;
}

Bytes CoreDriver::wire(Endpoint& endpoint, Bytes plaintext) {
    return endpoint.secure ? endpoint.secure->seal(plaintext) : plaintext;
}

bool CoreDriver::on_secure_timer(Endpoint& endpoint, TimePoint at) {
    detail::SecureChannel& channel = endpoint.secure->channel();
    auto deadline = channel.next_deadline();
    if (!deadline || *deadline > at) return false;
    channel.on_timer(at);
    settle(endpoint);
    return true;
}

bool CoreDriver::core_timers_wait(const Endpoint& endpoint) const noexcept {
    return endpoint.secure && endpoint.secure->channel().handshaking();
}

void CoreDriver::settle(Endpoint& endpoint) {
    SecureLink::SendFailures failures = endpoint.secure->take_send_failures();
    counters_.send_errors += failures.failed;
    counters_.refused += failures.refused;
    ClientError error = ClientError::handshake_failed;
    switch (endpoint.secure->channel().take_outcome()) {
        case detail::SecureChannel::Outcome::none:
            return;
        case detail::SecureChannel::Outcome::handshake_failed:
            break;
        case detail::SecureChannel::Outcome::session_closed:
            error = ClientError::session_closed;
            break;
    }
    endpoint.core.fail_all(error);
    while (endpoint.core.has_outgoing())
        endpoint.core.pop_outgoing();
}

}  // namespace coap::bench
