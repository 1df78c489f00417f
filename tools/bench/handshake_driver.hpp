// coap-bench --handshakes-only: DTLS handshakes per second against a coaps:// server. Every
// endpoint (its own socket and source port) handshakes, sends close_notify as soon as the
// session is up and starts the next handshake at once: full handshakes, or abbreviated ones
// (RFC 5246 §7.3) with --resume. No CoAP requests. One thread, epoll; the handshake flights
// leave with one send(2) each.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_types.hpp"
#include "bench/secure_link.hpp"
#include "bench/udp_endpoints.hpp"

namespace coap::bench {

class HandshakeDriver {
  public:
    explicit HandshakeDriver(const BenchOptions& options);
    ~HandshakeDriver();
    HandshakeDriver(const HandshakeDriver&) = delete;
    HandshakeDriver& operator=(const HandshakeDriver&) = delete;

    /// Opens the sockets and sets up one DTLS client per endpoint; an error message or "".
    std::string open(const Destination& destination);
    /// Warm-up, then the measured window. The latency histogram holds handshake durations.
    RunResult run();

  private:
    struct Endpoint {
        std::unique_ptr<SecureLink> link;
        std::uint64_t started_ns = 0;
    };

    void start_due(std::uint64_t now, std::uint64_t start, std::uint64_t ramp_ns);
    void drain(Endpoint& endpoint);
    void on_timers(std::uint64_t now);
    void after_event(Endpoint& endpoint, std::uint64_t now);
    void count_failure(const detail::SecureChannel& channel);
    void begin(Endpoint& endpoint, std::uint64_t now);

    const BenchOptions& options_;
    SocketSet sockets_;
    std::vector<Endpoint> endpoints_;
    std::size_t started_ = 0;
    std::unique_ptr<ReceiveBatch> receive_;
    bool measuring_ = false;
    Counters counters_;
    RunResult result_;
};

}  // namespace coap::bench
