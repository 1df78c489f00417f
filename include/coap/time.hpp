// Time as the protocol core sees it: always passed in, never read from a clock.
#pragma once

#include <chrono>

namespace coap {

/// A point on a monotonic clock. The sans-I/O core only compares and adds these; only the I/O
/// layer (or a test) reads a real clock.
using TimePoint = std::chrono::steady_clock::time_point;
/// A span of time on that clock: timeouts, intervals, retransmission delays.
using Duration = std::chrono::nanoseconds;

}  // namespace coap
