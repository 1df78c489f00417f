// Duplicate detection and the response cache of RFC 7252 §4.5 and §4.8.2, with memory fixed at
// init: a FIFO ring of entries, a ring of response bytes, and a chained hash index. Entries are
// matched on the exact peer endpoint and Message ID, never on a hash alone.
//
// Eviction only advances the ring: chains are not unlinked, so evicting touches no bucket (on a
// loaded server the index is far larger than the CPU caches, and each touch is a cache miss).
// A walk stops at the first link that no longer leads to a live, older entry. Should a lap tag
// wrap and let a walk stray into another bucket's chain, keys are still compared exactly and
// ages still only decrease, so it can cost time but never give a wrong answer.
#pragma once

#include <cstdint>
#include <optional>

#include "coap/bytes.hpp"
#include "coap/endpoint.hpp"
#include "coap/time.hpp"
#include "table_memory.hpp"

namespace coap::detail {

class ExchangeCache {
  public:
    /// What a previous message with the same endpoint and Message ID left behind.
    struct Hit {
        Bytes response;  ///< Empty when nothing was sent back (a NON request without reply).
    };

    struct Stats {
        std::uint64_t inserted = 0;
        std::uint64_t hits = 0;
        std::uint64_t expired = 0;
        /// Evicted before EXCHANGE_LIFETIME because the entry or byte pool was full.
        std::uint64_t evicted_early = 0;
    };

    /// `entries` exchanges and `byte_capacity` bytes of responses, remembered for `lifetime`.
    /// Precondition: entries >= 1, byte_capacity >= the largest response inserted.
    ExchangeCache(std::uint32_t entries, std::uint32_t byte_capacity, Duration lifetime);

    /// The cached exchange for (peer, message_id) if it is younger than the lifetime and was of
    /// the same kind (CON or not): a CON reusing a NON's Message ID is a new message, not a
    /// duplicate to be answered with the NON's reply.
    std::optional<Hit> find(const Endpoint& peer, std::uint16_t message_id, bool confirmable,
                            TimePoint now) noexcept;
    /// Remembers the response sent for (peer, message_id). Evicts the oldest entries when a pool
    /// is full. Returns false only when `response` is larger than the whole byte pool.
    bool insert(const Endpoint& peer, std::uint16_t message_id, bool confirmable, Bytes response,
                TimePoint now) noexcept;
    /// Drops entries older than the lifetime.
    void expire(TimePoint now) noexcept;

    std::uint32_t size() const noexcept { return count_; }
    std::uint32_t capacity() const noexcept { return capacity_; }
    const Stats& stats() const noexcept { return stats_; }
    /// Bytes of memory held, for documentation and the stats API.
    std::size_t memory_bytes() const noexcept;
    /// Fixed bytes per entry, not counting its response bytes.
    static constexpr std::size_t bytes_per_entry();

  private:
    static constexpr std::uint32_t none = 0xffffffff;

    struct Entry {
        Endpoint peer;
        TimePoint expires;
        std::uint32_t start;  // low 32 bits of the response's position in the byte stream
        std::uint32_t next;   // link to the bucket's previous head: an older entry, or stale
        std::uint16_t message_id;
        std::uint16_t length;
        bool confirmable;
    };

    std::uint32_t bucket_of(const Endpoint& peer, std::uint16_t message_id) const noexcept;
    /// Bytes written since `entry`'s response began (exact while below 2^32 > byte_capacity_).
    std::uint32_t age_in_bytes(const Entry& entry) const noexcept {
        return static_cast<std::uint32_t>(written_) - entry.start;
    }
    void evict_oldest() noexcept;
    // A link is a slot index with, in the bits above it, the lap of the ring in which that slot
    // was written: a link to a slot written again since is seen as stale without reading it.
    std::uint32_t link_to(std::uint32_t index, std::uint64_t lap) const noexcept {
        return index | (static_cast<std::uint32_t>(lap << index_bits_) & ~index_mask_);
    }
    bool is_current(std::uint32_t link) const noexcept {
        std::uint32_t index = link & index_mask_;
        return link == link_to(index, index < next_slot_ ? lap_ : lap_ - 1);
    }
    /// How many live entries are older than the one in `index`; count_ or more when it is dead.
    std::uint32_t age_index(std::uint32_t index) const noexcept {
        return index >= head_ ? index - head_ : index + capacity_ - head_;
    }

    // Memory is reserved at construction but becomes resident only as entries are used (see
    // TableMemory): entries are built in place on insert, and the zero pages of the bucket
    // array hold "empty" (heads are stored inverted).
    std::uint32_t bucket_head(std::uint32_t bucket) const noexcept { return ~buckets_[bucket]; }
    void set_bucket_head(std::uint32_t bucket, std::uint32_t index) noexcept {
        buckets_[bucket] = ~index;
    }

    TableMemory entry_memory_;
    TableMemory bucket_memory_;
    TableMemory byte_memory_;
    Entry* entries_;
    std::uint32_t* buckets_;
    std::uint8_t* bytes_;
    std::uint32_t capacity_;
    std::uint32_t bucket_mask_;
    std::uint32_t index_bits_;  // enough for capacity_ - 1, never all ones (that is `none`)
    std::uint32_t index_mask_;
    std::uint32_t byte_capacity_;
    Duration lifetime_;
    std::uint32_t head_ = 0;  // oldest entry
    std::uint32_t count_ = 0;
    std::uint32_t next_slot_ = 0;  // where the next entry goes: slots fill in ring order
    std::uint64_t lap_ = 0;        // how many times the ring has been filled round
    std::uint64_t written_ = 0;    // total bytes ever placed in the byte ring, wasted ones included
    Stats stats_{};
};

constexpr std::size_t ExchangeCache::bytes_per_entry() {
    return sizeof(Entry) + sizeof(std::uint32_t) * 2;  // entry + up to two bucket heads
}

}  // namespace coap::detail
