// coap-flood probe: a well-behaved client measuring what it gets from a flooded server (see
// bench/flood.cpp).
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>

#include "flood_common.hpp"

namespace flood {

namespace {

// One probe request: the exchange in flight (RFC 7252 §4.2 retransmission state), and since
// when the request has been waiting, across 4.29 refusals and their Max-Age waits.
struct ProbeRequest {
    Bytes datagram;  // the current exchange's; its Message ID keys the map
    Clock::time_point first_sent, next_send;
    Clock::duration timeout{};
    unsigned retransmissions = 0, refusals = 0;
    bool sent_once = false;
};

struct ProbeCounts {
    std::uint64_t requests = 0, success = 0, first_try = 0, refusals = 0, reset = 0, other = 0,
                  gave_up = 0, retransmissions = 0;
    std::vector<double> latencies_ms;  // of successful requests, from their first transmission
};

double percentile(std::vector<double> values, double p) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(index, values.size() - 1)];
}

// Max-Age (option 14) of a response, 60 s when absent (RFC 7252 §5.10.5).
unsigned max_age(const std::uint8_t* data, std::size_t size) {
    std::size_t pos = 4 + (data[0] & 0x0fu);
    unsigned number = 0;
    while (pos < size && data[pos] != 0xff) {
        unsigned delta = data[pos] >> 4, length = data[pos] & 0x0fu;
        ++pos;
        auto extend = [&](unsigned& field) {
            if (field == 13 && pos < size)
                field = 13u + data[pos++];
            else if (field == 14 && pos + 1 < size)
                field = 269u + (data[pos] << 8 | data[pos + 1]), pos += 2;
        };
        extend(delta);
        extend(length);
        number += delta;
        if (pos + length > size) break;
        if (number == 14) {
            unsigned value = 0;
            for (unsigned i = 0; i < length; ++i)
                value = value << 8 | data[pos + i];
            return value;
        }
        pos += length;
    }
    return 60;
}

class Probe {
  public:
    Probe(const Options& options) : options_(options), random_(std::random_device{}()) {
        mid_ = static_cast<std::uint16_t>(random_());
    }

    // A new request, or the same one again after a refusal.
    void send(Clock::time_point at, Clock::time_point first_sent, unsigned refusals) {
        ProbeRequest request;
        request.datagram =
            get_request(true, mid_, static_cast<std::uint32_t>(random_()), options_.path);
        request.first_sent = first_sent;
        request.next_send = at;
        request.timeout = initial_timeout();
        request.refusals = refusals;
        pending_.emplace(mid_++, std::move(request));
    }

    // Sends what is due; returns when something is due next.
    Clock::time_point transmit(int fd, Clock::time_point now, Clock::time_point wake) {
        for (auto& [mid, request] : pending_) {
            if (request.next_send <= now) {
                if (request.sent_once) {
                    if (request.retransmissions == 4) {  // MAX_RETRANSMIT: given up
                        request.next_send = Clock::time_point::max();
                        ++counts_.gave_up;
                        continue;
                    }
                    ++request.retransmissions, ++counts_.retransmissions;
                    request.timeout *= 2;
                }
                request.sent_once = true;
                ::send(fd, request.datagram.data(), request.datagram.size(), 0);
                request.next_send = now + request.timeout;
            }
            wake = std::min(wake, request.next_send);
        }
        return wake;
    }

    void on_reply(const std::uint8_t* data, std::size_t size, Clock::time_point now) {
        if (size < 4) return;
        auto it = pending_.find(static_cast<std::uint16_t>(data[2] << 8 | data[3]));
        if (it == pending_.end()) return;  // a late duplicate answer
        ProbeRequest request = std::move(it->second);
        pending_.erase(it);
        std::uint8_t type = (data[0] >> 4) & 3, code = data[1];
        if (type == 3) {
            ++counts_.reset;
        } else if (code == 0x9d) {  // RFC 8516 §4: wait Max-Age, then ask again
            ++counts_.refusals;
            send(now + std::chrono::seconds(max_age(data, size)), request.first_sent,
                 request.refusals + 1);
        } else if (code >> 5 == 2) {
            ++counts_.success;
            if (request.refusals == 0 && request.retransmissions == 0) ++counts_.first_try;
            counts_.latencies_ms.push_back(
                std::chrono::duration<double, std::milli>(now - request.first_sent).count());
        } else {
            ++counts_.other;
        }
    }

    bool idle() const {
        return std::all_of(pending_.begin(), pending_.end(), [](const auto& entry) {
            return entry.second.next_send == Clock::time_point::max();
        });
    }
    ProbeCounts& counts() { return counts_; }
    std::size_t unanswered() const { return pending_.size(); }

  private:
    // ACK_TIMEOUT 2 s times a random factor up to ACK_RANDOM_FACTOR 1.5 (§4.8).
    Clock::duration initial_timeout() {
        std::uniform_real_distribution<double> factor(1.0, 1.5);
        return std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(2.0 * factor(random_)));
    }

    const Options& options_;
    std::mt19937_64 random_;
    std::uint16_t mid_;
    std::map<std::uint16_t, ProbeRequest> pending_;
    ProbeCounts counts_;
};

}  // namespace

int run_probe(const Options& options) {
    sockaddr_in target = parse_target(options.target);
    int fd = udp_socket(false);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0)
        throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    auto seconds = [](double value) {
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(value));
    };
    Probe probe(options);
    Clock::time_point start = Clock::now(), next_new = start;
    Clock::time_point stop_sending = start + seconds(options.duration);
    Clock::time_point give_up = stop_sending + seconds(options.grace);
    std::uint8_t buffer[1500];
    for (Clock::time_point now = start; now < give_up; now = Clock::now()) {
        if (now >= next_new && now < stop_sending) {
            probe.send(now, now, 0);
            ++probe.counts().requests;
            next_new += std::chrono::milliseconds(options.interval_ms);
        }
        if (now >= stop_sending && probe.idle()) break;
        Clock::time_point wake = probe.transmit(fd, now, now < stop_sending ? next_new : give_up);
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count();
        pollfd poll_fd{fd, POLLIN, 0};
        if (::poll(&poll_fd, 1, static_cast<int>(std::max<long long>(0, wait) + 1)) > 0) {
            ssize_t size = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
            if (size > 0) probe.on_reply(buffer, static_cast<std::size_t>(size), Clock::now());
        }
    }
    ::close(fd);
    const ProbeCounts& c = probe.counts();
    auto pct = [&c](std::uint64_t n) {
        return c.requests ? 100.0 * static_cast<double>(n) / static_cast<double>(c.requests) : 0.0;
    };
    std::printf(
        "requests=%llu success=%llu success_pct=%.1f first_try_pct=%.1f refusals=%llu "
        "rst=%llu other=%llu lost=%zu retransmissions=%llu p50_ms=%.2f p99_ms=%.2f "
        "max_ms=%.2f\n",
        (unsigned long long)c.requests, (unsigned long long)c.success, pct(c.success),
        pct(c.first_try), (unsigned long long)c.refusals, (unsigned long long)c.reset,
        (unsigned long long)c.other, probe.unanswered(), (unsigned long long)c.retransmissions,
        percentile(c.latencies_ms, 0.50), percentile(c.latencies_ms, 0.99),
        percentile(c.latencies_ms, 1.0));
    return 0;
}

}  // namespace flood
