// Separate responses: RFC 7252 §5.2.2, retransmitted per §4.2 with the §4.8 parameters.
#include "deferred_table.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace coap::detail {

// The state word packs the slot's generation (high 32 bits) and State (low 32 bits), so a
// handle from an earlier use of the slot can never win a compare-and-swap.
struct DeferredTable::Slot {
    std::atomic<std::uint64_t> word{0};
    Endpoint peer;
    std::array<std::uint8_t, max_token_length> token{};
    std::uint8_t token_length = 0;
    bool confirmable = false;
    std::uint16_t message_id = 0;  // of the separate response, once sent
    std::uint32_t length = 0;      // encoded response bytes in the slot's buffer
    std::uint32_t retransmissions = 0;
    Duration timeout{};
    TimePoint deadline{};
    std::uint8_t* buffer = nullptr;
};

namespace {

constexpr std::uint64_t pack(std::uint32_t generation, std::uint32_t state) {
    return (std::uint64_t{generation} << 32) | state;
}
constexpr std::uint32_t generation_of(std::uint64_t word) {
    return static_cast<std::uint32_t>(word >> 32);
}
constexpr std::uint32_t state_of(std::uint64_t word) {
    return static_cast<std::uint32_t>(word);
}

}  // namespace

DeferredTable::DeferredTable(std::uint32_t worker_index, std::uint32_t slots,
                             std::uint32_t buffer_size, TransmissionParameters parameters,
                             Duration answer_timeout, std::uint64_t random_seed)
    : slots_(new Slot[slots]),
      buffers_(new std::uint8_t[std::size_t{slots} * buffer_size]),
      worker_index_(worker_index),
      count_(slots),
      buffer_size_(buffer_size),
      parameters_(parameters),
      answer_timeout_(answer_timeout),
      random_state_(random_seed | 1) {
    for (std::uint32_t i = 0; i < slots; ++i)
        slots_[i].buffer = buffers_.get() + std::size_t{i} * buffer_size;
}

DeferredTable::~DeferredTable() = default;

std::uint32_t DeferredTable::in_use() const noexcept {
    return active_count_;
}

bool DeferredTable::transition(Slot& slot, std::uint32_t generation, State from,
                               State to) noexcept {
    std::uint64_t expected = pack(generation, from);
    return slot.word.compare_exchange_strong(expected, pack(generation, to),
                                             std::memory_order_acq_rel);
}

void DeferredTable::release(Slot& slot) noexcept {
    std::uint32_t generation = generation_of(slot.word.load(std::memory_order_relaxed));
    slot.word.store(pack(generation + 1, free_slot), std::memory_order_release);
    --active_count_;
}

std::optional<DeferredResponse> DeferredTable::open(const Endpoint& peer,
                                                    const MessageView& request,
                                                    TimePoint now) noexcept {
    if (request.token().size() > max_token_length) return std::nullopt;
    for (std::uint32_t i = 0; i < count_; ++i) {
        Slot& slot = slots_[i];
        std::uint64_t word = slot.word.load(std::memory_order_relaxed);
        if (state_of(word) != free_slot) continue;
        slot.peer = peer;
        slot.token_length = static_cast<std::uint8_t>(request.token().size());
        std::copy(request.token().begin(), request.token().end(), slot.token.begin());
        slot.confirmable = request.type() == MessageType::con;
        slot.deadline = now + answer_timeout_;  // reclaimed if never answered
        slot.word.store(pack(generation_of(word), waiting), std::memory_order_release);
        ++active_count_;
        ++stats_.opened;
        return DeferredResponse(worker_index_, i, generation_of(word));
    }
    ++stats_.refused;
    return std::nullopt;
}

bool DeferredTable::complete(DeferredResponse handle, const Response& response) noexcept {
    if (handle.worker() != worker_index_ || handle.slot() >= count_) return false;
    Slot& slot = slots_[handle.slot()];
    if (!transition(slot, handle.generation(), waiting, filling)) return false;

    // §5.2.2: a CON request's answer is a CON; a NON request's answer is a NON. The Message ID is
    // filled in by the worker when it sends.
    MessageType type = slot.confirmable ? MessageType::con : MessageType::non;
    Bytes token(slot.token.data(), slot.token_length);
    MutableBytes out(slot.buffer, buffer_size_);
    std::array<Option, Response::max_options> options;
    for (std::size_t i = 0; i < response.option_count(); ++i)
        options[i] = response.option_at(i);
    Message message{type,
                    response.code(),
                    0,
                    token,
                    std::span(options.data(), response.option_count()),
                    response.payload()};
    auto written =
        response.overflowed()
            ? Expected<std::size_t, EncodeError>(unexpected(EncodeError::buffer_too_small))
            : encode(message, out);
    if (!written) {
        Message fallback{type, Code::internal_server_error, 0, token, {}, {}};
        written = encode(fallback, out);
    }
    slot.length = static_cast<std::uint32_t>(written.value_or(0));
    slot.word.store(pack(handle.generation(), ready), std::memory_order_release);
    ready_count_.fetch_add(1, std::memory_order_release);
    return true;
}

Duration DeferredTable::initial_timeout() noexcept {
    // §4.2: ACK_TIMEOUT times a random factor between 1 and ACK_RANDOM_FACTOR (xorshift64).
    random_state_ ^= random_state_ << 13;
    random_state_ ^= random_state_ >> 7;
    random_state_ ^= random_state_ << 17;
    double unit = static_cast<double>(random_state_ >> 11) / static_cast<double>(1ull << 53);
    double factor = 1.0 + unit * (parameters_.ack_random_factor - 1.0);
    return std::chrono::duration_cast<Duration>(parameters_.ack_timeout * factor);
}

void DeferredTable::transmit(Slot& slot, TimePoint now, DatagramSink& out,
                             std::uint16_t& next_message_id) noexcept {
    slot.message_id = next_message_id++;
    slot.buffer[2] = static_cast<std::uint8_t>(slot.message_id >> 8);
    slot.buffer[3] = static_cast<std::uint8_t>(slot.message_id);
    out.send(slot.peer, Bytes(slot.buffer, slot.length));
    ++stats_.sent;
    std::uint32_t generation = generation_of(slot.word.load(std::memory_order_relaxed));
    if (!slot.confirmable) {
        release(slot);
        return;
    }
    slot.retransmissions = 0;
    slot.timeout = initial_timeout();
    slot.deadline = now + slot.timeout;
    slot.word.store(pack(generation, awaiting_ack), std::memory_order_relaxed);
}

void DeferredTable::check_timer(Slot& slot, TimePoint now, DatagramSink& out) noexcept {
    if (now < slot.deadline) return;
    std::uint64_t word = slot.word.load(std::memory_order_acquire);
    if (state_of(word) == waiting) {
        // The handler never answered: reclaim the slot, unless an answer is being written now.
        if (transition(slot, generation_of(word), waiting, filling)) {
            ++stats_.abandoned;
            release(slot);
        }
        return;
    }
    if (slot.retransmissions == parameters_.max_retransmit) {
        ++stats_.gave_up;  // §4.2: the peer is considered gone
        release(slot);
        return;
    }
    ++slot.retransmissions;
    ++stats_.retransmitted;
    slot.timeout *= 2;  // §4.2: exponential back-off
    slot.deadline = now + slot.timeout;
    out.send(slot.peer, Bytes(slot.buffer, slot.length));
}

void DeferredTable::poll(TimePoint now, DatagramSink& out,
                         std::uint16_t& next_message_id) noexcept {
    if (active_count_ == 0) return;
    bool any_ready = ready_count_.load(std::memory_order_acquire) != 0;
    for (std::uint32_t i = 0; i < count_; ++i) {
        Slot& slot = slots_[i];
        std::uint32_t state = state_of(slot.word.load(std::memory_order_acquire));
        if (state == ready && any_ready) {
            ready_count_.fetch_sub(1, std::memory_order_relaxed);
            transmit(slot, now, out, next_message_id);
        } else if (state == awaiting_ack || state == waiting) {
            check_timer(slot, now, out);
        }
    }
}

bool DeferredTable::on_ack_or_reset(const Endpoint& peer, std::uint16_t message_id,
                                    bool reset) noexcept {
    if (active_count_ == 0) return false;
    for (std::uint32_t i = 0; i < count_; ++i) {
        Slot& slot = slots_[i];
        if (state_of(slot.word.load(std::memory_order_relaxed)) != awaiting_ack) continue;
        if (slot.message_id != message_id || !(slot.peer == peer)) continue;
        ++(reset ? stats_.reset : stats_.acknowledged);
        release(slot);
        return true;
    }
    return false;
}

}  // namespace coap::detail
