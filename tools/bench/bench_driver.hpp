// coap-bench's default engine: the client library's sans-I/O ClientCore, one per endpoint,
// driven over UDP. Each endpoint is its own connected socket (its own source port) with its own
// engine, so Message IDs, tokens, NSTART and retransmission are per endpoint as RFC 7252
// requires (§4.4, §4.7, §5.3.1), and no endpoint reuses a Message ID within EXCHANGE_LIFETIME:
// one that would have to stops sending, and the report says so.
//
// One thread. With io_uring (the default) every socket has a multishot receive and every
// datagram out is a send entry, all submitted with one io_uring_enter per loop turn; with
// --io epoll each ready socket is drained with recvmmsg and its datagrams go out with sendmmsg.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_types.hpp"
#include "bench/open_loop_schedule.hpp"
#include "bench/udp_endpoints.hpp"
#include "bench/uring_io.hpp"
#include "coap/client.hpp"

namespace coap::bench {

class CoreDriver {
  public:
    CoreDriver(const BenchOptions& options, const RequestShape& request);
    ~CoreDriver();
    CoreDriver(const CoreDriver&) = delete;
    CoreDriver& operator=(const CoreDriver&) = delete;

    /// Opens the sockets and builds one engine per endpoint; an error message or "".
    std::string open(const Destination& destination);
    /// Warm-up, then the measured window.
    RunResult run();

  private:
    struct Endpoint;

    void wait_and_service(std::uint64_t wake_ns);
    void service_uring(std::uint64_t wake_ns);
    void service(Endpoint& endpoint);
    void drain(Endpoint& endpoint, std::uint64_t now);
    void collect(Endpoint& endpoint, std::uint64_t now);
    void refill(Endpoint& endpoint, std::uint64_t now);
    bool submit(Endpoint& endpoint, std::uint64_t now, std::uint64_t due_ns);
    void flush(Endpoint& endpoint);
    void flush_uring(Endpoint& endpoint);
    void note_outgoing(Endpoint& endpoint, Bytes datagram);
    void on_timers(std::uint64_t now);
    void start_due(std::uint64_t now, std::uint64_t start, std::uint64_t ramp_ns);
    void submit_due(std::uint64_t now);
    void finish(std::uint64_t run_start);
    // coaps:// (bench_driver_secure.cpp).
    void deliver(Endpoint& endpoint, Bytes datagram, std::uint64_t now);
    bool session_ready(Endpoint& endpoint, std::uint64_t now);
    Bytes wire(Endpoint& endpoint, Bytes plaintext);
    bool on_secure_timer(Endpoint& endpoint, TimePoint at);
    bool core_timers_wait(const Endpoint& endpoint) const noexcept;
    void settle(Endpoint& endpoint);

    const BenchOptions& options_;
    RequestShape request_;
    ClientConfig config_;
    SocketSet sockets_;
    std::vector<Endpoint> endpoints_;
    std::size_t started_ = 0;
    std::size_t next_open_loop_endpoint_ = 0;
    std::optional<OpenLoopSchedule> schedule_;
    bool measuring_ = false;
    Counters counters_;
    RunResult result_;
    std::unique_ptr<ReceiveBatch> receive_;
    SendBatch send_;
    // Each response is copied here (ClientCore::pop_completion_into): no allocation per request.
    std::vector<std::uint8_t> response_ = std::vector<std::uint8_t>(65536);
    std::unique_ptr<UringIo> uring_;      // null: epoll
    std::vector<std::uint32_t> dirty_;    // io_uring: endpoints that received, to refill
    std::vector<std::uint32_t> blocked_;  // io_uring: endpoints waiting for a send slot
};

}  // namespace coap::bench
