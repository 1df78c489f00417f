// coap-bench's output: a table for people, one JSON object for scripts
// (bench/compare_servers.sh reads type, window, requests_per_s, p50, p99, timeouts,
// server_cpu_pct, server_cpu_us_per_request, udp_rcvbuf_drops_host and client_cpu_pct).
#pragma once

#include <string>

#include "bench/bench_types.hpp"

namespace coap::bench {

/// Notes on stderr: endpoints that ran out of Message IDs, answers that were not 2.xx, errors.
void print_warnings(const BenchOptions& options, const RunResult& result);
void print_table(const BenchOptions& options, const RunResult& result);
void print_json(const BenchOptions& options, const std::string& target, const RunResult& result);
/// --handshakes-only: handshakes per second, their latency, failures, CPU per handshake.
void print_handshake_table(const BenchOptions& options, const RunResult& result);
void print_handshake_json(const BenchOptions& options, const std::string& target,
                          const RunResult& result);
/// --observe: warnings on stderr, then the table or (--json) one JSON object. `completed`
/// counts notifications: requests_per_s is notifications per second, server CPU per
/// notification.
void print_observe(const BenchOptions& options, const std::string& target, const RunResult& result);

}  // namespace coap::bench
