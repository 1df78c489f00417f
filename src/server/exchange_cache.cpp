// RFC 7252 §4.5 (deduplication) and §4.8.2 (EXCHANGE_LIFETIME) with fixed memory.
#include "exchange_cache.hpp"

#include <bit>
#include <cstring>

namespace coap::detail {

ExchangeCache::ExchangeCache(std::uint32_t entries, std::uint32_t byte_capacity, Duration lifetime)
    : entry_memory_(sizeof(Entry) * std::size_t{entries}),
      bucket_memory_(sizeof(std::uint32_t) * std::size_t{std::bit_ceil(entries)}),
      byte_memory_(byte_capacity),
      entries_(static_cast<Entry*>(entry_memory_.data())),
      buckets_(static_cast<std::uint32_t*>(bucket_memory_.data())),
      bytes_(static_cast<std::uint8_t*>(byte_memory_.data())),
      capacity_(entries),
      bucket_mask_(std::bit_ceil(entries) - 1),
      index_bits_(static_cast<std::uint32_t>(std::bit_width(entries))),
      index_mask_(index_bits_ >= 32 ? none : (1u << index_bits_) - 1),
      byte_capacity_(byte_capacity),
      lifetime_(lifetime) {}

std::size_t ExchangeCache::memory_bytes() const noexcept {
    return sizeof(Entry) * capacity_ + sizeof(std::uint32_t) * (bucket_mask_ + 1) + byte_capacity_;
}

std::uint32_t ExchangeCache::bucket_of(const Endpoint& peer,
                                       std::uint16_t message_id) const noexcept {
    std::uint64_t h = peer.hash() ^ (std::uint64_t{message_id} * 0x9e3779b97f4a7c15ull);
    return static_cast<std::uint32_t>(h ^ (h >> 32)) & bucket_mask_;
}

std::optional<ExchangeCache::Hit> ExchangeCache::find(const Endpoint& peer,
                                                      std::uint16_t message_id, bool confirmable,
                                                      TimePoint now) noexcept {
    std::uint32_t bucket = bucket_of(peer, message_id);
    // A chain runs from newer to older entries. A link is stale when its entry was evicted;
    // the slot then holds nothing, or a newer entry (perhaps of another bucket), and every
    // entry further down the chain is older still, so evicted too.
    std::uint32_t newer = count_;
    for (std::uint32_t link = bucket_head(bucket); link != none && is_current(link);) {
        std::uint32_t i = link & index_mask_;
        std::uint32_t age = age_index(i);
        if (age >= newer) break;
        const Entry& entry = entries_[i];
        if (entry.message_id == message_id && entry.peer == peer) {
            if (entry.confirmable != confirmable || entry.expires <= now) return std::nullopt;
            ++stats_.hits;
            const std::uint8_t* data = bytes_ + (written_ - age_in_bytes(entry)) % byte_capacity_;
            return Hit{Bytes{data, entry.length}};
        }
        newer = age;
        link = entry.next;
    }
    return std::nullopt;
}

void ExchangeCache::evict_oldest() noexcept {
    head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
    --count_;
}

void ExchangeCache::expire(TimePoint now) noexcept {
    while (count_ > 0 && entries_[head_].expires <= now) {
        evict_oldest();
        ++stats_.expired;
    }
}

bool ExchangeCache::insert(const Endpoint& peer, std::uint16_t message_id, bool confirmable,
                           Bytes response, TimePoint now) noexcept {
    if (response.size() > byte_capacity_ || response.size() > 0xffff) return false;
    expire(now);
    if (count_ == capacity_) {
        evict_oldest();
        ++stats_.evicted_early;
    }
    // Responses are stored contiguously: skip the ring's tail end when the response would wrap.
    auto length = static_cast<std::uint32_t>(response.size());
    std::uint32_t position = static_cast<std::uint32_t>(written_ % byte_capacity_);
    std::uint32_t waste = position + length > byte_capacity_ ? byte_capacity_ - position : 0;
    while (count_ > 0 && byte_capacity_ - age_in_bytes(entries_[head_]) < waste + length) {
        evict_oldest();
        ++stats_.evicted_early;
    }
    written_ += waste;

    std::uint32_t index = next_slot_;  // == head_ + count_, around the ring
    std::uint32_t bucket = bucket_of(peer, message_id);
    ::new (static_cast<void*>(&entries_[index])) Entry{peer,
                                                       now + lifetime_,
                                                       static_cast<std::uint32_t>(written_),
                                                       bucket_head(bucket),
                                                       message_id,
                                                       static_cast<std::uint16_t>(length),
                                                       confirmable};
    set_bucket_head(bucket, link_to(index, lap_));
    if (++next_slot_ == capacity_) {
        next_slot_ = 0;
        ++lap_;
    }
    if (length != 0) std::memcpy(bytes_ + written_ % byte_capacity_, response.data(), length);
    written_ += length;
    ++count_;
    ++stats_.inserted;
    return true;
}

}  // namespace coap::detail
