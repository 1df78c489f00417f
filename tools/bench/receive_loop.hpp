// The receive bookkeeping every coap-bench driver shares: drain a socket with recvmmsg, or sort
// an io_uring completion, counting what arrived, what was cut and what was refused, and handing
// intact datagrams to the driver.
#pragma once

#include <cerrno>
#include <cstddef>

#include "bench/bench_types.hpp"
#include "bench/udp_endpoints.hpp"
#include "bench/uring_io.hpp"

namespace coap::bench {

/// Receives everything waiting on `fd`, calling on_datagram(Bytes) for each intact datagram.
template <class OnDatagram>
void drain_socket(ReceiveBatch& batch, int fd, Counters& counters, OnDatagram&& on_datagram) {
    while (true) {
        int received = batch.receive(fd);
        if (received == -ECONNREFUSED) {
            ++counters.refused;
            continue;
        }
        if (received <= 0) return;  // drained (EAGAIN) or failed
        for (std::size_t i = 0; i < static_cast<std::size_t>(received); ++i) {
            ++counters.received;
            if (batch.truncated(i)) {
                ++counters.malformed;
                continue;
            }
            on_datagram(batch.datagram(i));
        }
        if (static_cast<std::size_t>(received) < ReceiveBatch::capacity) return;
    }
}

/// Counts one io_uring event; true when it is an intact datagram for the driver to handle.
inline bool count_event(const UringIo::Event& event, Counters& counters) noexcept {
    switch (event.kind) {
        case UringIo::Event::Kind::datagram:
            ++counters.received;
            return true;
        case UringIo::Event::Kind::truncated:
            ++counters.received;
            ++counters.malformed;
            break;
        case UringIo::Event::Kind::refused:
            ++counters.refused;
            break;
        case UringIo::Event::Kind::send_failed:
            ++counters.send_errors;
            break;
    }
    return false;
}

}  // namespace coap::bench
