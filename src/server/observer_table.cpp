// Observer records: registration and cancellation (RFC 7641 §3.6, §4.1), the (endpoint, token)
// index, and ACK/RST matching of notifications (§4.5).
#include "observer_table.hpp"

#include <algorithm>
#include <cstring>

namespace coap::detail {

namespace {

constexpr std::size_t message_ids = 65536;

std::uint32_t index_size_for(std::uint32_t observers) {
    std::uint32_t size = 1;
    while (size < 2 * std::uint64_t{observers})
        size <<= 1;
    return size;
}

// Bucket width (a power of two in ms) so that one turn of the wheel spans the longest
// retransmission timeout, ACK_TIMEOUT x ACK_RANDOM_FACTOR x 2^MAX_RETRANSMIT (RFC 7252 §4.2).
std::uint32_t wheel_shift_for(const TransmissionParameters& parameters, std::uint32_t buckets) {
    double longest_ms = std::chrono::duration<double, std::milli>(parameters.ack_timeout).count() *
                        parameters.ack_random_factor *
                        static_cast<double>(1ull << parameters.max_retransmit);
    std::uint32_t shift = 0;
    while (shift < 20 && static_cast<double>(std::uint64_t{buckets} << shift) <= longest_ms + 2)
        ++shift;
    return shift;
}

}  // namespace

ObserverTable::ObserverTable(const ObserverTableConfig& config, std::uint64_t random_seed)
    : config_(config), capacity_(std::max<std::uint32_t>(config.max_observers, 1)) {
    config_.resource_count = std::max<std::uint32_t>(config_.resource_count, 1);
    config_.con_interval = std::min<std::uint32_t>(config_.con_interval, 0xffff);
    config_.transmission.max_retransmit = std::min<std::uint32_t>(
        config_.transmission.max_retransmit, 24);  // 7-bit counter; 2^24 x ACK_TIMEOUT is ages
    config_.block_size = std::clamp<std::uint32_t>(config_.block_size, 16, 1024);
    server_szx_ = szx_for_size(config_.block_size);

    observers_.reset(new Observer[capacity_]);
    for (std::uint32_t i = 0; i < capacity_; ++i)
        observers_[i].resource_next = i + 1 < capacity_ ? i + 1 : none;
    free_head_ = 0;

    std::uint32_t index_size = index_size_for(capacity_);
    index_mask_ = index_size - 1;
    index_.reset(new std::uint32_t[index_size]);
    std::fill_n(index_.get(), index_size, none);

    std::size_t tail_bytes = NotificationTail::storage_for(config_.max_representation_bytes);
    resources_.reset(new Resource[config_.resource_count]);
    tail_storage_.reset(new std::uint8_t[tail_bytes * config_.resource_count]);
    for (std::uint32_t r = 0; r < config_.resource_count; ++r)
        resources_[r].tail =
            NotificationTail(MutableBytes(tail_storage_.get() + r * tail_bytes, tail_bytes));
    queue_.reset(new std::uint32_t[config_.resource_count]);

    copy_buffer_.reset(new std::uint8_t[config_.max_representation_bytes]);
    datagram_.reset(new std::uint8_t[config_.buffer_size]);
    mid_owner_.reset(new std::uint32_t[message_ids]);
    std::fill_n(mid_owner_.get(), message_ids, none);
    wheel_.reset(new std::uint32_t[wheel_buckets]);
    std::fill_n(wheel_.get(), wheel_buckets, none);
    wheel_shift_ = wheel_shift_for(config_.transmission, wheel_buckets);
    random_state_ = random_seed | 1;
}

ObserverTable::~ObserverTable() = default;

std::size_t ObserverTable::memory_bytes() const noexcept {
    return std::size_t{capacity_} * sizeof(Observer) +
           (std::size_t{index_mask_} + 1) * sizeof(std::uint32_t) +
           config_.resource_count *
               (sizeof(Resource) + sizeof(std::uint32_t) +
                NotificationTail::storage_for(config_.max_representation_bytes)) +
           config_.max_representation_bytes + config_.buffer_size +
           message_ids * sizeof(std::uint32_t) + wheel_buckets * sizeof(std::uint32_t);
}

std::uint32_t ObserverTable::observers(ResourceId resource) const noexcept {
    return to_int(resource) < config_.resource_count ? resources_[to_int(resource)].count : 0;
}

std::uint32_t ObserverTable::next_sequence() noexcept {
    sequence_ = (sequence_ + 1) & 0xffffff;  // RFC 7641 §4.4: the 24 low bits
    return sequence_;
}

// ---- the (endpoint, token) index: linear probing, backward-shift deletion ----

std::uint64_t ObserverTable::key_hash(const Endpoint& peer, Bytes token) const noexcept {
    std::uint64_t value = 0;
    if (!token.empty()) std::memcpy(&value, token.data(), token.size());
    value = (value ^ (token.size() * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
    return peer.hash() ^ value ^ (value >> 29);
}

std::uint32_t ObserverTable::find(const Endpoint& peer, Bytes token) const noexcept {
    for (std::uint32_t i = key_hash(peer, token) & index_mask_; index_[i] != none;
         i = (i + 1) & index_mask_) {
        const Observer& observer = observers_[index_[i]];
        if (observer.token_length == token.size() &&
            (token.empty() ||
             std::memcmp(observer.token.data(), token.data(), token.size()) == 0) &&
            observer.peer == peer)
            return index_[i];
    }
    return none;
}

void ObserverTable::index_insert(std::uint32_t id) noexcept {
    const Observer& observer = observers_[id];
    std::uint32_t i = key_hash(observer.peer, Bytes(observer.token.data(), observer.token_length));
    for (i &= index_mask_; index_[i] != none; i = (i + 1) & index_mask_) {
    }
    index_[i] = id;
}

void ObserverTable::index_erase(std::uint32_t id) noexcept {
    const Observer& observer = observers_[id];
    std::uint32_t hole =
        key_hash(observer.peer, Bytes(observer.token.data(), observer.token_length));
    for (hole &= index_mask_; index_[hole] != id; hole = (hole + 1) & index_mask_) {
    }
    // Move back every later entry of the run whose home slot is not between the hole and it.
    for (std::uint32_t next = (hole + 1) & index_mask_; index_[next] != none;
         next = (next + 1) & index_mask_) {
        const Observer& moved = observers_[index_[next]];
        std::uint32_t home =
            key_hash(moved.peer, Bytes(moved.token.data(), moved.token_length)) & index_mask_;
        if (((next - home) & index_mask_) >= ((next - hole) & index_mask_)) {
            index_[hole] = index_[next];
            hole = next;
        }
    }
    index_[hole] = none;
}

// ---- lists ----

void ObserverTable::link_resource(std::uint32_t id) noexcept {
    Observer& observer = observers_[id];
    Resource& resource = resources_[observer.resource];
    observer.resource_prev = resource.last;
    observer.resource_next = none;
    if (resource.last == none)
        resource.head = id;
    else
        observers_[resource.last].resource_next = id;
    resource.last = id;
    ++resource.count;
    if (resource.round_left != 0) ++resource.round_left;  // the lap must reach it too
}

void ObserverTable::unlink_resource(std::uint32_t id) noexcept {
    Observer& observer = observers_[id];
    Resource& resource = resources_[observer.resource];
    if (resource.cursor == id) resource.cursor = observer.resource_next;
    if (observer.resource_prev == none)
        resource.head = observer.resource_next;
    else
        observers_[observer.resource_prev].resource_next = observer.resource_next;
    if (observer.resource_next == none)
        resource.last = observer.resource_prev;
    else
        observers_[observer.resource_next].resource_prev = observer.resource_prev;
    observer.resource_prev = observer.resource_next = none;
    --resource.count;
}

void ObserverTable::enqueue(std::uint32_t resource) noexcept {
    Resource& entry = resources_[resource];
    if (entry.queued) return;
    queue_[(queue_head_ + queue_size_) % config_.resource_count] = resource;
    ++queue_size_;
    entry.queued = true;
}

// An observer that missed versions while its CON was outstanding joins the round again at its
// end (RFC 7641 §4.5: it must eventually see the latest state).
void ObserverTable::requeue(std::uint32_t id) noexcept {
    unlink_resource(id);
    link_resource(id);
    Resource& resource = resources_[observers_[id].resource];
    if (resource.round_left == 0) {
        resource.cursor = id;
        resource.round_left = 1;
    }
    enqueue(observers_[id].resource);
}

// After its final non-2.xx notification went out as a CON: no longer an observer (§4.2), but
// kept until that CON is acknowledged or times out.
void ObserverTable::close(std::uint32_t id) noexcept {
    unlink_resource(id);
    --live_;
    observers_[id].state = State::closing;
}

void ObserverTable::release(std::uint32_t id) noexcept {
    Observer& observer = observers_[id];
    if (observer.state == State::idle || observer.state == State::awaiting_ack) {
        unlink_resource(id);
        --live_;
    }
    if (observer.state == State::awaiting_ack || observer.state == State::closing) timer_unlink(id);
    index_erase(id);
    if (observer.has_message_id && mid_owner_[observer.message_id] == id)
        mid_owner_[observer.message_id] = none;
    observer.state = State::free;
    observer.has_message_id = 0;
    observer.resource_next = free_head_;
    free_head_ = id;
}

// ---- registration ----

Registration ObserverTable::add(ResourceId resource, const Endpoint& peer, Bytes token,
                                std::optional<BlockValue> block2,
                                [[maybe_unused]] TimePoint now) noexcept {
    if (to_int(resource) >= config_.resource_count || token.size() > max_token_length) {
        ++stats_.refused;
        return Registration::full;
    }
    std::uint8_t szx = block2 ? std::min<std::uint8_t>(block2->szx, 6) : no_szx;
    std::uint32_t id = find(peer, token);
    bool existing = id != none;
    if (existing) {
        // §4.1: the same endpoint and token is the same observation; replace it.
        Observer& observer = observers_[id];
        if (observer.state == State::awaiting_ack || observer.state == State::closing)
            timer_unlink(id);
        if (observer.state != State::closing) {
            unlink_resource(id);
            --live_;
        }
    } else {
        if (free_head_ == none) {
            ++stats_.refused;
            return Registration::full;
        }
        id = free_head_;
        free_head_ = observers_[id].resource_next;
        Observer& observer = observers_[id];
        observer = Observer{};
        observer.peer = peer;
        std::copy(token.begin(), token.end(), observer.token.begin());
        observer.token_length = static_cast<std::uint8_t>(token.size()) & 0xf;
        index_insert(id);
    }
    Observer& observer = observers_[id];
    observer.resource = to_int(resource);
    observer.szx = szx & 0xf;
    observer.state = State::idle;
    observer.retransmissions = 0;
    // The registration response carries the current state: notify from the next version on.
    observer.edition = resources_[observer.resource].edition;
    link_resource(id);
    ++live_;
    ++(existing ? stats_.refreshed : stats_.added);
    return existing ? Registration::refreshed : Registration::added;
}

bool ObserverTable::remove(const Endpoint& peer, Bytes token) noexcept {
    if (token.size() > max_token_length) return false;
    std::uint32_t id = find(peer, token);
    if (id == none) return false;
    ++stats_.removed_by_request;
    release(id);
    return true;
}

void ObserverTable::remove_all(ResourceId resource) noexcept {
    if (to_int(resource) >= config_.resource_count) return;
    Resource& entry = resources_[to_int(resource)];
    while (entry.head != none) {
        ++stats_.removed_with_resource;
        release(entry.head);
    }
}

// ---- ACK and RST of notifications ----

std::uint32_t ObserverTable::match_message(const Endpoint& peer,
                                           std::uint16_t message_id) const noexcept {
    std::uint32_t id = mid_owner_[message_id];
    if (id == none) return none;
    const Observer& observer = observers_[id];
    // Verified, since Message IDs are reused and records are recycled.
    if (observer.state == State::free || !observer.has_message_id ||
        observer.message_id != message_id || !(observer.peer == peer))
        return none;
    return id;
}

bool ObserverTable::on_ack(const Endpoint& peer, std::uint16_t message_id) noexcept {
    std::uint32_t id = match_message(peer, message_id);
    if (id == none) return false;
    Observer& observer = observers_[id];
    if (observer.state == State::closing) {
        release(id);
    } else if (observer.state == State::awaiting_ack) {
        timer_unlink(id);
        observer.state = State::idle;
        observer.retransmissions = 0;
        if (observer.edition != resources_[observer.resource].edition) requeue(id);
    }
    return true;
}

bool ObserverTable::on_reset(const Endpoint& peer, std::uint16_t message_id) noexcept {
    std::uint32_t id = match_message(peer, message_id);
    if (id == none) return false;
    // §3.6, §4.5: the client forgot the observation (its final error notification, if closing).
    if (observers_[id].state != State::closing) ++stats_.removed_by_reset;
    release(id);
    return true;
}

}  // namespace coap::detail
