// The state of one coap-bench endpoint of the core engine, shared by bench_driver.cpp and
// bench_driver_uring.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "bench/bench_driver.hpp"
#include "bench/secure_link.hpp"
#include "client/client_core.hpp"

namespace coap::bench {

inline TimePoint to_time_point(std::uint64_t ns) noexcept {
    return TimePoint(std::chrono::nanoseconds(ns));
}

struct CoreDriver::Endpoint {
    Endpoint(const ClientConfig& config, std::uint64_t seed, std::size_t window)
        : core(config, seed) {
        pending.reserve(2 * window);
    }

    struct Pending {
        RequestHandle handle;
        std::uint64_t due_ns;  // when it was submitted (closed loop) or due (open loop)
    };

    std::uint64_t forget(RequestHandle handle, std::uint64_t now) noexcept {
        for (std::size_t i = 0; i < pending.size(); ++i) {
            if (pending[i].handle != handle) continue;
            std::uint64_t due = pending[i].due_ns;
            pending[i] = pending.back();
            pending.pop_back();
            return due;
        }
        return now;
    }

    int fd = -1;
    std::uint32_t index = 0;
    bool dirty = false;    // io_uring: in dirty_
    bool blocked = false;  // io_uring: in blocked_
    detail::ClientCore core;
    std::unique_ptr<SecureLink> secure;  // coaps://: requests go out sealed once it is up
    std::vector<Pending> pending;        // submitted and not completed: at most 2 * window
    std::uint16_t last_fresh_message_id = 0;
    bool sent_any = false;
    std::uint32_t fresh_message_ids = 0;
    bool exhausted = false;
    std::uint64_t exhausted_at_ns = 0;
};

}  // namespace coap::bench
