#include "bench/raw_engine.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <random>

#include "bench/measure_window.hpp"

namespace coap::bench {

namespace {

constexpr std::size_t token_length = 4;
constexpr std::size_t prefix_length = 4 + token_length;  // header and token, patched per request
constexpr std::uint32_t message_ids_per_endpoint = 65536;
constexpr std::uint64_t tick_ns = 5'000'000;  // timeout scan and refill of failed sends

}  // namespace

RawDriver::RawDriver(const BenchOptions& options, const RequestShape& request)
    : options_(options), request_shape_(request), send_(prefix_length) {
    batch_slots_.resize(SendBatch::capacity);
}

RawDriver::~RawDriver() = default;

std::string RawDriver::open(const Destination& destination) {
    const std::array<std::uint8_t, token_length> zero_token{};
    Message message{request_shape_.non_confirmable ? MessageType::non : MessageType::con,
                    request_shape_.method,
                    0,
                    zero_token,
                    request_shape_.options,
                    request_shape_.payload};
    request_.resize(encoded_size(message));
    auto encoded = encode(message, request_);
    if (!encoded) return "cannot encode the request: " + std::string(describe(encoded.error()));
    request_.resize(*encoded);

    if (std::string error = sockets_.open(destination, options_.endpoints); !error.empty())
        return error;
    std::random_device seed;
    std::mt19937 random(seed());
    endpoints_.resize(options_.endpoints);
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
        Endpoint& endpoint = endpoints_[i];
        endpoint.fd = sockets_.fd(i);
        endpoint.next_message_id = static_cast<std::uint16_t>(random());
        endpoint.slots.resize(options_.window);
        endpoint.free_slots.reserve(options_.window);
        for (std::size_t s = options_.window; s-- > 0;)
            endpoint.free_slots.push_back(static_cast<std::uint16_t>(s));
    }
    receive_ = std::make_unique<ReceiveBatch>();
    result_.bytes_per_endpoint = sizeof(Endpoint) + options_.window * (sizeof(Slot) + 2);
    return {};
}

RunResult RawDriver::run() {
    const std::uint64_t start = now_ns();
    MeasureWindow window(options_, start);
    timeout_ns_ = std::uint64_t{options_.timeout_ms} * 1'000'000u;
    std::uint64_t next_tick = start + tick_ns;
    // Endpoints start one after another over a short ramp (half the warm-up, at most 200 ms),
    // so the server does not get every endpoint's whole window in one burst.
    const std::uint64_t ramp_ns =
        std::min<std::uint64_t>(static_cast<std::uint64_t>(options_.warmup * 1e9) / 2,
                                200'000'000u) /
        endpoints_.size();
    while (true) {
        std::uint64_t now = now_ns();
        if (window.advance(now, counters_, result_) == MeasureWindow::Phase::done) break;
        measuring_ = window.measuring();
        while (started_ < endpoints_.size() && now >= start + started_ * ramp_ns)
            refill(endpoints_[started_++]);
        if (now >= next_tick) {
            scan(now);
            next_tick = now + tick_ns;
        }
        std::uint64_t wake = std::min(next_tick, window.next_edge_ns());
        if (started_ < endpoints_.size()) wake = std::min(wake, start + started_ * ramp_ns);
        for (std::uint32_t index : sockets_.wait(now_ns(), wake)) {
            drain(endpoints_[index]);
            refill(endpoints_[index]);
        }
    }
    finish(start);
    return result_;
}

void RawDriver::finish(std::uint64_t run_start) {
    std::uint64_t first = 0;
    for (const Endpoint& endpoint : endpoints_) {
        result_.in_flight_at_end += endpoint.slots.size() - endpoint.free_slots.size();
        if (!endpoint.exhausted) continue;
        ++result_.exhausted_endpoints;
        if (first == 0 || endpoint.exhausted_at_ns < first) first = endpoint.exhausted_at_ns;
    }
    if (first != 0) result_.first_exhaustion_s = static_cast<double>(first - run_start) / 1e9;
}

// Writes off requests older than the timeout and refills idle slots (failed sends included).
void RawDriver::scan(std::uint64_t now) {
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

void RawDriver::release(Endpoint& endpoint, std::size_t slot) {
    endpoint.slots[slot].state = SlotState::idle;
    endpoint.free_slots.push_back(static_cast<std::uint16_t>(slot));
}

// Sends a new request from every idle slot of an endpoint, in sendmmsg batches.
void RawDriver::refill(Endpoint& endpoint) {
    Bytes tail = Bytes(request_).subspan(prefix_length);
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
        std::array<std::uint8_t, prefix_length> prefix{};
        std::copy_n(request_.begin(), prefix_length, prefix.begin());
        prefix[2] = static_cast<std::uint8_t>(slot.message_id >> 8);
        prefix[3] = static_cast<std::uint8_t>(slot.message_id);
        prefix[4] = static_cast<std::uint8_t>(slot.token >> 24);
        prefix[5] = static_cast<std::uint8_t>(slot.token >> 16);
        prefix[6] = static_cast<std::uint8_t>(slot.token >> 8);
        prefix[7] = static_cast<std::uint8_t>(slot.token);
        batch_slots_[send_.size()] = slot_index;
        send_.add(prefix, tail);
        if (send_.full()) flush(endpoint);
    }
    if (!send_.empty()) flush(endpoint);
}

void RawDriver::flush(Endpoint& endpoint) {
    const std::uint64_t now = now_ns();
    std::size_t count = send_.size();
    for (std::size_t i = 0; i < count; ++i)
        endpoint.slots[batch_slots_[i]].sent_ns = now;
    SendBatch::Outcome outcome = send_.flush(endpoint.fd);
    if (outcome.error == ECONNREFUSED) ++counters_.refused;
    counters_.sent += outcome.sent;
    // Requests that did not leave go back to idle (their Message IDs stay used) and are
    // retried at the next scan, so a refusing or full socket does not make this loop spin.
    for (std::size_t i = outcome.sent; i < count; ++i) {
        ++counters_.send_errors;
        release(endpoint, batch_slots_[i]);
    }
}

void RawDriver::drain(Endpoint& endpoint) {
    while (true) {
        int received = receive_->receive(endpoint.fd);
        if (received == -ECONNREFUSED) {
            ++counters_.refused;
            continue;
        }
        if (received <= 0) return;  // EAGAIN: drained
        const std::uint64_t now = now_ns();
        for (std::size_t i = 0; i < static_cast<std::size_t>(received); ++i) {
            ++counters_.received;
            handle(endpoint, receive_->datagram(i), now);
        }
        if (static_cast<std::size_t>(received) < ReceiveBatch::capacity) return;
    }
}

RawDriver::Slot* RawDriver::find_by_token(Endpoint& endpoint, Bytes token) noexcept {
    if (token.size() != token_length) return nullptr;
    std::uint32_t value = (std::uint32_t{token[0]} << 24) | (std::uint32_t{token[1]} << 16) |
                          (std::uint32_t{token[2]} << 8) | std::uint32_t{token[3]};
    std::size_t index = value >> 16;
    if (index >= endpoint.slots.size()) return nullptr;
    Slot& slot = endpoint.slots[index];
    if (slot.state == SlotState::idle || slot.token != value) return nullptr;
    return &slot;
}

RawDriver::Slot* RawDriver::find_by_message_id(Endpoint& endpoint,
                                               std::uint16_t message_id) noexcept {
    for (Slot& slot : endpoint.slots)
        if (slot.state == SlotState::in_flight && slot.message_id == message_id) return &slot;
    return nullptr;
}

void RawDriver::complete(Endpoint& endpoint, Slot& slot, Code code, std::uint64_t now) {
    ++counters_.completed;
    if (code_class(code) != 2) {
        ++counters_.non_success;
        if (!result_.first_non_success) result_.first_non_success = code;
    }
    if (measuring_) result_.latency.record(now - slot.sent_ns);
    release(endpoint, static_cast<std::size_t>(&slot - endpoint.slots.data()));
}

void RawDriver::send_empty_ack(Endpoint& endpoint, std::uint16_t message_id) {
    std::uint8_t ack[4] = {0x60, 0x00, static_cast<std::uint8_t>(message_id >> 8),
                           static_cast<std::uint8_t>(message_id)};
    if (send(endpoint.fd, ack, sizeof ack, 0) < 0) ++counters_.send_errors;
}

void RawDriver::handle(Endpoint& endpoint, Bytes datagram, std::uint64_t now) {
    auto parsed = parse(datagram);
    if (!parsed) {
        ++counters_.malformed;
        return;
    }
    const MessageView& message = *parsed;
    const MessageType type = message.type();
    if (type == MessageType::rst) {
        Slot* slot = find_by_message_id(endpoint, message.message_id());
        if (slot == nullptr) {
            ++counters_.unexpected;
            return;
        }
        ++counters_.rst;  // the request failed: free its slot without a latency sample
        release(endpoint, static_cast<std::size_t>(slot - endpoint.slots.data()));
        return;
    }
    if (type == MessageType::ack) {
        handle_ack(endpoint, message, now);
        return;
    }
    if (message.is_empty_message() || !message.is_response()) {
        ++counters_.unexpected;
        return;
    }
    // A NON response, or a separate CON response: the token says which request it answers.
    if (type == MessageType::con) send_empty_ack(endpoint, message.message_id());
    Slot* slot = find_by_token(endpoint, message.token());
    if (slot == nullptr) {
        ++counters_.unexpected;
        return;
    }
    complete(endpoint, *slot, message.code(), now);
}

void RawDriver::handle_ack(Endpoint& endpoint, const MessageView& message, std::uint64_t now) {
    Slot* slot = find_by_message_id(endpoint, message.message_id());
    if (message.is_empty_message()) {
        if (slot == nullptr) {
            ++counters_.unexpected;
            return;
        }
        ++counters_.empty_acks;
        slot->state = SlotState::acked;  // the separate response is matched by token
        return;
    }
    if (!message.is_response() || slot == nullptr) {
        ++counters_.unexpected;
        return;
    }
    // Piggybacked response: the Message ID says which request it answers.
    if (find_by_token(endpoint, message.token()) != slot) {
        ++counters_.mismatched;
        return;
    }
    complete(endpoint, *slot, message.code(), now);
}

}  // namespace coap::bench
