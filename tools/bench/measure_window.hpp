// The warm-up and the measured window of a coap-bench run, and the system readings taken at
// its edges (server CPU time, the host's UDP drops, the load generator's own CPU time).
#pragma once

#include <cstdint>
#include <optional>

#include "bench/bench_types.hpp"

namespace coap::bench {

/// CLOCK_MONOTONIC in nanoseconds (the clock of std::chrono::steady_clock on Linux).
std::uint64_t now_ns() noexcept;
/// utime + stime of a process in clock ticks, from /proc/PID/stat.
std::optional<std::uint64_t> process_cpu_ticks(int pid);
/// RcvbufErrors of /proc/net/snmp: datagrams dropped host-wide because a socket's receive
/// buffer was full.
std::optional<std::uint64_t> udp_receive_buffer_drops();
/// This process's user + system CPU time in seconds.
double own_cpu_seconds();

class MeasureWindow {
  public:
    enum class Phase : std::uint8_t { warmup, measuring, done };

    MeasureWindow(const BenchOptions& options, std::uint64_t start_ns);

    /// Moves to the next phase when its edge has passed: at the start of the window the
    /// counters so far become the warm-up's and start again from zero; at its end they become
    /// the run's. A warm-up in which nothing was received ends the run (`answered` false).
    Phase advance(std::uint64_t now, Counters& counters, RunResult& result);
    bool measuring() const noexcept { return phase_ == Phase::measuring; }
    /// The next edge, for the event loop's wait.
    std::uint64_t next_edge_ns() const noexcept {
        return phase_ == Phase::warmup ? measure_start_ns_ : measure_end_ns_;
    }
    std::uint64_t start_ns() const noexcept { return start_ns_; }

  private:
    void begin(std::uint64_t now, Counters& counters, RunResult& result);
    void end(std::uint64_t now, Counters& counters, RunResult& result);

    const BenchOptions& options_;
    std::uint64_t start_ns_;
    std::uint64_t measure_start_ns_;
    std::uint64_t measure_end_ns_;
    std::uint64_t measured_from_ns_ = 0;
    Phase phase_ = Phase::warmup;
    std::optional<std::uint64_t> server_ticks_start_;
    std::optional<std::uint64_t> udp_drops_start_;
    double own_cpu_start_ = 0;
};

}  // namespace coap::bench
