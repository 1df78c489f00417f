#include "bench/handshake_driver.hpp"

#include <algorithm>
#include <cerrno>

#include "bench/measure_window.hpp"
#include "bench/receive_loop.hpp"

namespace coap::bench {

namespace {

constexpr std::uint64_t tick_ns = 10'000'000;  // timer scan: handshake retransmissions

TimePoint at_ns(std::uint64_t ns) noexcept {
    return TimePoint(std::chrono::nanoseconds(ns));
}

}  // namespace

HandshakeDriver::HandshakeDriver(const BenchOptions& options) : options_(options) {}
HandshakeDriver::~HandshakeDriver() = default;

std::string HandshakeDriver::open(const Destination& destination) {
    if (std::string error = sockets_.open(destination, options_.endpoints); !error.empty())
        return error;
    endpoints_.resize(options_.endpoints);
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
        endpoints_[i].link = std::make_unique<SecureLink>(*options_.dtls, sockets_.fd(i));
        if (!endpoints_[i].link->channel().valid()) return "cannot set up OpenSSL for DTLS";
    }
    receive_ = std::make_unique<ReceiveBatch>();
    return {};
}

RunResult HandshakeDriver::run() {
    const std::uint64_t start = now_ns();
    MeasureWindow window(options_, start);
    std::uint64_t next_tick = start + tick_ns;
    // Endpoints start one after another over half the warm-up (at most 200 ms).
    const std::uint64_t ramp_ns =
        std::min<std::uint64_t>(static_cast<std::uint64_t>(options_.warmup * 1e9) / 2,
                                200'000'000u) /
        endpoints_.size();
    while (true) {
        std::uint64_t now = now_ns();
        if (window.advance(now, counters_, result_) == MeasureWindow::Phase::done) break;
        measuring_ = window.measuring();
        start_due(now, start, ramp_ns);
        if (now >= next_tick) {
            on_timers(now);
            next_tick = now + tick_ns;
        }
        std::uint64_t wake = std::min(next_tick, window.next_edge_ns());
        if (started_ < endpoints_.size()) wake = std::min(wake, start + started_ * ramp_ns);
        for (std::uint32_t index : sockets_.wait(now_ns(), wake))
            drain(endpoints_[index]);
    }
    result_.io = IoMode::epoll;
    return result_;
}

void HandshakeDriver::start_due(std::uint64_t now, std::uint64_t start, std::uint64_t ramp_ns) {
    while (started_ < endpoints_.size() && now >= start + started_ * ramp_ns)
        begin(endpoints_[started_++], now);
}

void HandshakeDriver::begin(Endpoint& endpoint, std::uint64_t now) {
    endpoint.started_ns = now;
    ++counters_.sent;
    endpoint.link->channel().start(at_ns(now));
    // A handshake that fails at once (OpenSSL failing) is counted by the next timer scan.
}

void HandshakeDriver::drain(Endpoint& endpoint) {
    auto ignore = [](Bytes) {};  // no requests: no application data is expected
    int fd = sockets_.fd(static_cast<std::size_t>(&endpoint - endpoints_.data()));
    drain_socket(*receive_, fd, counters_, [&](Bytes datagram) {
        std::uint64_t now = now_ns();
        endpoint.link->channel().on_datagram(datagram, at_ns(now), ignore);
        after_event(endpoint, now);
    });
}

void HandshakeDriver::on_timers(std::uint64_t now) {
    for (std::size_t i = 0; i < started_; ++i) {
        Endpoint& endpoint = endpoints_[i];
        detail::SecureChannel& channel = endpoint.link->channel();
        auto deadline = channel.next_deadline();
        if (deadline && *deadline <= at_ns(now)) channel.on_timer(at_ns(now));
        after_event(endpoint, now);
    }
}

// A session that is up is counted and closed (close_notify, RFC 5246 §7.2.1: it stays
// resumable) and the next handshake starts; so does one after a failed handshake.
void HandshakeDriver::after_event(Endpoint& endpoint, std::uint64_t now) {
    SecureLink::SendFailures failures = endpoint.link->take_send_failures();
    counters_.send_errors += failures.failed;
    counters_.refused += failures.refused;
    detail::SecureChannel& channel = endpoint.link->channel();
    if (channel.established()) {
        ++counters_.completed;
        if (channel.status().resumed) ++counters_.resumed;
        if (measuring_) result_.latency.record(now - endpoint.started_ns);
        channel.close();
    } else if (channel.take_outcome() == detail::SecureChannel::Outcome::handshake_failed) {
        count_failure(channel);
    } else if (channel.handshaking()) {
        return;
    }
    begin(endpoint, now);
}

void HandshakeDriver::count_failure(const detail::SecureChannel& channel) {
    const auto& failure = channel.status().last_failure;
    if (failure && failure->cause == DtlsHandshakeFailure::Cause::timeout) {
        ++counters_.timeouts;
        return;
    }
    ++counters_.errors;
    if (!result_.first_handshake_failure) result_.first_handshake_failure = failure;
}

}  // namespace coap::bench
