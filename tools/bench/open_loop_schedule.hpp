// The open-loop load of coap-bench (--rate): requests are due at fixed intervals whatever the
// server does, and their latency counts from when they were due, so a server that falls behind
// shows in the latency instead of slowing the load down (no coordinated omission).
#pragma once

#include <cstdint>

namespace coap::bench {

class OpenLoopSchedule {
  public:
    /// `rate`: requests per second in total, from `start_ns` on.
    OpenLoopSchedule(double rate, std::uint64_t start_ns) noexcept
        : interval_ns_(rate > 0 ? 1e9 / rate : 0), start_ns_(start_ns) {}

    /// When the next request is due (CLOCK_MONOTONIC ns).
    std::uint64_t next_ns() const noexcept {
        return start_ns_ + static_cast<std::uint64_t>(static_cast<double>(issued_) * interval_ns_);
    }
    void advance() noexcept { ++issued_; }

  private:
    double interval_ns_;
    std::uint64_t start_ns_;
    std::uint64_t issued_ = 0;
};

}  // namespace coap::bench
