// Fixed-capacity hash index from a key to a slot number, for the session table, the handshake
// pool and the resumption cache: open addressing with linear probing and backward-shift
// deletion (no tombstones, so lookups stay short however long the table runs). Buckets hold the
// slot number and 32 bits of the key's hash; the caller's predicate compares the key itself.
// Sized once at construction (twice the entries, rounded up to a power of two); nothing
// allocates afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "coap/bytes.hpp"
#include "coap/endpoint.hpp"

namespace coap::dtls {

class SlotIndex {
  public:
    static constexpr std::uint32_t none = 0xffffffffu;

    /// Room for `max_entries` keys at a load factor of at most 1/2.
    explicit SlotIndex(std::size_t max_entries);

    /// The slot whose key hashes to `hash` and satisfies `matches(slot)`, or `none`.
    template <class Matches>
    std::uint32_t find(std::uint64_t hash, Matches&& matches) const noexcept {
        const auto tag = static_cast<std::uint32_t>(hash);
        for (std::size_t i = tag & mask_; buckets_[i].slot != none; i = (i + 1) & mask_) {
            if (buckets_[i].tag == tag && matches(buckets_[i].slot)) return buckets_[i].slot;
        }
        return none;
    }

    /// Adds `slot` under `hash`; the caller guarantees it is not present and that no more than
    /// max_entries are stored.
    void insert(std::uint64_t hash, std::uint32_t slot) noexcept;
    /// Removes `slot` (stored under `hash`); no-op if absent.
    void erase(std::uint64_t hash, std::uint32_t slot) noexcept;

    std::size_t bucket_count() const noexcept { return mask_ + 1; }
    static constexpr std::size_t bucket_size = 8;

  private:
    struct Bucket {
        std::uint32_t slot = none;
        std::uint32_t tag = 0;  // the low 32 bits of the hash; its low bits pick the home bucket
    };
    std::unique_ptr<Bucket[]> buckets_;
    std::size_t mask_ = 0;
};

/// A hash of an endpoint under a secret per-table seed, so that peers cannot choose addresses
/// and ports that collide in a table they cannot see (splitmix64 finaliser rounds).
std::uint64_t keyed_hash(const Endpoint& peer, std::uint64_t seed) noexcept;
/// The same over arbitrary bytes (session ids).
std::uint64_t keyed_hash(Bytes key, std::uint64_t seed) noexcept;
/// A random seed for keyed_hash (from OpenSSL's generator; a fixed value if that fails).
std::uint64_t random_hash_seed() noexcept;

/// Doubly linked lists threaded through a fixed array of slot links: each slot is on exactly
/// one list (free, in use by age, ...). O(1) push, remove and move-to-back.
class SlotLinks {
  public:
    struct List {
        std::uint32_t head = SlotIndex::none;
        std::uint32_t tail = SlotIndex::none;
        std::size_t size = 0;
    };

    explicit SlotLinks(std::size_t count);

    void push_back(List& list, std::uint32_t slot) noexcept;
    void remove(List& list, std::uint32_t slot) noexcept;
    void move_to_back(List& list, std::uint32_t slot) noexcept {
        remove(list, slot);
        push_back(list, slot);
    }
    /// The slot after `slot` on its list, or none.
    std::uint32_t next(std::uint32_t slot) const noexcept { return links_[slot].next; }

    static constexpr std::size_t link_size = 8;

  private:
    struct Link {
        std::uint32_t prev = SlotIndex::none;
        std::uint32_t next = SlotIndex::none;
    };
    std::unique_ptr<Link[]> links_;
};

}  // namespace coap::dtls
