#include "bench/bench_driver.hpp"

#include <malloc.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <random>

#include "bench/bench_driver_endpoint.hpp"
#include "bench/measure_window.hpp"
#include "bench/receive_loop.hpp"
#include "client/client_core.hpp"
#include "coap/message.hpp"

namespace coap::bench {

namespace {

constexpr std::uint64_t tick_ns = 10'000'000;  // timer scan: retransmissions, timeouts
constexpr std::size_t open_loop_burst = 1024;  // due requests sent before sockets are serviced
constexpr std::uint32_t message_id_count = 65536;
constexpr std::size_t uring_send_slots = 16384;

// The largest request datagram: header, an 8-byte token, the options, the payload (one block
// of at most 1024 bytes, RFC 7959 §2.2), and room for the engine's own options (Block1, Size1,
// Request-Tag, an Echo value of up to 40 bytes, RFC 9175 §2.2.1).
std::uint32_t request_buffer_size(const RequestShape& request) {
    std::array<std::uint8_t, 8> token{};
    Bytes payload = request.payload.first(std::min<std::size_t>(request.payload.size(), 1024));
    Message message{MessageType::con, request.method, 0, token, {}, payload};
    std::size_t size = encoded_size(message) + 96;
    for (const Option& option : request.options)
        size += option.value.size() + 5;
    return static_cast<std::uint32_t>((size + 63) / 64 * 64);
}

// A sealed request is one DTLS record: 13 bytes of header, an 8-byte nonce, an 8-byte tag.
std::size_t wire_size(const BenchOptions& options, std::uint32_t plain_size) {
    return plain_size + (options.dtls ? 64u : 0u);
}

}  // namespace

CoreDriver::CoreDriver(const BenchOptions& options, const RequestShape& request)
    : options_(options),
      request_(request),
      send_(wire_size(options, request_buffer_size(request))) {
    config_.max_in_flight = options.window;
    config_.token_length = 4;
    config_.block_szx = 6;
    config_.buffer_size = request_buffer_size(request);
    config_.max_body_size = 64 * 1024;
    config_.ack_timeout = std::chrono::milliseconds(options.ack_timeout_ms);
    config_.max_retransmit = options.max_retransmit;
    config_.max_queued_notifications = 1;  // no observations: the smallest queue
    config_.response_timeout = std::chrono::milliseconds(options.timeout_ms);
}

CoreDriver::~CoreDriver() = default;

std::string CoreDriver::open(const Destination& destination) {
    if (std::string error = sockets_.open(destination, options_.endpoints); !error.empty())
        return error;
    std::random_device seed;
    std::mt19937_64 random((std::uint64_t{seed()} << 32) | seed());
    // What one endpoint's engine holds on the heap: the figure that decides how many fit.
    std::size_t heap_before = mallinfo2().uordblks;
    endpoints_.reserve(options_.endpoints);
    for (std::size_t i = 0; i < options_.endpoints; ++i) {
        endpoints_.emplace_back(config_, random(), options_.window);
        endpoints_.back().fd = sockets_.fd(i);
        if (options_.dtls)
            endpoints_.back().secure = std::make_unique<SecureLink>(*options_.dtls, sockets_.fd(i));
        endpoints_.back().index = static_cast<std::uint32_t>(i);
    }
    std::size_t heap_after = mallinfo2().uordblks;
    result_.bytes_per_endpoint = (heap_after - heap_before) / options_.endpoints;
    receive_ = std::make_unique<ReceiveBatch>();
    if (options_.io == IoMode::uring) {
        std::vector<int> fds(options_.endpoints);
        for (std::size_t i = 0; i < fds.size(); ++i)
            fds[i] = sockets_.fd(i);
        uring_ = std::make_unique<UringIo>();
        if (std::string error =
                uring_->open(fds, wire_size(options_, config_.buffer_size), uring_send_slots);
            !error.empty()) {
            // io_uring may be disabled (kernel.io_uring_disabled, seccomp): epoll still works.
            std::fprintf(stderr, "coap-bench: note: %s; using epoll\n", error.c_str());
            uring_.reset();
        }
        dirty_.reserve(options_.endpoints);
        blocked_.reserve(options_.endpoints);
    }
    return {};
}

RunResult CoreDriver::run() {
    const std::uint64_t start = now_ns();
    MeasureWindow window(options_, start);
    std::uint64_t next_tick = start + tick_ns;
    // Closed loop: endpoints start one after another over a short ramp (half the warm-up, at
    // most 200 ms), so the server does not get every window in one burst. Open loop: the
    // schedule is the ramp.
    std::uint64_t ramp_ns = 0;
    if (options_.open_loop()) {
        schedule_.emplace(options_.rate, start);
        started_ = endpoints_.size();
    } else {
        ramp_ns = std::min<std::uint64_t>(static_cast<std::uint64_t>(options_.warmup * 1e9) / 2,
                                          200'000'000u) /
                  endpoints_.size();
    }
    while (true) {
        std::uint64_t now = now_ns();
        if (window.advance(now, counters_, result_) == MeasureWindow::Phase::done) break;
        measuring_ = window.measuring();
        start_due(now, start, ramp_ns);
        if (schedule_) submit_due(now);
        if (now >= next_tick) {
            on_timers(now);
            next_tick = now + tick_ns;
        }
        std::uint64_t wake = std::min(next_tick, window.next_edge_ns());
        if (started_ < endpoints_.size()) wake = std::min(wake, start + started_ * ramp_ns);
        if (schedule_) wake = std::min(wake, schedule_->next_ns());
        wait_and_service(wake);
    }
    finish(start);
    result_.io = uring_ ? IoMode::uring : IoMode::epoll;
    return result_;
}

void CoreDriver::finish(std::uint64_t run_start) {
    std::uint64_t first = 0;
    for (const Endpoint& endpoint : endpoints_) {
        result_.in_flight_at_end += endpoint.pending.size();
        if (!endpoint.exhausted) continue;
        ++result_.exhausted_endpoints;
        if (first == 0 || endpoint.exhausted_at_ns < first) first = endpoint.exhausted_at_ns;
    }
    if (first != 0) result_.first_exhaustion_s = static_cast<double>(first - run_start) / 1e9;
}

void CoreDriver::start_due(std::uint64_t now, std::uint64_t start, std::uint64_t ramp_ns) {
    while (started_ < endpoints_.size() && now >= start + started_ * ramp_ns) {
        Endpoint& endpoint = endpoints_[started_++];
        refill(endpoint, now);
        flush(endpoint);
    }
}

void CoreDriver::wait_and_service(std::uint64_t wake_ns) {
    if (uring_) {
        service_uring(wake_ns);
        return;
    }
    for (std::uint32_t index : sockets_.wait(now_ns(), wake_ns))
        service(endpoints_[index]);
}

void CoreDriver::service(Endpoint& endpoint) {
    std::uint64_t now = now_ns();
    drain(endpoint, now);
    collect(endpoint, now);
    if (!schedule_) refill(endpoint, now);
    flush(endpoint);
}

void CoreDriver::drain(Endpoint& endpoint, std::uint64_t now) {
    drain_socket(*receive_, endpoint.fd, counters_,
                 [&](Bytes datagram) { deliver(endpoint, datagram, now); });
}

void CoreDriver::collect(Endpoint& endpoint, std::uint64_t now) {
    while (auto completion = endpoint.core.pop_completion_into(response_)) {
        std::uint64_t due = endpoint.forget(completion->handle, now);
        Expected<MessageView, ClientError> result = unexpected(ClientError::malformed_response);
        if (!completion->length) {
            result = unexpected(completion->length.error());
        } else if (auto view = parse(Bytes(response_.data(), *completion->length))) {
            result = *view;
        }
        if (result) {
            ++counters_.completed;
            if (code_class(result->code()) != 2) {
                ++counters_.non_success;
                if (!result_.first_non_success) result_.first_non_success = result->code();
            }
            if (measuring_) result_.latency.record(now - due);
            continue;
        }
        switch (result.error()) {
            case ClientError::timeout:
            case ClientError::no_separate_response:
                ++counters_.timeouts;
                break;
            case ClientError::reset:
                ++counters_.rst;
                break;
            default:
                ++counters_.errors;
                if (!result_.first_error) result_.first_error = result.error();
                break;
        }
    }
}

// Closed loop: keep `window` requests outstanding.
void CoreDriver::refill(Endpoint& endpoint, std::uint64_t now) {
    while (endpoint.pending.size() < options_.window && submit(endpoint, now, now)) {
    }
}

bool CoreDriver::submit(Endpoint& endpoint, std::uint64_t now, std::uint64_t due_ns) {
    // RFC 7252 §4.4: a Message ID is not reused within EXCHANGE_LIFETIME (247 s). The engine
    // numbers in sequence, so an endpoint stops before wrapping, with room for the requests it
    // may still have to (re)start.
    if (endpoint.exhausted) return false;
    if (endpoint.fresh_message_ids + 2 * options_.window >= message_id_count) {
        endpoint.exhausted = true;
        endpoint.exhausted_at_ns = now;
        return false;
    }
    if (endpoint.pending.size() >= 2 * std::size_t{options_.window}) return false;
    RequestSpec spec{request_.method, request_.options, request_.payload, request_.non_confirmable};
    auto handle = endpoint.core.submit(spec, to_time_point(now));
    if (!handle) return false;  // busy: the engine's queue is full
    endpoint.pending.push_back({*handle, due_ns});
    ++counters_.sent;
    return true;
}

void CoreDriver::flush(Endpoint& endpoint) {
    if (!session_ready(endpoint, now_ns())) return;
    if (uring_) {
        flush_uring(endpoint);
        return;
    }
    while (endpoint.core.has_outgoing()) {
        while (endpoint.core.has_outgoing() && !send_.full()) {
            Bytes datagram = endpoint.core.front_outgoing();
            note_outgoing(endpoint, datagram);
            if (!send_.add(wire(endpoint, datagram))) ++counters_.send_errors;
            endpoint.core.pop_outgoing();
        }
        std::size_t batch = send_.size();
        SendBatch::Outcome outcome = send_.flush(endpoint.fd);
        // What did not leave is lost like a datagram on the wire: CON requests are
        // retransmitted by the engine, NON requests time out.
        counters_.send_errors += batch - outcome.sent;
        if (outcome.error == ECONNREFUSED) ++counters_.refused;
    }
}

// Tells first transmissions from retransmissions by their Message ID: the engine draws new
// ones in sequence (RFC 7252 §4.4), a retransmission repeats an older one (§4.2).
void CoreDriver::note_outgoing(Endpoint& endpoint, Bytes datagram) {
    if (datagram.size() < 4) return;
    unsigned type = (datagram[0] >> 4) & 0x3u;
    std::uint8_t code = datagram[1];
    bool request = code != 0 && (code >> 5) == 0;
    if (!request || type > 1) return;  // the engine's ACKs and RSTs
    auto message_id = static_cast<std::uint16_t>((datagram[2] << 8) | datagram[3]);
    auto ahead = static_cast<std::uint16_t>(message_id - endpoint.last_fresh_message_id);
    if (endpoint.sent_any && (ahead == 0 || ahead >= 0x8000)) {
        ++counters_.retransmissions;
        return;
    }
    endpoint.sent_any = true;
    endpoint.last_fresh_message_id = message_id;
    ++endpoint.fresh_message_ids;
}

void CoreDriver::on_timers(std::uint64_t now) {
    const TimePoint at = to_time_point(now);
    for (std::size_t i = 0; i < started_; ++i) {
        Endpoint& endpoint = endpoints_[i];
        const bool secure_due = endpoint.secure && on_secure_timer(endpoint, at);
        auto deadline = endpoint.core.next_deadline();
        const bool core_due = deadline && *deadline <= at && !core_timers_wait(endpoint);
        if (!core_due && !secure_due) continue;
        if (core_due) endpoint.core.on_timer(at);
        collect(endpoint, now);
        if (!schedule_) refill(endpoint, now);
        flush(endpoint);
    }
}

// Open loop: every request that has come due goes to the next endpoint in turn; one whose
// window (and the engine's queue behind it) is full does not get it, and it counts as not sent.
void CoreDriver::submit_due(std::uint64_t now) {
    for (std::size_t burst = 0; burst < open_loop_burst && schedule_->next_ns() <= now; ++burst) {
        std::uint64_t due = schedule_->next_ns();
        schedule_->advance();
        Endpoint& endpoint = endpoints_[next_open_loop_endpoint_];
        next_open_loop_endpoint_ = (next_open_loop_endpoint_ + 1) % endpoints_.size();
        if (!submit(endpoint, now, due)) {
            ++counters_.not_sent;
            continue;
        }
        flush(endpoint);
    }
}

}  // namespace coap::bench
