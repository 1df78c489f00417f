// coap-bench --observe: notifications per second to N observers (RFC 7641) over real sockets.
// Every endpoint (its own connected UDP socket and source port) registers one observation of
// the URI, acknowledges every CON notification and counts what arrives; the protocol is in
// ObserverSet (observer_set.hpp), this file does the I/O. One thread. With io_uring (the
// default) every socket has a multishot receive and the replies of a whole batch go out with
// the next io_uring_enter; with --io epoll each ready socket is drained with recvmmsg and its
// replies leave with one sendmmsg. Nothing is allocated per datagram.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "bench/bench_types.hpp"
#include "bench/observer_set.hpp"
#include "bench/udp_endpoints.hpp"
#include "bench/uring_io.hpp"

namespace coap::bench {

class ObserveDriver final : private DatagramOut {
  public:
    /// `request.options` are the URI's options (Uri-Path...); the method and payload are unused.
    ObserveDriver(const BenchOptions& options, const RequestShape& request);
    ~ObserveDriver();
    ObserveDriver(const ObserveDriver&) = delete;
    ObserveDriver& operator=(const ObserveDriver&) = delete;

    /// Opens the sockets and the ring; an error message or "".
    std::string open(const Destination& destination);
    /// Registration during the warm-up, then the measured window: `completed` counts
    /// notifications, so requests/s is notifications/s and server CPU is per notification.
    /// At the end every observation is cancelled (RFC 7641 §3.6).
    RunResult run();

  private:
    static constexpr std::uint32_t no_socket = 0xffffffff;

    bool send(std::uint32_t endpoint, Bytes datagram) noexcept override;
    void deregister();
    void service(std::uint64_t wake_ns);
    void service_uring(std::uint64_t wake_ns);
    void drain(std::uint32_t socket);
    void flush_batch() noexcept;

    const BenchOptions& options_;
    RequestShape request_;
    Counters counters_;
    RunResult result_;
    ObserverSet observers_;
    SocketSet sockets_;
    std::unique_ptr<UringIo> uring_;  // null: epoll
    std::unique_ptr<ReceiveBatch> receive_;
    SendBatch send_;
    std::uint32_t draining_ = no_socket;  // epoll: the socket whose replies go into send_
};

}  // namespace coap::bench
