// What coap-bench is asked to do and what a run measured, shared by both engines, the CLI and
// the report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "bench/latency_histogram.hpp"
#include "coap/bytes.hpp"
#include "coap/client.hpp"
#include "coap/codes.hpp"
#include "coap/option.hpp"

namespace coap::bench {

/// `core`: the library's ClientCore per endpoint (RFC 7252 retransmission, NSTART, tokens,
/// deduplication). `raw`: the original hand-rolled sender, the ceiling of this machine.
enum class Engine : std::uint8_t { core, raw };

/// How the core engine's sockets are driven: io_uring (multishot receives, one system call per
/// loop turn) or epoll with recvmmsg/sendmmsg per ready socket (the raw engine's way).
enum class IoMode : std::uint8_t { uring, epoll };

struct BenchOptions {
    std::string uri;
    Engine engine = Engine::core;
    IoMode io = IoMode::uring;  // core engine only
    unsigned endpoints = 1024;  // client UDP sockets, each its own source port
    unsigned window = 1;        // closed loop: requests outstanding per endpoint
    double rate = 0;            // open loop: requests/s over all endpoints; 0 = closed loop
    double duration = 5.0;
    double warmup = 1.0;
    bool non = false;
    Code method = Code::get;
    std::size_t payload_size = 0;
    unsigned timeout_ms = 2000;      // NON (and separate response) wait; raw: write-off time
    unsigned ack_timeout_ms = 2000;  // RFC 7252 §4.8 ACK_TIMEOUT
    unsigned max_retransmit = 4;     // RFC 7252 §4.8 MAX_RETRANSMIT
    bool json = false;
    int cpu = -1;
    int server_pid = 0;
    std::optional<ClientDtlsConfig> dtls;  // coaps://: the PSK and handshake settings
    bool handshakes_only = false;          // coaps://: handshakes per second, no requests
    bool observe = false;                  // --observe: notifications per second (RFC 7641)

    bool open_loop() const noexcept { return rate > 0; }
};

/// The request every endpoint sends: views into storage that outlives the run.
struct RequestShape {
    Code method = Code::get;
    std::span<const Option> options{};
    Bytes payload{};
    bool non_confirmable = false;
};

struct Counters {
    std::uint64_t sent = 0;             // requests started (submitted / first transmission)
    std::uint64_t completed = 0;        // requests answered with a response (any code)
    std::uint64_t retransmissions = 0;  // CON retransmissions (RFC 7252 §4.2)
    std::uint64_t timeouts = 0;         // no ACK / no response in time
    std::uint64_t rst = 0;              // requests answered with RST
    std::uint64_t errors = 0;           // requests failed otherwise (malformed answer, ...)
    std::uint64_t non_success = 0;      // completed with a code other than 2.xx
    std::uint64_t not_sent = 0;         // open loop: due while the endpoint's window was full
    std::uint64_t received = 0;         // datagrams received
    std::uint64_t malformed = 0;        // datagrams that do not parse, or were truncated
    std::uint64_t send_errors = 0;      // datagrams the kernel refused to send
    std::uint64_t refused = 0;          // ICMP port unreachable seen on a socket
    // Only the raw engine and --observe tell these apart (ClientCore handles them silently).
    std::uint64_t unexpected = 0;  // answers to nothing in flight (late, duplicate, stray)
    std::uint64_t mismatched = 0;  // ACK with an in-flight Message ID but another token
    std::uint64_t empty_acks = 0;  // empty ACKs (a separate response follows)
    // --handshakes-only: `sent` counts handshakes started, `completed` those established,
    // `timeouts` and `errors` the failed ones (no answer in time, an alert).
    std::uint64_t resumed = 0;  // abbreviated handshakes among the completed ones
    // --observe: `sent` counts registrations sent (first transmissions), `retransmissions`
    // theirs, `completed` the notifications received, `non_success` the answers and
    // notifications that refused or ended an observation (not 2.xx, or no Observe).
    std::uint64_t registered = 0;          // observations established (2.xx with Observe)
    std::uint64_t without_observe = 0;     // 2.xx without Observe (counted in non_success too)
    std::uint64_t con_notifications = 0;   // of `completed`
    std::uint64_t non_notifications = 0;   // of `completed`
    std::uint64_t acks_sent = 0;           // empty ACKs to CON notifications, duplicates too
    std::uint64_t rst_sent = 0;            // RSTs to unknown tokens and pings
    std::uint64_t duplicates = 0;          // received again (same Message ID and Observe)
    std::uint64_t reused_message_ids = 0;  // a recent Message ID with a new Observe value
};

/// Everything a run measured, for the report.
struct RunResult {
    bool answered = false;      // anything received before the measured window (or in it)
    IoMode io = IoMode::epoll;  // what drove the sockets
    Counters counters;          // over the measured window
    Counters warmup;            // over the warm-up
    LatencyHistogram latency;
    double measured_s = 0;
    std::optional<std::uint64_t> server_ticks;  // server utime+stime over the window
    std::optional<std::uint64_t> udp_drops;     // host RcvbufErrors over the window
    double own_cpu_s = 0;
    std::size_t in_flight_at_end = 0;
    std::size_t exhausted_endpoints = 0;  // stopped rather than reuse a Message ID
    double first_exhaustion_s = 0;
    std::optional<Code> first_non_success;
    std::optional<ClientError> first_error;
    std::optional<DtlsHandshakeFailure> first_handshake_failure;  // --handshakes-only
    std::size_t bytes_per_endpoint = 0;  // heap taken by one endpoint's engine state (0: unknown)
    std::size_t observers_at_start = 0;  // --observe: registered when the window began
    std::size_t observers_at_end = 0;    // --observe: registered when it ended
    // --observe: how the window's notifications were spread over the endpoints.
    std::size_t observers_notified = 0;  // endpoints that got at least one
    std::uint32_t per_observer_min = 0;
    std::uint32_t per_observer_median = 0;
    std::uint32_t per_observer_max = 0;
};

}  // namespace coap::bench
