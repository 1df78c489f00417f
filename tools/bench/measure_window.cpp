#include "bench/measure_window.hpp"

#include <sys/resource.h>
#include <time.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace coap::bench {

std::uint64_t now_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

std::optional<std::uint64_t> process_cpu_ticks(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    auto close = line.rfind(')');  // the command name may hold spaces and parentheses
    if (close == std::string::npos) return std::nullopt;
    std::istringstream fields(line.substr(close + 1));
    std::string field;
    std::uint64_t utime = 0;
    std::uint64_t stime = 0;
    // After the command name: field 3 (state) is index 0, utime (14) is 11, stime (15) is 12.
    for (int i = 0; i <= 12 && (fields >> field); ++i) {
        if (i == 11) utime = std::strtoull(field.c_str(), nullptr, 10);
        if (i == 12) stime = std::strtoull(field.c_str(), nullptr, 10);
    }
    if (!fields) return std::nullopt;
    return utime + stime;
}

std::optional<std::uint64_t> udp_receive_buffer_drops() {
    std::ifstream in("/proc/net/snmp");
    std::string names;
    std::string values;
    while (std::getline(in, names)) {
        if (names.rfind("Udp:", 0) != 0) continue;
        if (!std::getline(in, values)) return std::nullopt;
        std::istringstream name_fields(names);
        std::istringstream value_fields(values);
        std::string name;
        std::string value;
        while (name_fields >> name && value_fields >> value)
            if (name == "RcvbufErrors") return std::strtoull(value.c_str(), nullptr, 10);
        return std::nullopt;
    }
    return std::nullopt;
}

double own_cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

MeasureWindow::MeasureWindow(const BenchOptions& options, std::uint64_t start_ns)
    : options_(options),
      start_ns_(start_ns),
      measure_start_ns_(start_ns + static_cast<std::uint64_t>(options.warmup * 1e9)),
      measure_end_ns_(measure_start_ns_ + static_cast<std::uint64_t>(options.duration * 1e9)) {}

MeasureWindow::Phase MeasureWindow::advance(std::uint64_t now, Counters& counters,
                                            RunResult& result) {
    if (phase_ == Phase::warmup && now >= measure_start_ns_) {
        if (options_.warmup > 0 && counters.received == 0) {
            result.warmup = counters;
            result.answered = false;
            phase_ = Phase::done;
            return phase_;
        }
        begin(now, counters, result);
    }
    if (phase_ == Phase::measuring && now >= measure_end_ns_) end(now, counters, result);
    return phase_;
}

void MeasureWindow::begin(std::uint64_t now, Counters& counters, RunResult& result) {
    result.warmup = counters;
    counters = Counters{};
    result.latency.clear();
    phase_ = Phase::measuring;
    measured_from_ns_ = now;
    if (options_.server_pid > 0) server_ticks_start_ = process_cpu_ticks(options_.server_pid);
    own_cpu_start_ = own_cpu_seconds();
    udp_drops_start_ = udp_receive_buffer_drops();
}

void MeasureWindow::end(std::uint64_t now, Counters& counters, RunResult& result) {
    phase_ = Phase::done;
    result.counters = counters;
    result.measured_s = static_cast<double>(now - measured_from_ns_) / 1e9;
    result.own_cpu_s = own_cpu_seconds() - own_cpu_start_;
    if (options_.server_pid > 0) {
        auto ticks = process_cpu_ticks(options_.server_pid);
        if (ticks && server_ticks_start_) result.server_ticks = *ticks - *server_ticks_start_;
    }
    auto drops = udp_receive_buffer_drops();
    if (drops && udp_drops_start_) result.udp_drops = *drops - *udp_drops_start_;
    result.answered = result.warmup.received + counters.received > 0;
}

}  // namespace coap::bench
