#include "bench/observe_driver.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "bench/measure_window.hpp"
#include "bench/receive_loop.hpp"

namespace coap::bench {

namespace {

constexpr std::uint64_t tick_ns = 10'000'000;  // registration retransmissions and back-offs
constexpr std::size_t max_datagram = 512;      // a registration (header, token, URI, Observe)
constexpr std::size_t uring_send_slots = 16384;

ObserveSettings settings_of(const BenchOptions& options) {
    ObserveSettings settings;
    settings.ack_timeout_ns = std::uint64_t{options.ack_timeout_ms} * 1'000'000u;
    settings.max_retransmit = options.max_retransmit;
    settings.response_timeout_ns = std::uint64_t{options.timeout_ms} * 1'000'000u;
    return settings;
}

std::uint64_t random_seed() {
    std::random_device device;
    return (std::uint64_t{device()} << 32) | device();
}

}  // namespace

ObserveDriver::ObserveDriver(const BenchOptions& options, const RequestShape& request)
    : options_(options),
      request_(request),
      observers_(options.endpoints, settings_of(options), counters_, random_seed()),
      send_(max_datagram) {}

ObserveDriver::~ObserveDriver() = default;

std::string ObserveDriver::open(const Destination& destination) {
    if (std::string error = observers_.prepare(request_.options); !error.empty()) return error;
    if (observers_.request_size() > max_datagram) return "the URI is too long for a registration";
    if (std::string error = sockets_.open(destination, options_.endpoints); !error.empty())
        return error;
    receive_ = std::make_unique<ReceiveBatch>();
    if (options_.io != IoMode::uring) return {};
    std::vector<int> fds(options_.endpoints);
    for (std::size_t i = 0; i < fds.size(); ++i)
        fds[i] = sockets_.fd(i);
    uring_ = std::make_unique<UringIo>();
    if (std::string error = uring_->open(fds, max_datagram, uring_send_slots); !error.empty()) {
        // io_uring may be disabled (kernel.io_uring_disabled, seccomp): epoll still works.
        std::fprintf(stderr, "coap-bench: note: %s; using epoll\n", error.c_str());
        uring_.reset();
    }
    return {};
}

RunResult ObserveDriver::run() {
    const std::uint64_t start = now_ns();
    MeasureWindow window(options_, start);
    std::uint64_t next_tick = start;
    bool measuring = false;
    while (true) {
        std::uint64_t now = now_ns();
        if (window.advance(now, counters_, result_) == MeasureWindow::Phase::done) break;
        if (window.measuring() && !measuring) {
            measuring = true;
            result_.observers_at_start = observers_.registered();
            observers_.reset_spread();
        }
        if (now >= next_tick) {
            observers_.on_timers(now, *this);
            next_tick = now + tick_ns;
        }
        observers_.send_due(now, *this);
        service(std::min(next_tick, window.next_edge_ns()));
    }
    result_.observers_at_end = observers_.registered();
    // Endpoints without an observation at the end: never registered (or lost and not back).
    result_.counters.timeouts = observers_.size() - observers_.registered();
    observers_.spread(result_);
    deregister();
    result_.first_non_success = observers_.first_non_success();
    result_.io = uring_ ? IoMode::uring : IoMode::epoll;
    return result_;
}

// Sends every deregistration, 256 a millisecond so that the server's receive queue does not
// overflow (at most a second in all).
void ObserveDriver::deregister() {
    constexpr std::size_t per_turn = 256;
    const std::uint64_t give_up = now_ns() + 1'000'000'000u;
    std::size_t next = 0;
    while (next < observers_.size() && now_ns() < give_up) {
        next = observers_.deregister(next, per_turn, *this);
        if (uring_) {  // submits the sends and frees the slots of those that completed
            uring_->wait(now_ns(), 0);
            uring_->poll();
            uring_->release();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (uring_) uring_->wait(now_ns(), 0);
}

void ObserveDriver::service(std::uint64_t wake_ns) {
    if (uring_) {
        service_uring(wake_ns);
        return;
    }
    for (std::uint32_t index : sockets_.wait(now_ns(), wake_ns))
        drain(index);
}

// One io_uring_enter submits the replies of the previous batch and collects this one.
void ObserveDriver::service_uring(std::uint64_t wake_ns) {
    uring_->wait(now_ns(), wake_ns);
    const std::uint64_t now = now_ns();
    for (const UringIo::Event& event : uring_->poll())
        if (count_event(event, counters_))
            observers_.on_datagram(event.socket, event.datagram, now, *this);
    uring_->release();
}

// epoll: everything waiting on one socket, then its replies with one sendmmsg.
void ObserveDriver::drain(std::uint32_t socket) {
    draining_ = socket;
    const int fd = sockets_.fd(socket);
    const std::uint64_t now = now_ns();
    drain_socket(*receive_, fd, counters_,
                 [&](Bytes datagram) { observers_.on_datagram(socket, datagram, now, *this); });
    flush_batch();
    draining_ = no_socket;
}

void ObserveDriver::flush_batch() noexcept {
    if (send_.empty()) return;
    std::size_t batch = send_.size();
    SendBatch::Outcome outcome = send_.flush(sockets_.fd(draining_));
    counters_.send_errors += batch - outcome.sent;  // lost like on the wire: a CON comes again
    if (outcome.error == ECONNREFUSED) ++counters_.refused;
}

bool ObserveDriver::send(std::uint32_t endpoint, Bytes datagram) noexcept {
    if (uring_) return uring_->send(endpoint, datagram);
    if (endpoint == draining_) {
        if (send_.full()) flush_batch();
        if (!send_.add(datagram)) ++counters_.send_errors;
        return true;
    }
    if (::send(sockets_.fd(endpoint), datagram.data(), datagram.size(), MSG_DONTWAIT) >= 0)
        return true;
    if (errno == EAGAIN || errno == ENOBUFS) return false;  // kept and sent later
    if (errno == ECONNREFUSED)
        ++counters_.refused;
    else
        ++counters_.send_errors;
    return true;
}

}  // namespace coap::bench
