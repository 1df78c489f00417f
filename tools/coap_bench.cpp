// coap-bench: a CoAP load generator that measures a server over UDP.
//
// One thread, one epoll set over N connected, nonblocking UDP sockets ("endpoints"), each with
// its own source port. Every endpoint keeps a fixed window of requests outstanding and sends a
// new request as soon as one is answered (closed loop). Nothing is retransmitted: a request that
// gets no answer within --timeout is written off as a timeout and replaced, so the figures are
// about the server, not about a retransmission policy.
//
// Protocol honesty: every endpoint numbers its requests with its own incrementing Message IDs,
// starting at a random value, and never reuses one within the run; an endpoint that would wrap
// stops sending (and the report says so). Tokens are 4 bytes: the slot index in the window and
// the Message ID, so they are unique among an endpoint's requests in flight. CON requests are
// matched to their piggybacked ACK by Message ID, NON requests to their response by token.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "coap/codes.hpp"
#include "coap/content_format.hpp"
#include "coap/message.hpp"
#include "coap/option.hpp"
#include "coap/uri.hpp"

namespace {

constexpr std::size_t token_length = 4;
constexpr std::size_t receive_batch = 32;
constexpr std::size_t send_batch = 64;
constexpr std::size_t receive_buffer_size = 2048;
constexpr std::uint32_t message_ids_per_endpoint = 65536;
constexpr std::uint64_t tick_ns = 5'000'000;  // timeout scan and refill of failed sends
constexpr std::size_t max_payload = 65000;

std::uint64_t now_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

// Log-linear latency histogram: 32 linear sub-buckets per power of two (about 3% resolution),
// values in nanoseconds, fixed storage, no allocation per sample.
class Histogram {
  public:
    void record(std::uint64_t value) noexcept {
        ++counts_[index(value)];
        ++total_;
        sum_ += value;
        max_ = std::max(max_, value);
    }
    std::uint64_t count() const noexcept { return total_; }
    std::uint64_t max() const noexcept { return max_; }
    double mean() const noexcept {
        return total_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(total_);
    }
    // The midpoint of the bucket holding the q-quantile (0 < q <= 1), capped at the maximum.
    double quantile(double q) const noexcept {
        if (total_ == 0) return 0.0;
        auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
        rank = std::clamp<std::uint64_t>(rank, 1, total_);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= rank) {
                double mid =
                    static_cast<double>(lower_bound(i)) + static_cast<double>(width(i) - 1) / 2.0;
                return std::min(mid, static_cast<double>(max_));
            }
        }
        return static_cast<double>(max_);
    }
    void clear() noexcept { *this = Histogram{}; }

  private:
    static constexpr unsigned sub_bits = 5;
    static constexpr std::size_t sub_count = std::size_t{1} << sub_bits;

    static std::size_t index(std::uint64_t value) noexcept {
        if (value < sub_count) return static_cast<std::size_t>(value);
        unsigned exponent = 63u - static_cast<unsigned>(std::countl_zero(value));
        unsigned shift = exponent - sub_bits;
        std::size_t sub = static_cast<std::size_t>(value >> shift) & (sub_count - 1);
        return (exponent - sub_bits + 1) * sub_count + sub;
    }
    static std::uint64_t lower_bound(std::size_t i) noexcept {
        if (i < sub_count) return i;
        unsigned shift = static_cast<unsigned>(i / sub_count - 1);
        return (sub_count + i % sub_count) << shift;
    }
    static std::uint64_t width(std::size_t i) noexcept {
        if (i < sub_count) return 1;
        return std::uint64_t{1} << (i / sub_count - 1);
    }

    std::array<std::uint64_t, (64 - sub_bits + 1) * sub_count> counts_{};
    std::uint64_t total_ = 0;
    std::uint64_t sum_ = 0;
    std::uint64_t max_ = 0;
};

struct Counters {
    std::uint64_t sent = 0;
    std::uint64_t completed = 0;
    std::uint64_t timeouts = 0;
    std::uint64_t unexpected = 0;   // answers to nothing in flight (late, duplicate, stray)
    std::uint64_t mismatched = 0;   // ACK with an in-flight Message ID but another token
    std::uint64_t rst = 0;          // requests answered with RST
    std::uint64_t non_success = 0;  // completed with a response code other than 2.xx
    std::uint64_t empty_acks = 0;   // empty ACKs (a separate response follows)
    std::uint64_t malformed = 0;    // datagrams that do not parse as CoAP
    std::uint64_t send_errors = 0;  // requests the kernel refused to send
    std::uint64_t refused = 0;      // ICMP port unreachable seen on a socket
    std::uint64_t received() const noexcept {
        return completed + unexpected + mismatched + rst + empty_acks + malformed;
    }
};

enum class SlotState : std::uint8_t { idle, in_flight, acked };

struct Slot {
    std::uint64_t sent_ns = 0;
    std::uint32_t token = 0;
    std::uint16_t message_id = 0;
    SlotState state = SlotState::idle;
};

struct Endpoint {
    int fd = -1;
    std::uint16_t next_message_id = 0;
    std::uint32_t message_ids_used = 0;
    bool exhausted = false;
    std::uint64_t exhausted_at_ns = 0;
    std::vector<Slot> slots;
    std::vector<std::uint16_t> free_slots;  // a stack of idle slot indices
};

struct Options {
    std::string uri;
    unsigned endpoints = 256;
    unsigned window = 1;
    double duration = 5.0;
    double warmup = 1.0;
    bool non = false;
    std::string method = "get";
    std::size_t payload = 0;
    unsigned timeout_ms = 2000;
    bool json = false;
    int cpu = -1;
    int server_pid = 0;
};

std::optional<std::uint64_t> process_cpu_ticks(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    auto close = line.rfind(')');
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

// The machine-wide count of UDP datagrams dropped because a socket's receive buffer was full
// (RcvbufErrors in /proc/net/snmp).
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

class Bench {
  public:
    Bench(const Options& options, std::vector<std::uint8_t> request, std::size_t prefix_length)
        : options_(options), request_(std::move(request)), prefix_length_(prefix_length) {}

    ~Bench() {
        for (Endpoint& endpoint : endpoints_)
            if (endpoint.fd >= 0) close(endpoint.fd);
        if (epoll_fd_ >= 0) close(epoll_fd_);
    }
    Bench(const Bench&) = delete;
    Bench& operator=(const Bench&) = delete;

    // Opens and connects every endpoint; returns an error message or an empty string.
    std::string open(const sockaddr_storage& destination, socklen_t destination_length) {
        epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
        if (epoll_fd_ < 0) return std::string("epoll_create1: ") + std::strerror(errno);
        std::random_device seed;
        std::mt19937 random(seed());
        endpoints_.resize(options_.endpoints);
        for (std::size_t i = 0; i < endpoints_.size(); ++i) {
            Endpoint& endpoint = endpoints_[i];
            endpoint.fd =
                socket(destination.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (endpoint.fd < 0)
                return std::string("socket: ") + std::strerror(errno) +
                       (errno == EMFILE ? " (raise ulimit -n or use fewer --endpoints)" : "");
            if (connect(endpoint.fd, reinterpret_cast<const sockaddr*>(&destination),
                        destination_length) != 0)
                return std::string("connect: ") + std::strerror(errno);
            epoll_event event{};
            event.events = EPOLLIN;
            event.data.u32 = static_cast<std::uint32_t>(i);
            if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, endpoint.fd, &event) != 0)
                return std::string("epoll_ctl: ") + std::strerror(errno);
            endpoint.next_message_id = static_cast<std::uint16_t>(random());
            endpoint.slots.resize(options_.window);
            endpoint.free_slots.reserve(options_.window);
            for (std::size_t s = options_.window; s-- > 0;)
                endpoint.free_slots.push_back(static_cast<std::uint16_t>(s));
        }
        return {};
    }

    // Runs warm-up and measurement. Returns false when nothing answered during the warm-up.
    bool run() {
        const std::uint64_t start = now_ns();
        const auto warmup_ns = static_cast<std::uint64_t>(options_.warmup * 1e9);
        const auto duration_ns = static_cast<std::uint64_t>(options_.duration * 1e9);
        timeout_ns_ = std::uint64_t{options_.timeout_ms} * 1'000'000u;
        std::uint64_t measure_start = start + warmup_ns;
        const std::uint64_t measure_end = measure_start + duration_ns;
        std::uint64_t next_tick = start + tick_ns;
        measuring_ = false;

        // Endpoints start one after another over a short ramp (half the warm-up, at most
        // 200 ms), so the server does not get every endpoint's whole window in one burst.
        const std::uint64_t ramp_ns =
            std::min<std::uint64_t>(warmup_ns / 2, 200'000'000u) / endpoints_.size();
        auto start_due = [&](std::uint64_t now) {
            while (started_ < endpoints_.size() && now >= start + started_ * ramp_ns)
                refill(endpoints_[started_++]);
        };
        start_due(start);

        std::vector<epoll_event> events(endpoints_.size());
        while (true) {
            std::uint64_t now = now_ns();
            if (!measuring_ && now >= measure_start) {
                if (options_.warmup > 0 && counters_.received() == 0) {
                    warmup_counters_ = counters_;
                    return false;
                }
                begin_measuring(now);
            }
            if (now >= measure_end) {
                end_measuring(now);
                break;
            }
            start_due(now);
            if (now >= next_tick) {
                scan(now);
                next_tick = now + tick_ns;
            }
            std::uint64_t wake = std::min(next_tick, measuring_ ? measure_end : measure_start);
            if (started_ < endpoints_.size()) wake = std::min(wake, start + started_ * ramp_ns);
            int timeout_ms = wake > now ? static_cast<int>((wake - now + 999'999) / 1'000'000) : 0;
            int ready =
                epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
            if (ready < 0) {
                if (errno == EINTR) continue;
                std::perror("coap-bench: epoll_wait");
                std::exit(1);
            }
            for (int e = 0; e < ready; ++e) {
                std::uint32_t index = events[static_cast<std::size_t>(e)].data.u32;
                drain(endpoints_[index]);
                refill(endpoints_[index]);
            }
        }
        return true;
    }

    const Counters& counters() const noexcept { return counters_; }
    const Counters& warmup_counters() const noexcept { return warmup_counters_; }
    const Histogram& latency() const noexcept { return latency_; }
    double measured_seconds() const noexcept {
        return static_cast<double>(measure_end_ns_ - measure_start_ns_) / 1e9;
    }
    std::optional<std::uint64_t> server_ticks() const noexcept {
        if (!server_ticks_start_ || !server_ticks_end_) return std::nullopt;
        return *server_ticks_end_ - *server_ticks_start_;
    }
    std::optional<std::uint64_t> udp_drops() const noexcept {
        if (!udp_drops_start_ || !udp_drops_end_) return std::nullopt;
        return *udp_drops_end_ - *udp_drops_start_;
    }
    double own_cpu() const noexcept { return own_cpu_end_ - own_cpu_start_; }
    std::size_t exhausted_endpoints() const noexcept {
        return static_cast<std::size_t>(std::count_if(
            endpoints_.begin(), endpoints_.end(), [](const Endpoint& e) { return e.exhausted; }));
    }
    double first_exhaustion_seconds() const noexcept {
        std::uint64_t first = 0;
        for (const Endpoint& e : endpoints_)
            if (e.exhausted && (first == 0 || e.exhausted_at_ns < first)) first = e.exhausted_at_ns;
        return first == 0 ? 0.0 : static_cast<double>(first - run_start_ns_) / 1e9;
    }
    std::size_t in_flight() const noexcept {
        std::size_t count = 0;
        for (const Endpoint& e : endpoints_)
            count += e.slots.size() - e.free_slots.size();
        return count;
    }
    std::optional<coap::Code> first_non_success() const noexcept { return first_non_success_; }

  private:
    void begin_measuring(std::uint64_t now) {
        warmup_counters_ = counters_;
        counters_ = Counters{};
        latency_.clear();
        measuring_ = true;
        measure_start_ns_ = now;
        if (options_.server_pid > 0) server_ticks_start_ = process_cpu_ticks(options_.server_pid);
        own_cpu_start_ = own_cpu_seconds();
        udp_drops_start_ = udp_receive_buffer_drops();
    }

    void end_measuring(std::uint64_t now) {
        measure_end_ns_ = now;
        if (options_.server_pid > 0) server_ticks_end_ = process_cpu_ticks(options_.server_pid);
        own_cpu_end_ = own_cpu_seconds();
        udp_drops_end_ = udp_receive_buffer_drops();
        if (!measuring_) measure_start_ns_ = now;  // a zero-length measurement
    }

    // Writes off requests older than the timeout and refills idle slots (failed sends included).
    void scan(std::uint64_t now) {
        for (std::size_t i = 0; i < started_; ++i) {
            Endpoint& endpoint = endpoints_[i];
            for (std::size_t s = 0; s < endpoint.slots.size(); ++s) {
                Slot& slot = endpoint.slots[s];
                if (slot.state == SlotState::idle || now - slot.sent_ns < timeout_ns_) continue;
                ++counters_.timeouts;
                release(endpoint, s);
            }
            refill(endpoint);
        }
    }

    void release(Endpoint& endpoint, std::size_t slot) {
        endpoint.slots[slot].state = SlotState::idle;
        endpoint.free_slots.push_back(static_cast<std::uint16_t>(slot));
    }

    // Sends a new request from every idle slot of an endpoint, in sendmmsg batches.
    void refill(Endpoint& endpoint) {
        std::size_t queued = 0;
        while (!endpoint.free_slots.empty() && !endpoint.exhausted) {
            std::uint16_t slot_index = endpoint.free_slots.back();
            endpoint.free_slots.pop_back();
            Slot& slot = endpoint.slots[slot_index];
            slot.message_id = endpoint.next_message_id++;
            slot.token = (std::uint32_t{slot_index} << 16) | slot.message_id;
            slot.state = SlotState::in_flight;
            if (++endpoint.message_ids_used == message_ids_per_endpoint) {
                endpoint.exhausted = true;  // the next Message ID would be one already used
                endpoint.exhausted_at_ns = now_ns();
            }
            std::uint8_t* prefix = prefixes_[queued].data();
            std::memcpy(prefix, request_.data(), prefix_length_);
            prefix[2] = static_cast<std::uint8_t>(slot.message_id >> 8);
            prefix[3] = static_cast<std::uint8_t>(slot.message_id);
            prefix[4] = static_cast<std::uint8_t>(slot.token >> 24);
            prefix[5] = static_cast<std::uint8_t>(slot.token >> 16);
            prefix[6] = static_cast<std::uint8_t>(slot.token >> 8);
            prefix[7] = static_cast<std::uint8_t>(slot.token);
            queued_slots_[queued] = slot_index;
            if (++queued == send_batch) {
                flush(endpoint, queued);
                queued = 0;
            }
        }
        if (queued != 0) flush(endpoint, queued);
    }

    void flush(Endpoint& endpoint, std::size_t count) {
        std::array<mmsghdr, send_batch> messages{};
        std::array<std::array<iovec, 2>, send_batch> vectors{};
        for (std::size_t i = 0; i < count; ++i) {
            vectors[i][0] = {prefixes_[i].data(), prefix_length_};
            vectors[i][1] = {const_cast<std::uint8_t*>(request_.data() + prefix_length_),
                             request_.size() - prefix_length_};
            messages[i].msg_hdr.msg_iov = vectors[i].data();
            messages[i].msg_hdr.msg_iovlen = vectors[i][1].iov_len == 0 ? 1 : 2;
        }
        const std::uint64_t now = now_ns();
        for (std::size_t i = 0; i < count; ++i)
            endpoint.slots[queued_slots_[i]].sent_ns = now;
        int sent = sendmmsg(endpoint.fd, messages.data(), static_cast<unsigned>(count), 0);
        std::size_t done = sent > 0 ? static_cast<std::size_t>(sent) : 0;
        if (sent < 0 && errno == ECONNREFUSED) ++counters_.refused;
        counters_.sent += done;
        // Requests that did not leave go back to idle (their Message IDs stay used) and are
        // retried at the next scan, so a refusing or full socket does not make this loop spin.
        for (std::size_t i = done; i < count; ++i) {
            ++counters_.send_errors;
            release(endpoint, queued_slots_[i]);
        }
    }

    void drain(Endpoint& endpoint) {
        std::array<mmsghdr, receive_batch> messages{};
        std::array<iovec, receive_batch> vectors{};
        while (true) {
            for (std::size_t i = 0; i < receive_batch; ++i) {
                vectors[i] = {receive_buffers_[i].data(), receive_buffer_size};
                messages[i].msg_hdr = {};
                messages[i].msg_hdr.msg_iov = &vectors[i];
                messages[i].msg_hdr.msg_iovlen = 1;
            }
            int received =
                recvmmsg(endpoint.fd, messages.data(), receive_batch, MSG_DONTWAIT, nullptr);
            if (received < 0) {
                if (errno == EINTR) continue;
                if (errno == ECONNREFUSED) {
                    ++counters_.refused;
                    continue;
                }
                return;  // EAGAIN: drained
            }
            const std::uint64_t now = now_ns();
            for (int i = 0; i < received; ++i) {
                auto index = static_cast<std::size_t>(i);
                handle(endpoint,
                       coap::Bytes(
                           receive_buffers_[index].data(),
                           std::min<std::size_t>(messages[index].msg_len, receive_buffer_size)),
                       now);
            }
            if (static_cast<std::size_t>(received) < receive_batch) return;
        }
    }

    Slot* find_by_token(Endpoint& endpoint, coap::Bytes token) noexcept {
        if (token.size() != token_length) return nullptr;
        std::uint32_t value = (std::uint32_t{token[0]} << 24) | (std::uint32_t{token[1]} << 16) |
                              (std::uint32_t{token[2]} << 8) | std::uint32_t{token[3]};
        std::size_t index = value >> 16;
        if (index >= endpoint.slots.size()) return nullptr;
        Slot& slot = endpoint.slots[index];
        if (slot.state == SlotState::idle || slot.token != value) return nullptr;
        return &slot;
    }

    Slot* find_by_message_id(Endpoint& endpoint, std::uint16_t message_id) noexcept {
        for (Slot& slot : endpoint.slots)
            if (slot.state == SlotState::in_flight && slot.message_id == message_id) return &slot;
        return nullptr;
    }

    void complete(Endpoint& endpoint, Slot& slot, coap::Code code, std::uint64_t now) {
        ++counters_.completed;
        if (coap::code_class(code) != 2) {
            ++counters_.non_success;
            if (!first_non_success_) first_non_success_ = code;
        }
        if (measuring_) latency_.record(now - slot.sent_ns);
        release(endpoint, static_cast<std::size_t>(&slot - endpoint.slots.data()));
    }

    void send_empty_ack(Endpoint& endpoint, std::uint16_t message_id) {
        std::uint8_t ack[4] = {0x60, 0x00, static_cast<std::uint8_t>(message_id >> 8),
                               static_cast<std::uint8_t>(message_id)};
        if (send(endpoint.fd, ack, sizeof ack, 0) < 0) ++counters_.send_errors;
    }

    void handle(Endpoint& endpoint, coap::Bytes datagram, std::uint64_t now) {
        auto parsed = coap::parse(datagram);
        if (!parsed) {
            ++counters_.malformed;
            return;
        }
        const coap::MessageView& message = *parsed;
        const coap::MessageType type = message.type();
        if (type == coap::MessageType::rst) {
            Slot* slot = find_by_message_id(endpoint, message.message_id());
            if (slot == nullptr) {
                ++counters_.unexpected;
                return;
            }
            ++counters_.rst;  // the request failed: free its slot without a latency sample
            release(endpoint, static_cast<std::size_t>(slot - endpoint.slots.data()));
            return;
        }
        if (message.is_empty_message()) {
            Slot* slot = type == coap::MessageType::ack
                             ? find_by_message_id(endpoint, message.message_id())
                             : nullptr;
            if (slot == nullptr) {
                ++counters_.unexpected;
                return;
            }
            ++counters_.empty_acks;
            slot->state = SlotState::acked;  // the separate response is matched by token
            return;
        }
        if (!message.is_response()) {
            ++counters_.unexpected;
            return;
        }
        if (type == coap::MessageType::ack) {
            // Piggybacked response: the Message ID says which request it answers.
            Slot* slot = find_by_message_id(endpoint, message.message_id());
            if (slot == nullptr) {
                ++counters_.unexpected;
                return;
            }
            if (find_by_token(endpoint, message.token()) != slot) {
                ++counters_.mismatched;
                return;
            }
            complete(endpoint, *slot, message.code(), now);
            return;
        }
        // A NON response, or a separate CON response: the token says which request it answers.
        if (type == coap::MessageType::con) send_empty_ack(endpoint, message.message_id());
        Slot* slot = find_by_token(endpoint, message.token());
        if (slot == nullptr) {
            ++counters_.unexpected;
            return;
        }
        complete(endpoint, *slot, message.code(), now);
    }

    const Options& options_;
    std::vector<std::uint8_t> request_;
    std::size_t prefix_length_;
    std::vector<Endpoint> endpoints_;
    int epoll_fd_ = -1;
    std::uint64_t timeout_ns_ = 0;
    bool measuring_ = false;
    std::size_t started_ = 0;
    std::uint64_t run_start_ns_ = now_ns();
    std::uint64_t measure_start_ns_ = 0;
    std::uint64_t measure_end_ns_ = 0;
    Counters counters_;
    Counters warmup_counters_;
    Histogram latency_;
    std::optional<coap::Code> first_non_success_;
    std::optional<std::uint64_t> server_ticks_start_;
    std::optional<std::uint64_t> server_ticks_end_;
    std::optional<std::uint64_t> udp_drops_start_;
    std::optional<std::uint64_t> udp_drops_end_;
    double own_cpu_start_ = 0;
    double own_cpu_end_ = 0;
    std::array<std::array<std::uint8_t, 4 + token_length>, send_batch> prefixes_{};
    std::array<std::uint16_t, send_batch> queued_slots_{};
    std::array<std::array<std::uint8_t, receive_buffer_size>, receive_batch> receive_buffers_{};
};

std::string json_escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
            out += escaped;
            continue;
        }
        out += c;
    }
    return out;
}

// Resolves the URI's host to an address; returns an error message or an empty string.
std::string resolve(const coap::UriParts& parts, sockaddr_storage& address, socklen_t& length,
                    std::string& printable) {
    std::string host(parts.host);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    if (parts.host_is_ip()) hints.ai_flags = AI_NUMERICHOST;
    addrinfo* result = nullptr;
    std::string port = std::to_string(parts.port);
    int status = getaddrinfo(host.c_str(), port.c_str(), &hints, &result);
    if (status != 0 || result == nullptr)
        return "cannot resolve \"" + host + "\": " + gai_strerror(status);
    std::memcpy(&address, result->ai_addr, result->ai_addrlen);
    length = result->ai_addrlen;
    freeaddrinfo(result);
    char text[INET6_ADDRSTRLEN] = {};
    if (address.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&address)->sin6_addr, text,
                  sizeof text);
        printable = std::string("[") + text + "]:" + port;
    } else {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&address)->sin_addr, text, sizeof text);
        printable = std::string(text) + ":" + port;
    }
    return {};
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "coap-bench - closed-loop CoAP load generator (one thread, epoll, N UDP endpoints)"};
    Options options;
    app.add_option("uri", options.uri, "Target, e.g. coap://127.0.0.1:5683/test")->required();
    app.add_option("--endpoints", options.endpoints, "Client UDP sockets, each its own port")
        ->capture_default_str()
        ->check(CLI::Range(1u, 60000u));
    app.add_option("--window", options.window, "Requests in flight per endpoint")
        ->capture_default_str()
        ->check(CLI::Range(1u, 65535u));
    app.add_option("--duration", options.duration, "Seconds measured")
        ->capture_default_str()
        ->check(CLI::Range(0.001, 86400.0));
    app.add_option("--warmup", options.warmup, "Seconds of load before measuring")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 86400.0));
    app.add_flag("--non", options.non, "Send NON requests instead of CON");
    app.add_option("--method", options.method, "Request method")
        ->capture_default_str()
        ->check(CLI::IsMember({"get", "post", "put"}));
    app.add_option("--payload", options.payload, "Request payload size in bytes")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{0}, max_payload));
    app.add_option("--timeout", options.timeout_ms,
                   "Milliseconds after which an unanswered request counts as lost and is "
                   "replaced (never retransmitted)")
        ->capture_default_str()
        ->check(CLI::Range(1u, 3'600'000u));
    app.add_flag("--json", options.json, "Print one JSON object on stdout");
    app.add_option("--cpu", options.cpu, "Pin the load generator to this CPU")
        ->check(CLI::Range(0, 4095));
    app.add_option("--server-pid", options.server_pid,
                   "Read this process's CPU time (utime+stime from /proc/PID/stat) at the edges "
                   "of the measured window and report server CPU per request")
        ->check(CLI::Range(1, 1 << 30));
    CLI11_PARSE(app, argc, argv);

    coap::UriOptions<> uri_options;
    auto parts = uri_options.append_uri(options.uri);
    if (!parts) {
        std::fprintf(stderr, "coap-bench: bad URI \"%s\": %.*s\n", options.uri.c_str(),
                     static_cast<int>(coap::describe(parts.error()).size()),
                     coap::describe(parts.error()).data());
        return 2;
    }
    if (parts->secure) {
        std::fprintf(stderr, "coap-bench: coaps:// (DTLS) is not supported, use coap://\n");
        return 2;
    }

    sockaddr_storage destination{};
    socklen_t destination_length = 0;
    std::string target;
    if (std::string error = resolve(*parts, destination, destination_length, target);
        !error.empty()) {
        std::fprintf(stderr, "coap-bench: %s\n", error.c_str());
        return 2;
    }

    // The request template: header and 4-byte token (patched per request), then the options
    // and payload shared by every request.
    const coap::Code method = options.method == "post"  ? coap::Code::post
                              : options.method == "put" ? coap::Code::put
                                                        : coap::Code::get;
    std::vector<coap::Option> request_options(uri_options.options().begin(),
                                              uri_options.options().end());
    coap::UintValue octet_stream(static_cast<std::uint32_t>(coap::ContentFormat::octet_stream));
    if (options.payload > 0)
        request_options.push_back({coap::OptionNumber::content_format, octet_stream.bytes()});
    std::vector<std::uint8_t> payload(options.payload, 'x');
    const std::array<std::uint8_t, token_length> zero_token{};
    coap::Message message{
        .type = options.non ? coap::MessageType::non : coap::MessageType::con,
        .code = method,
        .message_id = 0,
        .token = zero_token,
        .options = request_options,
        .payload = payload,
    };
    std::vector<std::uint8_t> request(coap::encoded_size(message));
    auto encoded = coap::encode(message, request);
    if (!encoded) {
        auto what = coap::describe(encoded.error());
        std::fprintf(stderr, "coap-bench: cannot encode the request: %.*s\n",
                     static_cast<int>(what.size()), what.data());
        return 2;
    }
    request.resize(*encoded);

    if (options.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(static_cast<unsigned>(options.cpu), &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) {
            std::fprintf(stderr, "coap-bench: cannot pin to CPU %d: %s\n", options.cpu,
                         std::strerror(errno));
            return 2;
        }
    }
    // One descriptor per endpoint plus a few: raise the soft limit if needed.
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < options.endpoints + 64u) {
        files.rlim_cur = std::min<rlim_t>(files.rlim_max, options.endpoints + 64u);
        setrlimit(RLIMIT_NOFILE, &files);
    }
    if (options.server_pid > 0 && !process_cpu_ticks(options.server_pid)) {
        std::fprintf(stderr, "coap-bench: cannot read /proc/%d/stat\n", options.server_pid);
        return 2;
    }

    Bench bench(options, std::move(request), 4 + token_length);
    if (std::string error = bench.open(destination, destination_length); !error.empty()) {
        std::fprintf(stderr, "coap-bench: %s\n", error.c_str());
        return 1;
    }
    if (!bench.run()) {
        const Counters& warm = bench.warmup_counters();
        std::fprintf(
            stderr, "coap-bench: no response from %s during the %.3g s warm-up%s\n", target.c_str(),
            options.warmup,
            warm.refused > 0 ? " (ICMP port unreachable: is a server listening there?)" : "");
        return 1;
    }
    const Counters& c = bench.counters();
    if (options.warmup <= 0 && c.received() == 0) {
        std::fprintf(stderr, "coap-bench: no response from %s%s\n", target.c_str(),
                     c.refused > 0 ? " (ICMP port unreachable: is a server listening there?)" : "");
        return 1;
    }

    const double seconds = bench.measured_seconds();
    const double rate = seconds > 0 ? static_cast<double>(c.completed) / seconds : 0.0;
    const Histogram& latency = bench.latency();
    const double p50 = latency.quantile(0.50) / 1e3;
    const double p99 = latency.quantile(0.99) / 1e3;
    const double p999 = latency.quantile(0.999) / 1e3;
    const double max = static_cast<double>(latency.max()) / 1e3;
    const double mean = latency.mean() / 1e3;
    const double client_cpu_pct = seconds > 0 ? 100.0 * bench.own_cpu() / seconds : 0.0;
    std::optional<double> server_cpu_us;
    std::optional<double> server_cpu_pct;
    if (auto ticks = bench.server_ticks()) {
        const double tick_seconds = 1.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
        const double cpu = static_cast<double>(*ticks) * tick_seconds;
        if (c.completed > 0) server_cpu_us = cpu * 1e6 / static_cast<double>(c.completed);
        if (seconds > 0) server_cpu_pct = 100.0 * cpu / seconds;
    }
    const char* type = options.non ? "NON" : "CON";
    std::string method_name = options.method;
    std::transform(method_name.begin(), method_name.end(), method_name.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });

    if (bench.exhausted_endpoints() > 0)
        std::fprintf(stderr,
                     "coap-bench: note: %zu of %u endpoints used all 65536 Message IDs (the "
                     "first after %.2f s) and stopped sending rather than reuse one\n",
                     bench.exhausted_endpoints(), options.endpoints,
                     bench.first_exhaustion_seconds());
    if (c.non_success > 0)
        std::fprintf(
            stderr, "coap-bench: warning: %" PRIu64 " responses were not 2.xx (first: %s)\n",
            c.non_success, std::string(coap::code_text(*bench.first_non_success()).view()).c_str());

    const std::optional<std::uint64_t> udp_drops = bench.udp_drops();
    const std::string udp_drops_text = udp_drops ? std::to_string(*udp_drops) : "null";
    if (options.json) {
        auto number = [](std::optional<double> value) {
            if (!value) return std::string("null");
            char text[32];
            std::snprintf(text, sizeof text, "%.3f", *value);
            return std::string(text);
        };
        std::printf(
            "{\"uri\":\"%s\",\"target\":\"%s\",\"type\":\"%s\",\"method\":\"%s\",\"endpoints\":%u,"
            "\"window\":%u,\"payload\":%zu,\"warmup_s\":%.3f,\"duration_s\":%.3f,"
            "\"measured_s\":%.4f,\"requests_per_s\":%.1f,\"sent\":%" PRIu64
            ",\"completed\":%" PRIu64 ",\"timeouts\":%" PRIu64 ",\"unexpected\":%" PRIu64
            ",\"mismatched\":%" PRIu64 ",\"rst\":%" PRIu64 ",\"non_success\":%" PRIu64
            ",\"empty_acks\":%" PRIu64 ",\"malformed\":%" PRIu64 ",\"send_errors\":%" PRIu64
            ",\"refused\":%" PRIu64
            ",\"in_flight_at_end\":%zu,\"mid_exhausted_endpoints\":%zu,"
            "\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f},"
            "\"client_cpu_pct\":%.1f,\"server_cpu_pct\":%s,\"server_cpu_us_per_request\":%s,"
            "\"udp_rcvbuf_drops_host\":%s}\n",
            json_escape(options.uri).c_str(), json_escape(target).c_str(), type,
            method_name.c_str(), options.endpoints, options.window, options.payload, options.warmup,
            options.duration, seconds, rate, c.sent, c.completed, c.timeouts, c.unexpected,
            c.mismatched, c.rst, c.non_success, c.empty_acks, c.malformed, c.send_errors, c.refused,
            bench.in_flight(), bench.exhausted_endpoints(), p50, p99, p999, max, mean,
            client_cpu_pct, number(server_cpu_pct).c_str(), number(server_cpu_us).c_str(),
            udp_drops_text.c_str());
        return 0;
    }

    std::printf(
        "coap-bench %s: %s %s, %u endpoints x window %u, payload %zu B, %.2f s measured "
        "after %.2f s warm-up\n",
        options.uri.c_str(), type, method_name.c_str(), options.endpoints, options.window,
        options.payload, seconds, options.warmup);
    std::printf("  %-22s %12.0f\n", "requests/s", rate);
    std::printf("  %-22s %12" PRIu64 "\n", "sent", c.sent);
    std::printf("  %-22s %12" PRIu64 "\n", "completed", c.completed);
    std::printf("  %-22s %12" PRIu64 "\n", "timeouts", c.timeouts);
    std::printf("  %-22s %12" PRIu64 "\n", "unexpected", c.unexpected);
    std::printf("  %-22s %12" PRIu64 "\n", "mismatched", c.mismatched);
    if (c.rst) std::printf("  %-22s %12" PRIu64 "\n", "rst", c.rst);
    if (c.non_success) std::printf("  %-22s %12" PRIu64 "\n", "not 2.xx", c.non_success);
    if (c.empty_acks) std::printf("  %-22s %12" PRIu64 "\n", "empty ACKs", c.empty_acks);
    if (c.malformed) std::printf("  %-22s %12" PRIu64 "\n", "malformed", c.malformed);
    if (c.send_errors) std::printf("  %-22s %12" PRIu64 "\n", "send errors", c.send_errors);
    if (c.refused) std::printf("  %-22s %12" PRIu64 "\n", "port unreachable", c.refused);
    if (udp_drops && *udp_drops > 0)
        std::printf("  %-22s %12" PRIu64 "\n", "UDP rcvbuf drops (host)", *udp_drops);
    std::printf("  %-22s %12.1f\n", "latency p50 (us)", p50);
    std::printf("  %-22s %12.1f\n", "latency p99 (us)", p99);
    std::printf("  %-22s %12.1f\n", "latency p99.9 (us)", p999);
    std::printf("  %-22s %12.1f\n", "latency max (us)", max);
    std::printf("  %-22s %12.1f\n", "load generator CPU %", client_cpu_pct);
    if (server_cpu_pct) std::printf("  %-22s %12.1f\n", "server CPU %", *server_cpu_pct);
    if (server_cpu_us) std::printf("  %-22s %12.2f\n", "server CPU us/request", *server_cpu_us);
    return 0;
}
