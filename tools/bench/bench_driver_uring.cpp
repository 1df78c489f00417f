// The core engine's io_uring path: completions in, engines fed, their datagrams out.
#include "bench/bench_driver_endpoint.hpp"
#include "bench/measure_window.hpp"
#include "bench/receive_loop.hpp"

namespace coap::bench {

// Each datagram goes to its engine at once (its completion's latency ends now); the endpoints
// that got one are refilled and flushed after the whole batch.
void CoreDriver::service_uring(std::uint64_t wake_ns) {
    uring_->wait(now_ns(), wake_ns);
    for (const UringIo::Event& event : uring_->poll()) {
        if (!count_event(event, counters_)) continue;
        Endpoint& endpoint = endpoints_[event.socket];
        std::uint64_t now = now_ns();
        deliver(endpoint, event.datagram, now);
        collect(endpoint, now);
        if (!endpoint.dirty) {
            endpoint.dirty = true;
            dirty_.push_back(endpoint.index);
        }
    }
    uring_->release();
    std::uint64_t now = now_ns();
    for (std::uint32_t index : dirty_) {
        Endpoint& endpoint = endpoints_[index];
        endpoint.dirty = false;
        if (!schedule_) refill(endpoint, now);
        flush(endpoint);
    }
    dirty_.clear();
    // Send slots were freed by this batch: endpoints that found none try again.
    std::size_t blocked = blocked_.size();
    for (std::size_t i = 0; i < blocked; ++i) {
        Endpoint& endpoint = endpoints_[blocked_[i]];
        endpoint.blocked = false;
        flush(endpoint);
    }
    blocked_.erase(blocked_.begin(), blocked_.begin() + static_cast<std::ptrdiff_t>(blocked));
}

// The datagrams wait in the engine's outgoing queue until a send slot is free.
void CoreDriver::flush_uring(Endpoint& endpoint) {
    while (endpoint.core.has_outgoing()) {
        Bytes datagram = endpoint.core.front_outgoing();
        // A sealed record that finds no slot is dropped and sealed again later: to the server
        // it looks like a record lost on the way.
        if (!uring_->send(endpoint.index, wire(endpoint, datagram))) {
            if (!endpoint.blocked) {
                endpoint.blocked = true;
                blocked_.push_back(endpoint.index);
            }
            return;
        }
        note_outgoing(endpoint, datagram);
        endpoint.core.pop_outgoing();
    }
}

}  // namespace coap::bench
